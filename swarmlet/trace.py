"""Timing marks along the way from `service create` to running containers.

Off unless the daemon was started with SWARMLET_TRACE=1 in its environment. Then a mark is
kept in memory (a tuple appended to a deque: no formatting, no I/O on the caller's thread),
and a background thread writes what piled up to the daemon's log every `FLUSH_SECONDS`, as
one DEBUG record of the logger `swarmlet.trace` whose lines after the first are

    trace EVENT t=WALL key=value ...

WALL is the machine's epoch time in seconds (lab hosts share one clock, so a bench lines the
hosts' logs up: bench/cluster_bench.py). Off, a mark costs a test of `ENABLED`; callers that
would build a costly argument test it first.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time

log = logging.getLogger("swarmlet.trace")
ENABLED = os.environ.get("SWARMLET_TRACE", "") not in ("", "0")
FLUSH_SECONDS = 0.5
if ENABLED:
    log.setLevel(logging.DEBUG)  # whatever level the rest of swarmlet logs at

_marks: collections.deque[tuple[str, float, dict]] = collections.deque()
_writer: threading.Thread | None = None


def mark(event: str, **fields: object) -> None:
    global _writer
    if not ENABLED:
        return
    _marks.append((event, time.time(), fields))
    if _writer is None:
        _writer = threading.Thread(target=_write_forever, name="trace-writer", daemon=True)
        _writer.start()


def _write_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush()


def flush() -> None:
    """Write the marks kept so far to the log (one record)."""
    taken = []
    while _marks:  # deque appends and pops are atomic: nothing is lost to a racing mark
        taken.append(_marks.popleft())
    if taken:
        log.debug("trace marks:\n%s", "\n".join(format_mark(*m) for m in taken))


def format_mark(event: str, wall: float, fields: dict) -> str:
    """`trace EVENT t=WALL key=value ...`; lists become comma-separated values."""
    parts = [f"trace {event} t={wall:.6f}"]
    for key, value in fields.items():
        if isinstance(value, list | tuple | set | frozenset):
            value = ",".join(map(str, value))
        parts.append(f"{key}={value}")
    return " ".join(parts)


def parse(line: str) -> tuple[str, float, dict[str, str]] | None:
    """(event, wall time, fields) of a log line holding a mark, else None."""
    words = line.split()
    if len(words) < 3 or words[0] != "trace" or not words[2].startswith("t="):
        return None
    try:
        wall = float(words[2][2:])
    except ValueError:
        return None
    fields = dict(w.split("=", 1) for w in words[3:] if "=" in w)
    return words[1], wall, fields
