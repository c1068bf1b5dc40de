"""Timing marks along the way from `service create` to running containers.

Off unless the daemon was started with SWARMLET_TRACE=1 in its environment: then each mark is
one DEBUG line of the daemon's log, under the logger `swarmlet.trace`:

    trace EVENT t=WALL key=value ...

WALL is the machine's epoch time in seconds (lab hosts share one clock, so a bench lines the
hosts' logs up: bench/cluster_bench.py). Off, a mark costs a test of `ENABLED`; callers that
would build a costly argument test it first.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("swarmlet.trace")
ENABLED = os.environ.get("SWARMLET_TRACE", "") not in ("", "0")
if ENABLED:
    log.setLevel(logging.DEBUG)  # whatever level the rest of swarmlet logs at


def mark(event: str, **fields: object) -> None:
    if ENABLED:
        log.debug("trace %s t=%.6f %s", event, time.time(), format_fields(fields))


def format_fields(fields: dict) -> str:
    """`key=value` pairs; lists become comma-separated values."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, list | tuple | set | frozenset):
            value = ",".join(map(str, value))
        parts.append(f"{key}={value}")
    return " ".join(parts)


def parse(line: str) -> tuple[str, float, dict[str, str]] | None:
    """(event, wall time, fields) of a log line holding a mark, else None."""
    head, sep, rest = line.partition(" trace ")
    if not sep or "swarmlet.trace" not in head:
        return None
    words = rest.split()
    if len(words) < 2 or not words[1].startswith("t="):
        return None
    try:
        wall = float(words[1][2:])
    except ValueError:
        return None
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return words[0], wall, fields
