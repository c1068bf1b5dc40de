"""`service logs SERVICE|TASK`: the daemon's log stream, written as Docker's CLI writes it.

The daemon sends each line with its details (node, service and task IDs, Docker's format);
this side turns them into the `svc.slot.taskid@hostname    | ` prefix, looking the names up
once per task, and writes stdout lines to stdout and stderr lines to stderr. A line the
daemon wrote itself (an "Error grabbing logs" report) is written as it came.
"""

from __future__ import annotations

import http.client
import re
import sys
import time
from datetime import datetime

from swarmlet.api.logstream import (
    CONTEXT_KEYS,
    NODE_KEY,
    SERVICE_KEY,
    STDERR,
    TASK_KEY,
    Demuxer,
    parse_line,
)
from swarmlet.cli.common import CLIError, client

TRUNC = 12
SEPARATOR = "    | "
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_UNIX = re.compile(r"^\d+(\.\d{1,9})?$")


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration (`42m`, `1h30m`, `1.5s`), or None when it is not one."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        return None
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def since_timestamp(value: str | None, now: float | None = None) -> str | None:
    """`--since` as the daemon takes it (UNIX seconds), from a duration before now, an
    RFC 3339 date (local time when it names no zone, as Docker reads it) or a UNIX time."""
    if not value:
        return None
    if _UNIX.match(value):
        return value
    now = time.time() if now is None else now
    seconds = go_duration(value)
    if seconds is not None and value != "0":
        return str(int(now - seconds))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CLIError(
            f'invalid value for "since": failed to parse value {value!r} as a timestamp '
            "or a duration (e.g. 2013-01-02T13:23:37Z or 42m)"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()
    stamp = when.timestamp()
    whole = int(stamp // 1)
    return f"{whole}.{round((stamp - whole) * 1e9):09d}"


def pad_width(count: int) -> int:
    """Digits of the largest slot, so that the prefixes of a service line up."""
    return len(str(max(count, 0)))


def task_label(service: str, slot: int, node_id: str, task_id: str, *, ids: bool, trunc: bool):
    """`svc.slot.taskid` (global tasks: the node ID for the slot), as Docker names tasks."""
    label = f"{service}.{slot if slot else node_id}"
    if ids:
        label += "." + (task_id[:TRUNC] if trunc else task_id)
    return label


def prefix(label: str, host: str, slot: int, width: int) -> str:
    return f"{label}@{host}{' ' * max(0, width - len(str(slot)))}{SEPARATOR}"


class LineFormatter:
    """Docker's `service logs` line: `[TIMESTAMP ]svc.slot.id@host    | [DETAILS ]TEXT`."""

    def __init__(self, lookup, *, timestamps, task_ids=True, trunc=True, details=False, width=1):
        self.lookup = lookup  # (kind, id) -> object dict, or None when it cannot be read
        self.timestamps = timestamps
        self.task_ids = task_ids
        self.trunc = trunc
        self.details = details
        self.width = width
        self._prefixes: dict[tuple[str, str, str], str] = {}
        self._lead: dict[bytes, bytes] = {}  # a line's details -> what replaces them

    def _prefix(self, node_id: str, service_id: str, task_id: str) -> str:
        key = (node_id, service_id, task_id)
        if key not in self._prefixes:
            node = self.lookup("nodes", node_id) or {}
            service = self.lookup("services", service_id) or {}
            task = self.lookup("tasks", task_id) or {}
            host = (node.get("Description") or {}).get("Hostname") or node_id
            name = (service.get("Spec") or {}).get("Name") or service_id
            slot = int(task.get("Slot") or 0)
            label = task_label(name, slot, node_id, task_id, ids=self.task_ids, trunc=self.trunc)
            self._prefixes[key] = prefix(label, host, slot, self.width)
        return self._prefixes[key]

    def format(self, payload: bytes) -> bytes:
        try:
            line = parse_line(payload, timestamps=self.timestamps, known=self._lead)
        except ValueError:
            return payload
        lead = self._lead.get(line.raw_details)
        if lead is None:
            d = line.details
            lead = self._prefix(d[NODE_KEY], d[SERVICE_KEY], d[TASK_KEY]).encode()
            if self.details:
                extra = sorted(f"{k}={v}" for k, v in d.items() if k not in CONTEXT_KEYS)
                lead += ",".join(extra).encode() + b" "
            self._lead[line.raw_details] = lead
        return (line.timestamp.encode() + b" " + lead if self.timestamps else lead) + line.text


def _lookup(api, no_resolve: bool):
    from swarmlet.api.client import APIError

    def lookup(kind: str, obj_id: str) -> dict | None:
        if no_resolve and kind != "tasks":
            return None  # IDs stand for names
        try:
            return api.get(f"/{kind}/{obj_id}")
        except APIError:
            return None

    return lookup


def cmd_logs(args) -> int:
    from swarmlet.api.client import APIError

    api = client(args)
    since = since_timestamp(args.since)
    try:
        service = api.get(f"/services/{args.service}", insertDefaults="false")
    except APIError as exc:
        if exc.status != 404:
            raise
        service = None
    if service is not None:
        path = f"/services/{service['ID']}/logs"
        template = (service.get("Spec") or {}).get("TaskTemplate") or {}
        tty = bool((template.get("ContainerSpec") or {}).get("TTY"))
        replicas = ((service["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        width = pad_width(replicas or 1)
    else:
        try:
            task = api.get(f"/tasks/{args.service}")
        except APIError as exc:
            if exc.status != 404:
                raise
            raise CLIError(f"no such task or service: {args.service}") from None
        path = f"/tasks/{task['ID']}/logs"
        tty = bool(((task.get("Spec") or {}).get("ContainerSpec") or {}).get("TTY"))
        width = pad_width(int(task.get("Slot") or 0))
    if tty and not args.raw:
        raise CLIError("tty service logs only supported with --raw")
    pretty = not args.raw
    query = {
        "stdout": "1",
        "stderr": "1",
        "follow": "1" if args.follow else None,
        "timestamps": "1" if args.timestamps else None,
        "details": "1" if (args.details or pretty) else None,
        "tail": args.tail,
        "since": since,
    }
    if args.follow:
        api.timeout = None  # a followed log may say nothing for a long time
    formatter = LineFormatter(
        _lookup(api, args.no_resolve),
        timestamps=args.timestamps,
        task_ids=not args.no_task_ids,
        trunc=not args.no_trunc,
        details=args.details,
        width=width,
    )
    demux = Demuxer()
    fmt = formatter.format if pretty and not tty else bytes
    try:
        for chunk in api.stream("GET", path, query):
            frames = demux.feed(chunk)
            for stream in (1, STDERR):  # each stream keeps its order; one write each per chunk
                data = b"".join(fmt(payload) for s, payload in frames if s == stream)
                if data:
                    out = sys.stderr if stream == STDERR else sys.stdout
                    out.buffer.write(data)
                    out.flush()
    except (http.client.HTTPException, ConnectionError) as exc:  # the daemon went away
        raise CLIError(f"error from daemon in stream: {exc!r}") from None
    rest = demux.rest()
    if rest and not demux.framed:  # a raw (TTY) log shorter than a frame header
        sys.stdout.buffer.write(rest)
        sys.stdout.flush()
    return 0
