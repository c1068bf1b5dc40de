"""Raft's transport over the secure wire: manager-only one-way messages, one queue per peer.

`send` never blocks (raft retries what is lost): each peer has a bounded queue drained by a
task that keeps a session to that peer; when the queue is full the message is dropped.
"""

from __future__ import annotations

import logging

import trio

from swarmlet.wire.mux import Backpressure, RemoteError
from swarmlet.wire.schema import Field, Schema

log = logging.getLogger(__name__)

RAFT_MESSAGE = Schema(m=Field(dict, max_len=64))
QUEUE = 4096


class WireRaftTransport:
    def __init__(self, transport, router, nursery: trio.Nursery):
        self.transport = transport
        self._nursery = nursery
        self._inbound_send, self.inbound = trio.open_memory_channel(QUEUE)
        self._queues: dict[str, trio.MemorySendChannel] = {}
        self._addresses: dict[str, str] = {}
        router.message("raft", RAFT_MESSAGE, self._on_message, roles={"manager"})

    async def _on_message(self, peer, body) -> None:
        try:
            self._inbound_send.send_nowait(body["m"])
        except trio.WouldBlock:
            log.debug("raft inbound queue full: dropped a message from %s", peer.node_id)

    def set_peer(self, node_id: str, address: str | None) -> None:
        if address is None:
            self._addresses.pop(node_id, None)
            queue = self._queues.pop(node_id, None)
            if queue is not None:
                queue.close()
            return
        self._addresses[node_id] = address
        if node_id not in self._queues:
            send, receive = trio.open_memory_channel(QUEUE)
            self._queues[node_id] = send
            self._nursery.start_soon(self._drain, node_id, receive)

    def send(self, to: str, message: dict) -> None:
        queue = self._queues.get(to)
        if queue is None:
            return
        try:
            queue.send_nowait(message)
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass

    async def _drain(self, node_id: str, receive: trio.MemoryReceiveChannel) -> None:
        async with receive:
            async for message in receive:
                address = self._addresses.get(node_id)
                if address is None:
                    return
                try:
                    conn = await self.transport.connection(address, timeout=1.0)
                    conn.send_nowait("raft", {"m": message})
                except (RemoteError, Backpressure, OSError, trio.BrokenResourceError) as exc:
                    log.debug("raft messages to %s dropped: %s", node_id, exc)
                    while True:  # what queued up meanwhile is stale: raft sends afresh
                        try:
                            receive.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
