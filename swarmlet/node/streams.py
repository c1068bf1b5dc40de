"""Wire streams to a node of the swarm by its ID: how a manager reaches the node that runs a
task (for the task's logs).

A live session with the node is used whichever side opened it (the worker's session to the
dispatcher, gossip's); otherwise the node's address as gossip knows it (or the store's, on
this node's port) is dialed, for a few seconds at most. A stream to this node itself runs the
handler in-process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from swarmlet.store.objects import NODE, dig
from swarmlet.wire.mux import Connection, RemoteError, Route, Unavailable
from swarmlet.wire.schema import SchemaError

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5.0


class _ChannelWriter:
    """The producing end of an in-process stream (what a stream handler sends to)."""

    def __init__(self, send: trio.MemorySendChannel) -> None:
        self._send = send

    async def send(self, chunk: object) -> None:
        await self._send.send(chunk)


async def _chunks(recv: trio.MemoryReceiveChannel, failure: list[RemoteError]):
    async for chunk in recv:
        yield chunk
    if failure:
        raise failure[0]


@asynccontextmanager
async def local_stream(route: Route, body: dict) -> AsyncIterator[AsyncIterator[object]]:
    """A stream served by this node's own handler for `route`: the same checks and errors
    as over the wire, without a session."""
    try:
        body = route.schema.validate(body, "stream")
    except SchemaError as exc:
        raise RemoteError("invalid", str(exc)) from None
    send, recv = trio.open_memory_channel(0)
    failure: list[RemoteError] = []

    async def produce() -> None:
        async with send:
            try:
                await route.handler(None, body, _ChannelWriter(send))
            except RemoteError as exc:
                failure.append(exc)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the reader left
            except Exception as exc:
                log.exception("local stream handler failed")
                failure.append(RemoteError("internal", f"handler failed: {type(exc).__name__}"))

    error: Exception | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        try:
            async with recv:
                yield _chunks(recv, failure)
        except Exception as exc:  # raised below, as it is, not in the nursery's group
            error = exc
        finally:
            nursery.cancel_scope.cancel()
    if error is not None:
        raise error


def node_address(swarm, node_id: str) -> str:
    """Where `node_id` listens: gossip's view, else the store's address on this node's port."""
    gossip = swarm.gossip
    if gossip is not None:
        for member in gossip.core.members():
            if member.node_id == node_id and member.addr:
                return member.addr
    manager = swarm.manager
    node = manager.store.get(NODE, node_id) if manager is not None else None
    host = dig(node, "Status.Addr", "") if node else ""
    if not host:
        return ""
    port = swarm.settings.get("AdvertiseAddr", "").rpartition(":")[2] or "2377"
    return f"{host}:{port}"


async def connection_to(swarm, node_id: str) -> Connection:
    transport = swarm.transport
    if transport is None:
        raise Unavailable("this node's transport is not running")
    conn = transport.by_node.get(node_id)
    if conn is not None and not conn.closed.is_set():
        return conn
    address = node_address(swarm, node_id)
    if not address:
        raise Unavailable(f"no address is known for node {node_id}")
    conn = await transport.connection(address, timeout=CONNECT_SECONDS)
    if conn.peer.node_id != node_id:
        raise Unavailable(f"{address} is node {conn.peer.node_id} now, not {node_id}")
    return conn


@asynccontextmanager
async def node_stream(swarm, node_id: str, type_: str, body: dict):
    """Open stream `type_` on node `node_id`; iterate what it yields for the chunks."""
    if node_id == swarm.node_id:
        async with local_stream(swarm.router.routes[type_], body) as chunks:
            yield chunks
        return
    conn = await connection_to(swarm, node_id)
    async with conn.stream(type_, body) as reader:
        yield reader
