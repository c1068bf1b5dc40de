"""Sessions with a peer that went silent end, and `by_node` names a node as long as any
session with it lives; real transports over loopback TCP."""

import pytest
import trio

from swarmlet.wire.mux import Router
from swarmlet.wire.peers import Transport
from swarmlet.wire.schema import Schema

from .wire_fixtures import TestCluster

pytestmark = pytest.mark.anyio

QUICK = {"keepalive": 0.1, "keepalive_timeout": 0.5}


def echo_router():
    router = Router()

    async def echo(peer, body):
        return {}

    router.request("echo", Schema(), echo)
    return router


class BlackHoleProxy:
    """A TCP relay that can swallow everything in both directions without closing anything,
    as a network partition does (no FIN, no RST)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.cut = False

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, client):
        server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server)
            nursery.start_soon(self._pump, server, client)

    async def _pump(self, src, dst):
        try:
            while data := await src.receive_some(65536):
                if not self.cut:
                    await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await dst.aclose()


async def test_a_session_whose_peer_goes_silent_ends_and_is_dialed_again():
    cl = TestCluster()
    async with trio.open_nursery() as nursery:
        server = Transport(
            cl.creds("manager"),
            echo_router(),
            listen=("127.0.0.1", 0),
            connection_options=QUICK,
        )
        port = await nursery.start(server.run)
        proxy = BlackHoleProxy(port)
        via = f"127.0.0.1:{await nursery.start(proxy.serve)}"
        client = Transport(cl.creds("worker"), Router(), connection_options=QUICK)
        await nursery.start(client.run)
        conn = await client.connection(via)
        assert await conn.request("echo", {}) == {}
        proxy.cut = True
        with trio.fail_after(10):
            await conn.closed.wait()
        assert "no answer from node" in conn.close_reason
        with trio.fail_after(10):
            while server.creds.identity.node_id in client.by_node:
                await trio.sleep(0.01)
        proxy.cut = False
        assert await client.request(via, "echo", {}) == {}  # a fresh session
        nursery.cancel_scope.cancel()


async def test_by_node_keeps_a_node_while_any_session_with_it_lives():
    cl = TestCluster()
    async with trio.open_nursery() as nursery:
        a = Transport(cl.creds("manager"), echo_router(), listen=("127.0.0.1", 0))
        b = Transport(cl.creds("manager"), echo_router(), listen=("127.0.0.1", 0))
        a_addr = f"127.0.0.1:{await nursery.start(a.run)}"
        b_addr = f"127.0.0.1:{await nursery.start(b.run)}"
        b_id = b.creds.identity.node_id
        await a.connection(b_addr)  # a dials b, then b dials a: a has two sessions with b
        await b.connection(a_addr)
        with trio.fail_after(10):
            while len(a._all_connections()) < 2:
                await trio.sleep(0.01)
        named = a.by_node[b_id]
        await named.aclose("one of two sessions ends")
        with trio.fail_after(10):
            while a.by_node.get(b_id) is named:
                await trio.sleep(0.01)
        other = a.by_node.get(b_id)
        assert other is not None and not other.closed.is_set()
        assert await other.request("echo", {}) == {}
        await other.aclose("the last session ends")
        with trio.fail_after(10):
            while b_id in a.by_node:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
