"""A plain websocket + CBOR transport for raft messages, for tests and benchmarks on loopback.

It has no authentication and no encryption: it stands in for the secure wire's manager
sessions, which implement the same three members (``send``, ``set_peer``, ``inbound``).
Each peer gets one outbound connection fed by a bounded queue; a full queue drops (raft
resends), and a broken connection is redialled.
"""

from __future__ import annotations

import logging

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    open_websocket_url,
    serve_websocket,
)

from swarmlet import codec

log = logging.getLogger(__name__)

MAX_FRAME = 64 << 20
QUEUE = 10_000
BATCH = 1024


def decode_frame(data: bytes) -> list[dict]:
    v = codec.decode(data, max_size=MAX_FRAME)
    if not isinstance(v, list) or not all(isinstance(m, dict) for m in v):
        raise ValueError("a frame is a list of message dicts")
    return v


class WebsocketTransport:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._in_send, self.inbound = trio.open_memory_channel(QUEUE)
        self._queues: dict[str, trio.MemorySendChannel] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self._pending: dict[str, str | None] = {}

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self._serve)
            for node, addr in self._pending.items():
                self.set_peer(node, addr)
            task_status.started()

    async def _serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await serve_websocket(
            self._handle,
            self.host,
            self.port,
            ssl_context=None,
            max_message_size=MAX_FRAME,
            message_queue_size=64,
            task_status=task_status,
        )

    async def _handle(self, request) -> None:
        ws = await request.accept()
        try:
            while True:
                data = await ws.get_message()
                try:
                    msgs = decode_frame(data)
                except ValueError as e:
                    log.warning("closing a raft connection that sent a bad frame: %s", e)
                    return
                for m in msgs:
                    await self._in_send.send(m)
        except ConnectionClosed:
            pass

    def set_peer(self, node_id: str, address: str | None) -> None:
        if self._nursery is None:
            self._pending[node_id] = address
            return
        old = self._scopes.pop(node_id, None)
        if old is not None:
            old.cancel()
            self._queues.pop(node_id, None)
        if address is None:
            return
        send, recv = trio.open_memory_channel(QUEUE)
        scope = trio.CancelScope()
        self._queues[node_id] = send
        self._scopes[node_id] = scope
        self._nursery.start_soon(self._sender, address, recv, scope)

    def send(self, to: str, message: dict) -> None:
        q = self._queues.get(to)
        if q is None:
            return
        try:
            q.send_nowait(message)
        except trio.WouldBlock:
            pass  # the peer is far behind or down: raft will resend

    async def _sender(self, address: str, recv: trio.MemoryReceiveChannel, scope) -> None:
        with scope:
            while True:
                try:
                    async with open_websocket_url(
                        f"ws://{address}/raft", max_message_size=MAX_FRAME, connect_timeout=2
                    ) as ws:
                        while True:
                            batch = [await recv.receive()]
                            while len(batch) < BATCH:
                                try:
                                    batch.append(recv.receive_nowait())
                                except trio.WouldBlock:
                                    break
                            await ws.send_message(codec.encode(batch))
                except (OSError, HandshakeError, ConnectionClosed, trio.BrokenResourceError):
                    await trio.sleep(0.05)
