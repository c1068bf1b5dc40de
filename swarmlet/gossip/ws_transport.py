"""Plain websocket transport for gossip (CBOR frames over trio-websocket, no encryption).

A stand-in until gossip rides the secure wire: only this module knows about sockets. Each
peer address gets one outgoing connection with a bounded queue; when the peer is unreachable
or slow, messages are dropped, as the protocol expects of a datagram-like transport.
"""

from __future__ import annotations

import logging
import math

import trio
from trio_websocket import ConnectionClosed, HandshakeError, connect_websocket_url, serve_websocket

from .transport import MAX_FRAME, BadFrame, decode, encode

log = logging.getLogger(__name__)

PATH = "/gossip"


class WebSocketTransport:
    def __init__(self, host: str, port: int, queue_size: int = 256, retry_after: float = 0.5):
        self.host = host
        self.port = port
        self.queue_size = queue_size
        self.retry_after = retry_after
        self._inbound_send, self.inbound = trio.open_memory_channel(queue_size)
        self._peers: dict[str, trio.MemorySendChannel] = {}
        self._failed_at: dict[str, float] = {}
        self._nursery: trio.Nursery | None = None
        self.dropped = 0

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    self._serve,
                    self.host,
                    self.port,
                    None,
                    max_message_size=MAX_FRAME,
                    connect_timeout=2,
                    disconnect_timeout=2,
                    task_status=task_status,
                )
            )
            self.port = server.port
            task_status.started(self)

    def send(self, to: str | None, addr: str, msg: dict) -> None:
        chan = self._peers.get(addr)
        if chan is None:
            failed = self._failed_at.get(addr, -math.inf)
            if self._nursery is None or trio.current_time() - failed < self.retry_after:
                self.dropped += 1
                return
            chan, receive = trio.open_memory_channel(self.queue_size)
            self._peers[addr] = chan
            self._nursery.start_soon(self._peer, addr, receive)
        try:
            chan.send_nowait(encode(msg))
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.dropped += 1

    async def _peer(self, addr: str, receive: trio.MemoryReceiveChannel) -> None:
        ws = None
        try:
            with trio.fail_after(2):
                ws = await connect_websocket_url(self._nursery, f"ws://{addr}{PATH}")
            async for frame in receive:
                await ws.send_message(frame)
        except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
            log.debug("gossip peer %s unreachable: %s", addr, exc)
            self._failed_at[addr] = trio.current_time()
        finally:
            self._peers.pop(addr).close()
            if ws is not None:
                with trio.move_on_after(1) as scope:
                    scope.shield = True
                    await ws.aclose()

    async def _serve(self, request) -> None:
        ws = await request.accept()
        try:
            while True:
                frame = await ws.get_message()
                try:
                    msg = decode(frame)
                except BadFrame as exc:
                    log.debug("gossip: dropped bad frame: %s", exc)
                    continue
                try:
                    self._inbound_send.send_nowait(msg)
                except trio.WouldBlock:
                    self.dropped += 1
        except ConnectionClosed:
            pass
