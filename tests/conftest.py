"""Shared test configuration: trio as the async backend for anyio's pytest plugin."""

import pytest


@pytest.fixture
def anyio_backend():
    return "trio"
