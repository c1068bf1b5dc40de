"""Docker's log stream, as `GET /services/{id}/logs` sends it and `service logs` reads it.

Standard library only: the daemon, the worker and the command line all use it.

- stdcopy framing: each write is an 8-byte header (stream 1 = stdout, 2 = stderr, three zero
  bytes, the payload size big-endian) and the payload; `frame` makes one, `Demuxer` undoes a
  byte stream of them in whatever pieces it arrives.
- a log line: `[TIMESTAMP ][DETAILS ]TEXT`, where DETAILS is `k=v,k=v` with url-escaped keys
  and values, sorted by key; for swarm logs the details carry the line's node, service and
  task IDs, which is how the command line knows where a line comes from (Docker's way).
- the query parameters of the logs endpoints, checked as Docker's daemon checks them.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

STDOUT = 1
STDERR = 2
HEADER = 8
# The swarm context every line carries in its details (Docker's keys).
NODE_KEY = "com.docker.swarm.node.id"
SERVICE_KEY = "com.docker.swarm.service.id"
TASK_KEY = "com.docker.swarm.task.id"
CONTEXT_KEYS = (NODE_KEY, SERVICE_KEY, TASK_KEY)
# Docker's media types: multiplexed is only announced from API 1.42; the framing is the same.
RAW_STREAM = "application/vnd.docker.raw-stream"


class LogOptionError(ValueError):
    """A logs query parameter Docker's daemon refuses; the message is its text."""


# -- stdcopy --------------------------------------------------------------------------------
def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class Demuxer:
    """Incremental stdcopy decoder: `feed` bytes as they come, get whole (stream, payload)s.

    A stream that does not start with a stdcopy header (a TTY service's raw output) is passed
    through as stdout, as Docker's client does for a raw stream.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.framed: bool | None = None  # unknown until the first 8 bytes

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        if self.framed is None:
            if len(self._buf) < HEADER:
                return []
            self.framed = self._buf[0] in (0, 1, 2) and self._buf[1:4] == b"\0\0\0"
        if not self.framed:
            out, self._buf = bytes(self._buf), bytearray()
            return [(STDOUT, out)] if out else []
        frames = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= HEADER:
            size = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if len(buf) - pos - HEADER < size:
                break
            stream = STDERR if buf[pos] == STDERR else STDOUT
            frames.append((stream, bytes(buf[pos + HEADER : pos + HEADER + size])))
            pos += HEADER + size
        del buf[:pos]
        return frames

    def rest(self) -> bytes:
        """What is left undecoded at the end of the stream (a truncated frame)."""
        return bytes(self._buf)


# -- log lines ------------------------------------------------------------------------------
def encode_details(attrs: dict[str, str]) -> str:
    """Docker's `k=v,k=v` (sorted by key, keys and values query-escaped)."""
    return ",".join(
        f"{urllib.parse.quote_plus(k, safe='')}={urllib.parse.quote_plus(v, safe='')}"
        for k, v in sorted(attrs.items())
    )


def decode_details(text: str) -> dict[str, str]:
    """The inverse of `encode_details`; ValueError when a pair has no `=`."""
    out = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"invalid details format: {text!r}")
        out[urllib.parse.unquote_plus(key)] = urllib.parse.unquote_plus(value)
    return out


def line_writer(attrs: dict[str, str], *, timestamps: bool, details: bool):
    """`write(text, timestamp) -> bytes` for the lines of one source (its details encoded
    once): `[TIMESTAMP ][DETAILS ]TEXT`, as Docker's daemon writes a line."""
    encoded = encode_details(attrs).encode() + b" " if details else b""
    if timestamps:
        return lambda text, timestamp: timestamp.encode() + b" " + encoded + text
    return lambda text, timestamp: encoded + text


def log_line(
    text: bytes,
    timestamp: str,
    attrs: dict[str, str],
    *,
    timestamps: bool,
    details: bool,
) -> bytes:
    """One line as Docker's daemon writes it: `[TIMESTAMP ][DETAILS ]TEXT`."""
    return line_writer(attrs, timestamps=timestamps, details=details)(text, timestamp)


@dataclass(frozen=True)
class ParsedLine:
    timestamp: str  # "" without --timestamps
    details: dict[str, str]  # empty when the caller already knew `raw_details`
    text: bytes
    raw_details: bytes


def parse_line(payload: bytes, *, timestamps: bool, known=()) -> ParsedLine:
    """Split what `log_line(..., details=True)` wrote; ValueError when it has no details
    (a line the daemon wrote itself, such as an error report). Details found in `known`
    (already checked) are not decoded again: a stream repeats a few of them many times."""
    parts = payload.split(b" ", 2 if timestamps else 1)
    if len(parts) != (3 if timestamps else 2):
        raise ValueError("a log line without details")
    stamp = parts[0].decode("ascii", "replace") if timestamps else ""
    raw = parts[-2]
    details = {}
    if raw not in known:
        details = decode_details(raw.decode("utf-8", "replace"))
        for key in CONTEXT_KEYS:
            if key not in details:
                raise ValueError(f"missing {key} in the line's details")
    return ParsedLine(stamp, details, parts[-1], raw)


def split_engine_line(payload: bytes) -> tuple[str, bytes]:
    """An engine line read with `timestamps=1`: (RFC3339Nano timestamp, text)."""
    stamp, sep, text = payload.partition(b" ")
    if not sep:
        return "", payload
    return stamp.decode("ascii", "replace"), text


# -- query ----------------------------------------------------------------------------------
_SINCE = re.compile(r"^\d{1,12}(\.\d{1,9})?$")


@dataclass(frozen=True)
class LogOptions:
    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    timestamps: bool = False
    details: bool = False
    tail: str = "all"  # "all" or a count of lines per task
    since: str = ""  # "" or UNIX seconds with up to 9 decimals, as the engine takes it


def check_tail(value: str | None) -> str:
    """Docker's swarm logs rule: "all" (or nothing) or a non-negative integer."""
    if value in (None, "", "all"):
        return "all"
    try:
        n = int(value)
    except ValueError:
        raise LogOptionError('tail value must be a positive integer or "all"') from None
    if n < 0:
        raise LogOptionError("negative tail values not supported")
    return str(n)


def check_since(value: str | None) -> str:
    """A UNIX timestamp `SECONDS[.NANOS]` (the command line converts the other forms)."""
    if not value:
        return ""
    if not _SINCE.match(value):
        raise LogOptionError(f"could not parse since timestamp: {value!r} is not a UNIX time")
    return value


def log_options(
    stdout: bool,
    stderr: bool,
    follow: bool,
    timestamps: bool,
    details: bool,
    tail: str | None,
    since: str | None,
) -> LogOptions:
    if not (stdout or stderr):
        raise LogOptionError("Bad parameters: you must choose at least one stream")
    return LogOptions(
        stdout=stdout,
        stderr=stderr,
        follow=follow,
        timestamps=timestamps,
        details=details,
        tail=check_tail(tail),
        since=check_since(since),
    )
