"""What a session puts on the socket: a marker sent through it never appears in clear.

A recording TCP proxy on loopback sits between two endpoints. Through a swarmlet session the
marker (in a request, its reply and a stream chunk) must not be in the captured bytes; through
a plain trio-websocket connection, the control, it is.
"""

import functools

import pytest
import trio
import trio_websocket

from swarmlet.wire.mux import Router
from swarmlet.wire.peers import Transport
from swarmlet.wire.schema import Field, Schema

from .wire_fixtures import TestCluster

pytestmark = pytest.mark.anyio

MARKER = b"MARKER-5f3c9a-the-quick-brown-fox-swarmlet"
BODY = Schema(data=Field(bytes, max_len=1000))


class RecordingProxy:
    def __init__(self, target_port):
        self.target_port = target_port
        self.captured = bytearray()

    async def _pump(self, src, dst):
        try:
            while data := await src.receive_some(65536):
                self.captured += data
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.move_on_after(1):
                await dst.aclose()

    async def _handle(self, client):
        server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server)
            nursery.start_soon(self._pump, server, client)

    async def start(self, nursery):
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), self._handle, 0
        )
        return listeners[0].socket.getsockname()[1]


async def test_marker_never_in_clear_on_a_session():
    cl = TestCluster()
    router = Router()

    async def on_echo(peer, body):
        return body

    async def on_chunks(peer, body, out):
        await out.send(body)

    router.request("echo", BODY, on_echo)
    router.stream("chunks", BODY, on_chunks)
    async with trio.open_nursery() as nursery:
        server = Transport(cl.creds("manager"), router, listen=("127.0.0.1", 0))
        port = await nursery.start(server.run)
        proxy = RecordingProxy(port)
        proxy_port = await proxy.start(nursery)
        client = Transport(cl.creds("worker"), Router())
        await nursery.start(client.run)
        addr = f"127.0.0.1:{proxy_port}"
        assert await client.request(addr, "echo", {"data": MARKER}) == {"data": MARKER}
        conn = await client.connection(addr)
        async with conn.stream("chunks", {"data": MARKER}) as chunks:
            assert [c async for c in chunks] == [{"data": MARKER}]
        assert len(proxy.captured) > 2 * len(MARKER)  # the traffic did go through the proxy
        assert MARKER not in proxy.captured
        assert MARKER[:16] not in proxy.captured
        nursery.cancel_scope.cancel()


async def test_control_plain_websocket_shows_marker():
    async def echo(request):
        ws = await request.accept()
        await ws.send_message(await ws.get_message())

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                echo, "127.0.0.1", 0, None, task_status=task_status
            )
        )
        proxy = RecordingProxy(server.port)
        proxy_port = await proxy.start(nursery)
        async with trio_websocket.open_websocket_url(f"ws://127.0.0.1:{proxy_port}/") as ws:
            await ws.send_message(MARKER)
            assert await ws.get_message() == MARKER
        assert MARKER in proxy.captured
        nursery.cancel_scope.cancel()
