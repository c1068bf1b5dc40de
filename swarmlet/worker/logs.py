"""The worker's end of `service logs`: a task container's log, read from this node's engine and
sent to the manager that asked, over a wire stream (`logs.task`, managers only).

The log is read with the engine's HTTP API on a trio socket (h11 for the protocol), not with
the docker SDK: the SDK's log stream blocks a thread until the next line and merges stdout and
stderr, while a trio socket is closed at once when the manager goes away (the user's ^C), and
the stdcopy frames keep each line's stream. Each read from the engine goes out as one chunk, a
list of `[stream, timestamp, text]`; stream credits stop the reading while the manager is
behind, so a slow reader never makes this node buffer a log.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse

import h11
import trio

from swarmlet.api.logstream import STDERR, Demuxer, split_engine_line
from swarmlet.wire.mux import RemoteError
from swarmlet.wire.schema import Field, Schema

log = logging.getLogger(__name__)

ROUTE = "logs.task"
REQUEST = Schema(
    task=Field(str, min_len=1, max_len=64),
    follow=Field(bool),
    tail=Field(str, max_len=20),
    since=Field(str, max_len=30),
    stdout=Field(bool),
    stderr=Field(bool),
)
CHUNK_BYTES = 64 * 1024  # text per chunk, well under the wire's message size
READ_BYTES = 64 * 1024
ENGINE_API = "v1.41"


class EngineError(Exception):
    """The engine refused or broke the log request."""


def engine_address(docker_host: str | None) -> tuple[str, object]:
    """("unix", path) or ("tcp", (host, port)) from DOCKER_HOST, as the docker SDK reads it."""
    host = docker_host or "unix:///var/run/docker.sock"
    if host.startswith("unix://"):
        return "unix", host[len("unix://") :]
    if host.startswith("tcp://") and not os.environ.get("DOCKER_TLS_VERIFY"):
        name, _, port = host[len("tcp://") :].rstrip("/").rpartition(":")
        return "tcp", (name, int(port or 2375))
    raise EngineError(f"reading logs needs a unix or plain tcp DOCKER_HOST, not {host!r}")


def logs_target(container_id: str, body: dict) -> str:
    """The engine's logs request for a task (always with timestamps: each line keeps its own)."""
    params = {
        "stdout": int(body["stdout"]),
        "stderr": int(body["stderr"]),
        "follow": int(body["follow"]),
        "timestamps": 1,
        "tail": body["tail"] or "all",
    }
    if body["since"]:
        params["since"] = body["since"]
    query = urllib.parse.urlencode(params)
    return f"/{ENGINE_API}/containers/{urllib.parse.quote(container_id)}/logs?{query}"


def batches(frames: list[tuple[int, bytes]], limit: int = CHUNK_BYTES) -> list[list[list]]:
    """Engine frames as wire chunks of `[stream, timestamp, text]` entries, each chunk's text
    under `limit` bytes (a longer line goes alone)."""
    out: list[list[list]] = []
    current: list[list] = []
    size = 0
    for stream, payload in frames:
        stamp, text = split_engine_line(payload)
        if current and size + len(text) > limit:
            out.append(current)
            current, size = [], 0
        current.append([stream, stamp, text])
        size += len(text)
    if current:
        out.append(current)
    return out


class _Lines:
    """A TTY container's log is not framed: cut it into lines, as the engine wrote them."""

    def __init__(self) -> None:
        self._rest = b""

    def split(self, frames: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        data = self._rest + b"".join(p for _, p in frames)
        *whole, self._rest = data.split(b"\n")
        return [(1, line + b"\n") for line in whole]

    def end(self) -> list[tuple[int, bytes]]:
        rest, self._rest = self._rest, b""
        return [(1, rest)] if rest else []


async def _connect(address: tuple[str, object]) -> trio.abc.Stream:
    kind, where = address
    if kind == "unix":
        return await trio.open_unix_socket(where)
    host, port = where
    return await trio.open_tcp_stream(host, port)


async def engine_logs(address: tuple[str, object], container_id: str, body: dict, send) -> int:
    """Read the container's log from the engine and `await send(chunk)` each chunk; returns
    the number of lines sent. Ends with the log (at once, or when a followed container
    stops); cancelling it closes the engine connection."""
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=logs_target(container_id, body),
        headers=[("Host", "docker"), ("User-Agent", "swarmlet")],
    )
    sent = 0
    demux = Demuxer()
    lines: _Lines | None = None
    frames: list[tuple[int, bytes]] = []  # what one read from the engine brought

    async def flush() -> None:
        nonlocal sent, frames
        for chunk in batches(frames):
            await send(chunk)
            sent += len(chunk)
        frames = []

    async with await _connect(address) as stream:
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        error = bytearray()
        status = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                await flush()  # the engine writes a line per HTTP chunk: batch a whole read
                conn.receive_data(await stream.receive_some(READ_BYTES))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                if status >= 400:
                    error += event.data[:4000]
                    continue
                got = demux.feed(event.data)
                if demux.framed is False:  # a TTY's raw output
                    lines = lines or _Lines()
                    got = lines.split(got)
                frames += got
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if status >= 400:
            raise EngineError(_engine_message(bytes(error)) or f"engine answered {status}")
        if lines is not None:
            frames += lines.end()
        rest = demux.rest()
        if rest and demux.framed is None:  # under 8 bytes in all: a raw line
            frames.append((1, rest))
        await flush()
    return sent


def _engine_message(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("message", ""))
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace").strip()


async def serve_task_logs(executor, body: dict, out) -> None:
    """The `logs.task` stream handler: the log of one task's container on this node."""
    if executor is None:
        raise RemoteError("unavailable", "the worker of this node is not running")
    task_id = body["task"]
    try:
        container_id = await executor.find_task_container(task_id)
    except Exception as exc:
        raise RemoteError("engine", f"cannot list this node's containers: {exc}") from None
    if container_id is None:
        return  # the task left no container here (never started, or removed): no lines
    try:
        address = engine_address(os.environ.get("DOCKER_HOST"))
        sent = await engine_logs(address, container_id, body, out.send)
    except trio.Cancelled:
        log.info("stopped reading the logs of task %s: the reader went away", task_id)
        raise
    except (OSError, EngineError, h11.ProtocolError) as exc:
        raise RemoteError("engine", f"reading the container's log failed: {exc}") from None
    log.debug("sent %d log lines of task %s", sent, task_id)


def chunk_entries(chunk: object) -> list[tuple[int, str, bytes]]:
    """A chunk from a worker, checked: ValueError unless it is a list of
    `[1 or 2, timestamp text, bytes]`."""
    if not isinstance(chunk, list):
        raise ValueError("a log chunk must be a list")
    out = []
    for entry in chunk:
        if (
            not isinstance(entry, list)
            or len(entry) != 3
            or entry[0] not in (1, STDERR)
            or entry[0].__class__ is not int
            or not isinstance(entry[1], str)
            or len(entry[1]) > 64
            or not isinstance(entry[2], bytes)
        ):
            raise ValueError("a log entry must be [stream, timestamp, bytes]")
        out.append((entry[0], entry[1], entry[2]))
    return out
