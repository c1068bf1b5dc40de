"""Top-level command dispatch (the command tree is filled in by the command-group modules)."""

from __future__ import annotations

import platform
import sys

from swarmlet import __version__


def version_line() -> str:
    return f"swarmlet {__version__} (Python {platform.python_version()}, {sys.executable})"


def main(argv: list[str]) -> int:
    if argv in (["--version"], ["-v"]):
        print(version_line())
        return 0
    print("Usage:  swarmlet [OPTIONS] COMMAND", file=sys.stderr)
    return 1
