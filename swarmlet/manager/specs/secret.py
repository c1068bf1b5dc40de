"""Secret and config specs: names, base64 data under 500 KiB, labels-only updates."""

from __future__ import annotations

import base64
import binascii
import copy
import re

from swarmlet.store.errors import InvalidArgument
from swarmlet.store.objects import ordered

from .common import fail, labels, need_map, opt_str

MAX_DATA_SIZE = 500 * 1024
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")


def validate_data_spec(spec, kind: str) -> dict:
    """A checked copy of a SecretSpec or ConfigSpec (``kind`` is "secret" or "config")."""
    if not isinstance(spec, dict):
        raise InvalidArgument(f"{kind} spec must be an object")
    spec = copy.deepcopy(spec)
    name = spec.get("Name")
    if not isinstance(name, str) or not name:
        fail("meta: name must be provided")
    if len(name) > 64 or not _NAME.match(name):
        fail(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
            "character must be [a-zA-Z0-9]"
        )
    spec["Labels"] = labels(spec.get("Labels"))
    data = spec.get("Data")
    if not isinstance(data, str):
        fail(f"{kind} data must be base64-encoded")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        fail(f"{kind} data must be base64-encoded")
    if not 0 < len(raw) < MAX_DATA_SIZE:
        fail(f"{kind} data must be larger than 0 and less than {MAX_DATA_SIZE} bytes")
    for key in ("Driver", "Templating"):
        if spec.get(key) is not None:
            driver = need_map(spec[key], key)
            opt_str(driver, "Name", key)
            labels(driver.get("Options"), f"{key}.Options")
    return ordered(spec, "SecretSpec")


def check_labels_only_update(current_spec: dict, new_spec) -> None:
    """Secrets and configs are immutable apart from their labels, as in swarmkit (Data may
    be left out, or repeated unchanged)."""
    new_spec = need_map(new_spec, "spec")
    if new_spec.get("Name") != current_spec.get("Name"):
        fail("only updates to Labels are allowed")
    for key, value in new_spec.items():
        if key not in ("Name", "Labels") and value is not None and value != current_spec.get(key):
            fail("only updates to Labels are allowed")
    labels(new_spec.get("Labels"))
