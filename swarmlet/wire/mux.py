"""Several conversations over one `SecureSession`: one-way messages, requests, streams.

Handlers are registered by message type on a `Router`; each sees the authenticated peer
(`PeerInfo`) and a body already validated against the type's schema:

    router = Router()
    router.message("gossip.ping", PING, on_ping)             # async def on_ping(peer, body)
    router.request("raft.vote", VOTE, on_vote, roles={"manager"})   # returns the reply body
    router.stream("logs.follow", FOLLOW, on_follow)          # async def f(peer, body, out)

One-way messages are handled in arrival order, one at a time, by the session's reader: keep
those handlers short. Requests and streams run concurrently, at most `max_inflight` per
connection; beyond that the reader stops reading and TCP pushes back on the peer. Outgoing
envelopes wait in a queue of at most `queue_size` envelopes and `queue_bytes` encoded bytes (a
writer sends whatever has piled up as one sealed batch, so bursts cost one frame, not one per
message); `send` waits for room, `send_nowait` raises `Backpressure`. The byte bound keeps what a
stalled peer can pin in memory small, and keeps large payloads in the CPU cache on their way
out. Streams use credits, so a producer never runs ahead of its consumer.

A peer that breaks the envelope protocol loses its session. A request whose body fails its
schema is answered with the error code "invalid"; a one-way message that fails is dropped and
logged (a version skew should not cut a node off).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Container
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from swarmlet.wire import codec
from swarmlet.wire.schema import ANY, Field, Schema, SchemaError
from swarmlet.wire.session import PeerInfo, SecureSession, SessionClosed

log = logging.getLogger("swarmlet.wire")


class RemoteError(Exception):
    """An error the peer answered with (or that stands for one): a code and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RequestTimeout(RemoteError):
    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class Unavailable(RemoteError):
    """The session is gone (or could not be made); the request may not have been delivered."""

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


class Backpressure(Exception):
    """The outgoing queue to this peer is full."""


MessageHandler = Callable[[PeerInfo, dict], Awaitable[None]]
RequestHandler = Callable[[PeerInfo, dict], Awaitable[object]]
StreamHandler = Callable[[PeerInfo, dict, "StreamWriter"], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    kind: str  # "message" | "request" | "stream"
    schema: Schema
    handler: Callable
    roles: Container[str] | None


class Router:
    """Message type -> (kind, schema, handler, allowed roles)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def _add(self, kind, type_, schema, handler, roles):
        if type_ in self.routes:
            raise ValueError(f"a handler for {type_!r} is already registered")
        self.routes[type_] = Route(kind, schema, handler, roles)

    def message(self, type_: str, schema: Schema, handler: MessageHandler, roles=None) -> None:
        self._add("message", type_, schema, handler, roles)

    def request(self, type_: str, schema: Schema, handler: RequestHandler, roles=None) -> None:
        self._add("request", type_, schema, handler, roles)

    def stream(self, type_: str, schema: Schema, handler: StreamHandler, roles=None) -> None:
        self._add("stream", type_, schema, handler, roles)


_ID = Field(int, min=0, max=2**63)
_TYPE = Field(str, min_len=1, max_len=100)
ENVELOPES = {
    "m": Schema(k=Field(str), t=_TYPE, b=ANY),
    "q": Schema(k=Field(str), i=_ID, t=_TYPE, b=ANY),
    "r": Schema(k=Field(str), i=_ID, b=ANY),
    "e": Schema(k=Field(str), i=_ID, c=Field(str, max_len=100), m=Field(str, max_len=4000)),
    "s": Schema(k=Field(str), i=_ID, t=_TYPE, b=ANY, w=Field(int, min=1, max=1024)),
    "d": Schema(k=Field(str), i=_ID, b=ANY),
    "z": Schema(k=Field(str), i=_ID),
    "c": Schema(k=Field(str), i=_ID, n=Field(int, min=1, max=1024)),
    "x": Schema(k=Field(str), i=_ID),
}


class ProtocolViolation(Exception):
    pass


MAX_BATCH = 128
BATCH_BYTES = 32 * 1024
QUEUE_BYTES = 1 << 20  # encoded bytes waiting per connection (one oversize envelope may exceed it)


def _array_header(n: int) -> bytes:
    """CBOR array header for n items (n < 65536), to join already encoded envelopes."""
    if n < 24:
        return bytes([0x80 + n])
    if n < 256:
        return bytes([0x98, n])
    return bytes([0x99]) + n.to_bytes(2, "big")


class _Pending:
    __slots__ = ("event", "result", "error")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.result = None
        self.error: RemoteError | None = None


class StreamWriter:
    """The producing end of a stream, given to a stream handler."""

    def __init__(self, conn: Connection, stream_id: int, window: int) -> None:
        self._conn = conn
        self._id = stream_id
        self._credit = window
        self._credit_changed = trio.Event()

    def _grant(self, n: int) -> None:
        self._credit += n
        self._credit_changed.set()
        self._credit_changed = trio.Event()

    async def send(self, chunk: object) -> None:
        """Send one chunk; waits while the consumer has granted no credit."""
        while self._credit <= 0:
            await self._credit_changed.wait()
        self._credit -= 1
        await self._conn._enqueue({"k": "d", "i": self._id, "b": chunk})


class StreamReader:
    """The consuming end: an async iterator of chunks, ended by the producer's end or error."""

    def __init__(self, conn: Connection, stream_id: int, window: int) -> None:
        self._conn = conn
        self._id = stream_id
        self._window = window
        self._send, self._recv = trio.open_memory_channel(math.inf)
        self._buffered = 0
        self._consumed = 0
        self.done = False

    def _deliver(self, item) -> None:
        if item[0] == "d":
            self._buffered += 1
            if self._buffered > self._window:
                raise ProtocolViolation(f"stream {self._id} sent beyond its credit")
        self._send.send_nowait(item)

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        if self.done:
            raise StopAsyncIteration
        kind, value = await self._recv.receive()
        if kind == "d":
            self._buffered -= 1
            self._consumed += 1
            if self._consumed >= max(1, self._window // 2):
                n, self._consumed = self._consumed, 0
                self._credit_back(n)
            return value
        self.done = True
        self._conn._readers.pop(self._id, None)
        if kind == "e":
            raise value
        raise StopAsyncIteration

    def _credit_back(self, n: int) -> None:
        try:
            self._conn._enqueue_nowait({"k": "c", "i": self._id, "n": n})
        except Backpressure:
            self._conn._queue_credit({"k": "c", "i": self._id, "n": n})
        except (RemoteError, SessionClosed):
            pass  # the session is over; the end of the stream follows


class Connection:
    """One authenticated session, multiplexed. Run it with `run()` in a nursery."""

    def __init__(
        self,
        session: SecureSession,
        router: Router,
        *,
        queue_size: int = 256,
        queue_bytes: int = QUEUE_BYTES,
        max_inflight: int = 64,
        max_outstanding: int = 1024,
        stream_window: int = 16,
        keepalive: float | None = None,
        keepalive_timeout: float = 5.0,
    ) -> None:
        self.session = session
        self.keepalive = keepalive
        self.keepalive_timeout = keepalive_timeout
        self._last_heard = trio.current_time()  # when the peer last sent anything
        self.peer = session.peer
        self.router = router
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self._queued_bytes = 0
        self._queued_count = 0
        self._room = trio.Event()  # set (and replaced) when the writer has drained half the queue
        self._out_send, self._out_recv = trio.open_memory_channel(queue_size)
        self._credits: list[dict] = []  # credits that found the queue full; sent first
        self._inflight = trio.Semaphore(max_inflight)
        self._outstanding = trio.Semaphore(max_outstanding)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._readers: dict[int, StreamReader] = {}
        self._writers: dict[int, StreamWriter] = {}
        self._serving: dict[int, trio.CancelScope] = {}
        self.stream_window = stream_window
        self.closed = trio.Event()
        self.close_reason: str | None = None
        self._nursery: trio.Nursery | None = None
        self.max_inflight_seen = 0
        self._inflight_now = 0

    # ---- running -------------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._writer)
                if self.keepalive is not None:
                    nursery.start_soon(self._keepalive)
                task_status.started()
                try:
                    await self._reader()
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self._finish(self.session.closed_reason or "session ended")
            await self.session.aclose(self.close_reason or "closed")

    def _finish(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        for p in self._pending.values():
            if not p.event.is_set():
                p.error = Unavailable(f"session with {self.peer.node_id} ended: {reason}")
                p.event.set()
        for r in list(self._readers.values()):
            r._send.send_nowait(("e", Unavailable(f"session ended: {reason}")))
        self._readers.clear()
        self.closed.set()
        self._room.set()  # senders waiting for room see the end

    async def aclose(self, reason: str = "closed") -> None:
        self._finish(reason)
        await self.session.aclose(reason)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _keepalive(self) -> None:
        """Close a session whose peer stopped answering. A peer cut off by the network sends
        no FIN or RST, so without this the session would look alive until TCP gives up
        (many minutes), and requests and redials would keep going into it. A peer heard
        from within the interval is alive: only a quiet session is pinged, so the sessions
        that carry heartbeats or gossip anyway cost no extra wake-ups."""
        while True:
            await trio.sleep_until(self._last_heard + self.keepalive)
            if trio.current_time() - self._last_heard < self.keepalive:
                continue
            with trio.move_on_after(self.keepalive_timeout) as timer:
                try:
                    await self.session.ping()
                    self._last_heard = trio.current_time()  # its pong
                except SessionClosed:
                    return
                except Exception as exc:  # never the transport's end: this session's only
                    log.exception("keepalive of the session with %s failed", self.peer.node_id)
                    await self.aclose(f"keepalive failed: {exc!r}")
                    return
            if timer.cancelled_caught:
                reason = f"no answer from node {self.peer.node_id} for {self.keepalive_timeout:g} s"
                log.warning("closing session with %s: %s", self.session.describe(), reason)
                await self.aclose(reason)
                return

    async def _writer(self) -> None:
        """Send queued envelopes; whatever is already waiting goes out in one sealed batch."""
        carry: bytes | None = None
        limit = self.session.max_message - 16
        while True:
            items = [codec.encode(c) for c in self._credits]
            self._credits.clear()
            if carry is not None:
                items.append(carry)
                carry = None
            if not items:
                try:  # no schedule point when envelopes are waiting: the send below has one
                    first = self._out_recv.receive_nowait()
                except trio.WouldBlock:
                    first = await self._out_recv.receive()
                self._taken(first)
                items.append(first)
            size = sum(map(len, items))
            while len(items) < MAX_BATCH and size < BATCH_BYTES:
                try:
                    nxt = self._out_recv.receive_nowait()
                except trio.WouldBlock:
                    break
                self._taken(nxt)
                if size + len(nxt) > limit:
                    carry = nxt
                    break
                items.append(nxt)
                size += len(nxt)
            if (
                self._queued_bytes <= self.queue_bytes // 2
                and self._queued_count <= self.queue_size // 2
            ):  # wake waiting senders once per half queue, not once per frame
                self._room.set()
                self._room = trio.Event()
            frame = items[0] if len(items) == 1 else _array_header(len(items)) + b"".join(items)
            try:
                await self.session.send_encoded(frame)
            except SessionClosed:
                return

    async def _reader(self) -> None:
        while True:
            try:
                msg = await self.session.receive()
            except SessionClosed:
                return
            self._last_heard = trio.current_time()
            try:
                if type(msg) is list:  # a batch
                    if not 1 < len(msg) <= MAX_BATCH:
                        raise ProtocolViolation("bad batch length")
                    for item in msg:
                        await self._dispatch(item)
                else:
                    await self._dispatch(msg)
            except (ProtocolViolation, SchemaError) as exc:
                await self.session.abort(f"protocol violation: {exc}")
                return

    # ---- sending -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed.is_set():
            raise Unavailable(f"session with {self.peer.node_id} ended: {self.close_reason}")

    def _encode(self, envelope: dict) -> bytes:
        self._check_open()
        data = codec.encode(envelope)
        if len(data) > self.session.max_message:
            raise ValueError(f"message of {len(data)} bytes exceeds {self.session.max_message}")
        return data

    def _taken(self, data: bytes) -> None:
        self._queued_bytes -= len(data)
        self._queued_count -= 1

    def _try_put(self, data: bytes) -> bool:
        """Queue `data` if both bounds allow it (an empty queue takes anything)."""
        self._check_open()
        if self._queued_bytes and self._queued_bytes + len(data) > self.queue_bytes:
            return False
        try:
            self._out_send.send_nowait(data)
        except trio.WouldBlock:
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise Unavailable("session ended") from None
        self._queued_bytes += len(data)
        self._queued_count += 1
        return True

    async def _enqueue(self, envelope: dict) -> None:
        """Queue an envelope, waiting for room. Returns without yielding when there is room, so
        a producer fills the queue and the writer then drains it in batches (one task switch
        and one sealed frame for many envelopes, instead of one each)."""
        data = self._encode(envelope)
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._try_put(data):
            await self._room.wait()

    def _enqueue_nowait(self, envelope: dict) -> None:
        if not self._try_put(self._encode(envelope)):
            raise Backpressure(f"outgoing queue to {self.peer.node_id} is full")

    def _queue_credit(self, envelope: dict) -> None:
        if len(self._credits) < 1024:
            self._credits.append(envelope)

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return self._out_send.statistics().current_buffer_used

    async def send(self, type_: str, body: object) -> None:
        """A one-way message; waits while the outgoing queue is full."""
        await self._enqueue({"k": "m", "t": type_, "b": body})

    def send_nowait(self, type_: str, body: object) -> None:
        """A one-way message, or `Backpressure` at once if the queue is full (for gossip)."""
        self._enqueue_nowait({"k": "m", "t": type_, "b": body})

    async def request(self, type_: str, body: object, timeout: float = 10.0) -> object:
        """Send a request and wait for its reply body; RemoteError (or subclass) on failure."""
        rid, pending = None, None
        with trio.move_on_after(timeout) as scope:
            async with self._outstanding:
                rid = next(self._ids)
                pending = self._pending[rid] = _Pending()
                try:
                    await self._enqueue({"k": "q", "i": rid, "t": type_, "b": body})
                    await pending.event.wait()
                finally:
                    self._pending.pop(rid, None)
        if scope.cancelled_caught:
            if pending is not None and not pending.event.is_set():
                self._try_send({"k": "x", "i": rid})
            raise RequestTimeout(
                f"{type_} to node {self.peer.node_id}: no reply within {timeout} s"
            )
        if pending.error is not None:
            raise pending.error
        return pending.result

    @asynccontextmanager
    async def stream(self, type_: str, body: object) -> AsyncIterator[StreamReader]:
        """Open a stream; iterate the reader for chunks. Leaving early cancels the producer."""
        rid = next(self._ids)
        reader = self._readers[rid] = StreamReader(self, rid, self.stream_window)
        try:
            await self._enqueue(
                {"k": "s", "i": rid, "t": type_, "b": body, "w": self.stream_window}
            )
            yield reader
        finally:
            if self._readers.pop(rid, None) is not None and not reader.done:
                self._try_send({"k": "x", "i": rid})

    def _try_send(self, envelope: dict) -> None:
        try:
            self._enqueue_nowait(envelope)
        except (Backpressure, RemoteError):
            pass

    # ---- receiving -----------------------------------------------------------------------

    async def _dispatch(self, msg: object) -> None:
        if not isinstance(msg, dict) or msg.get("k") not in ENVELOPES:
            raise ProtocolViolation("not a known envelope")
        kind = msg["k"]
        env = ENVELOPES[kind].validate(msg, "envelope")
        if kind == "m":
            await self._on_message(env)
        elif kind in ("q", "s"):
            await self._inflight.acquire()  # blocks reading when the peer asks too much
            self._nursery.start_soon(self._serve, env)
        elif kind == "r" or (kind == "e" and env["i"] in self._pending):
            pending = self._pending.get(env["i"])
            if pending is not None and not pending.event.is_set():
                if kind == "r":
                    pending.result = env["b"]
                else:
                    pending.error = RemoteError(env["c"], env["m"])
                pending.event.set()
        elif kind in ("d", "z", "e"):
            reader = self._readers.get(env["i"])
            if reader is not None:
                if kind == "d":
                    reader._deliver(("d", env["b"]))
                elif kind == "z":
                    reader._deliver(("z", None))
                else:
                    reader._deliver(("e", RemoteError(env["c"], env["m"])))
        elif kind == "c":
            writer = self._writers.get(env["i"])
            if writer is not None:
                writer._grant(env["n"])
        elif kind == "x":
            scope = self._serving.get(env["i"])
            if scope is not None:
                scope.cancel()

    def _route(self, type_: str, kind: str, body: object) -> tuple[Route, dict]:
        route = self.router.routes.get(type_)
        if route is None or route.kind != kind:
            raise RemoteError("unknown_type", f"this node has no {kind} handler for {type_!r}")
        if route.roles is not None and self.peer.role not in route.roles:
            raise RemoteError("forbidden", f"{type_!r} is not allowed for a {self.peer.role} node")
        try:
            return route, route.schema.validate(body, type_)
        except SchemaError as exc:
            raise RemoteError("invalid", str(exc)) from None

    async def _on_message(self, env: dict) -> None:
        try:
            route, body = self._route(env["t"], "message", env["b"])
            await route.handler(self.peer, body)
        except RemoteError as exc:
            log.warning("dropped message from node %s: %s", self.peer.node_id, exc)
        except Exception:
            log.exception("handler for %r failed", env["t"])

    async def _serve(self, env: dict) -> None:
        rid, kind = env["i"], env["k"]
        self._inflight_now += 1
        self.max_inflight_seen = max(self.max_inflight_seen, self._inflight_now)
        reply = None
        try:
            with trio.CancelScope() as scope:
                self._serving[rid] = scope
                reply = await self._run_handler(env, rid, kind)
            if reply is not None and not scope.cancelled_caught:
                try:
                    await self._enqueue(reply)
                except (TypeError, ValueError, codec.EncodeError) as exc:  # not CBOR, too large
                    log.error("reply to %r cannot be sent: %s", env["t"], exc)
                    msg = f"the reply could not be sent: {exc}"[:4000]
                    await self._enqueue({"k": "e", "i": rid, "c": "internal", "m": msg})
        except (RemoteError, SessionClosed):
            pass
        finally:
            self._serving.pop(rid, None)
            self._writers.pop(rid, None)
            self._inflight_now -= 1
            self._inflight.release()

    async def _run_handler(self, env: dict, rid: int, kind: str) -> dict | None:
        try:
            if kind == "q":
                route, body = self._route(env["t"], "request", env["b"])
                result = await route.handler(self.peer, body)
                return {"k": "r", "i": rid, "b": result}
            route, body = self._route(env["t"], "stream", env["b"])
            writer = self._writers[rid] = StreamWriter(self, rid, env["w"])
            await route.handler(self.peer, body, writer)
            return {"k": "z", "i": rid}
        except RemoteError as exc:
            return {"k": "e", "i": rid, "c": exc.code, "m": exc.message[:4000]}
        except Exception as exc:
            log.exception("handler for %r failed", env["t"])
            return {
                "k": "e",
                "i": rid,
                "c": "internal",
                "m": f"handler failed: {type(exc).__name__}",
            }
