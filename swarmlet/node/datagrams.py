"""Best-effort one-way messages of one kind over the node's secure transport, for protocols
that retry on their own (raft, gossip): `send` never blocks; a message goes straight onto a
live session, else into the peer address's bounded queue, drained by a task that dials it;
what cannot be sent soon is dropped.
"""

from __future__ import annotations

import logging

import trio

from swarmlet.wire.mux import Backpressure, RemoteError
from swarmlet.wire.schema import Field, Schema

log = logging.getLogger(__name__)

BODY = Schema(m=Field(dict, max_len=64))
QUEUE = 4096
DIAL_TIMEOUT = 1.0


class WireDatagrams:
    def __init__(self, transport, router, nursery: trio.Nursery, kind: str, roles=None):
        self.transport = transport
        self.kind = kind
        self._nursery = nursery
        self._inbound_send, self.inbound = trio.open_memory_channel(QUEUE)
        self._queues: dict[str, trio.MemorySendChannel] = {}
        router.message(kind, BODY, self._on_message, roles=roles)

    async def _on_message(self, peer, body) -> None:
        try:
            self._inbound_send.send_nowait(body["m"])
        except trio.WouldBlock:
            log.debug("%s: inbound queue full, dropped a message from %s", self.kind, peer.node_id)

    def send(self, address: str, message: dict) -> None:
        conn = self.transport.open_connection(address)
        if conn is not None:
            # Straight onto the live session: no task hop per message (an idle daemon's
            # gossip and heartbeats are mostly this). Order against messages still queued
            # for a dial is not kept; raft and gossip do not need it.
            try:
                conn.send_nowait(self.kind, {"m": message})
            except (RemoteError, Backpressure, OSError, trio.BrokenResourceError) as exc:
                log.debug("%s message to %s dropped: %s", self.kind, address, exc)
            return
        queue = self._queues.get(address)
        if queue is None:
            queue, receive = trio.open_memory_channel(QUEUE)
            self._queues[address] = queue
            self._nursery.start_soon(self._drain, address, receive)
        try:
            queue.send_nowait(message)
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass

    def forget(self, address: str) -> None:
        queue = self._queues.pop(address, None)
        if queue is not None:
            queue.close()

    async def _drain(self, address: str, receive: trio.MemoryReceiveChannel) -> None:
        async with receive:
            async for message in receive:
                try:
                    conn = await self.transport.connection(address, timeout=DIAL_TIMEOUT)
                    conn.send_nowait(self.kind, {"m": message})
                except (RemoteError, Backpressure, OSError, trio.BrokenResourceError) as exc:
                    log.debug("%s messages to %s dropped: %s", self.kind, address, exc)
                    while True:  # what queued up meanwhile is stale: the protocol resends
                        try:
                            receive.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break


class RaftDatagrams:
    """raft.runner.Transport: messages addressed by node ID, peers set by the runner."""

    def __init__(self, datagrams: WireDatagrams):
        self._d = datagrams
        self.inbound = datagrams.inbound
        self._addresses: dict[str, str] = {}

    def set_peer(self, node_id: str, address: str | None) -> None:
        old = self._addresses.pop(node_id, None)
        if old is not None and address != old:
            self._d.forget(old)
        if address is not None:
            self._addresses[node_id] = address

    def send(self, to: str, message: dict) -> None:
        address = self._addresses.get(to)
        if address is not None:
            self._d.send(address, message)


class GossipDatagrams:
    """gossip.transport.Transport: messages addressed by member address."""

    def __init__(self, datagrams: WireDatagrams):
        self._d = datagrams
        self.inbound = datagrams.inbound

    def send(self, to: str | None, addr: str, msg: dict) -> None:
        self._d.send(addr, msg)
