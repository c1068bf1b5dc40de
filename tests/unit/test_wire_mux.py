"""Messages, requests, streams, reconnection and backpressure between real transports."""

import pytest
import trio

from swarmlet.wire.mux import Backpressure, RemoteError, RequestTimeout, Router
from swarmlet.wire.peers import Backoff, Transport
from swarmlet.wire.schema import Field, Schema

from .wire_fixtures import TestCluster

pytestmark = pytest.mark.anyio

NOTE = Schema(text=Field(str, max_len=100))
ECHO = Schema(x=Field(int))
COUNT = Schema(n=Field(int, min=0, max=10_000))


def make_router(log=None):
    router = Router()
    seen = log if log is not None else []

    async def on_note(peer, body):
        seen.append((peer.node_id, body["text"]))

    async def on_echo(peer, body):
        return {"x": body["x"], "from_role": peer.role}

    async def on_fail(peer, body):
        raise RemoteError("not_leader", "ask node abc instead")

    async def on_crash(peer, body):
        raise RuntimeError("boom")

    async def on_slow(peer, body):
        await trio.sleep(3600)

    async def on_count(peer, body, out):
        for i in range(body["n"]):
            await out.send({"i": i})

    router.message("note", NOTE, on_note)
    router.request("echo", ECHO, on_echo)
    router.request("fail", ECHO, on_fail)
    router.request("crash", ECHO, on_crash)
    router.request("slow", ECHO, on_slow)
    router.request("raft.only", ECHO, on_echo, roles={"manager"})

    async def on_unencodable(peer, body):
        return {"x": object()}

    router.request("unencodable", ECHO, on_unencodable)
    router.stream("count", COUNT, on_count)
    return router


async def pair(nursery, server_role="manager", client_role="worker", **server_kw):
    cl = TestCluster()
    seen = []
    server = Transport(
        cl.creds(server_role), make_router(seen), listen=("127.0.0.1", 0), **server_kw
    )
    port = await nursery.start(server.run)
    client = Transport(cl.creds(client_role), make_router())
    await nursery.start(client.run)
    return server, client, f"127.0.0.1:{port}", seen


async def test_message_request_and_typed_errors():
    async with trio.open_nursery() as nursery:
        server, client, addr, seen = await pair(nursery)
        assert await client.request(addr, "echo", {"x": 5}) == {"x": 5, "from_role": "worker"}
        await client.send(addr, "note", {"text": "hi"})
        with trio.fail_after(5):
            while not seen:
                await trio.sleep(0.01)
        assert seen == [(client.creds.identity.node_id, "hi")]
        with pytest.raises(RemoteError) as info:
            await client.request(addr, "fail", {"x": 1})
        assert (info.value.code, info.value.message) == ("not_leader", "ask node abc instead")
        with pytest.raises(RemoteError, match="internal"):
            await client.request(addr, "crash", {"x": 1})
        with pytest.raises(RemoteError, match="unknown_type"):
            await client.request(addr, "nope", {"x": 1})
        with pytest.raises(RemoteError, match="internal: the reply could not be sent"):
            await client.request(addr, "unencodable", {"x": 1})
        with pytest.raises(RemoteError) as info:
            await client.request(addr, "echo", {"x": "not an int"})
        assert info.value.code == "invalid"
        with pytest.raises(RemoteError) as info:
            await client.request(addr, "raft.only", {"x": 1})
        assert info.value.code == "forbidden"
        assert client.dials == 1  # one session reused for everything
        # the server reaches the client over the same session, by node ID
        conn = server.by_node[client.creds.identity.node_id]
        assert await conn.request("echo", {"x": 2}) == {"x": 2, "from_role": "manager"}
        nursery.cancel_scope.cancel()


async def test_request_timeout_then_session_still_works():
    async with trio.open_nursery() as nursery:
        _, client, addr, _ = await pair(nursery)
        with pytest.raises(RequestTimeout) as info:
            await client.request(addr, "slow", {"x": 1}, timeout=0.3)
        assert info.value.code == "timeout"
        assert await client.request(addr, "echo", {"x": 3}) == {"x": 3, "from_role": "worker"}
        nursery.cancel_scope.cancel()


async def test_stream_in_order_with_flow_control():
    async with trio.open_nursery() as nursery:
        _, client, addr, _ = await pair(nursery)
        conn = await client.connection(addr)
        async with conn.stream("count", {"n": 500}) as chunks:
            got = [c["i"] async for c in chunks]
        assert got == list(range(500))
        # leaving a stream early cancels the producer; the session carries on
        async with conn.stream("count", {"n": 10_000}) as chunks:
            async for c in chunks:
                if c["i"] == 3:
                    break
        assert await conn.request("echo", {"x": 9}) == {"x": 9, "from_role": "worker"}
        async with conn.stream("nope", {}) as chunks:
            with pytest.raises(RemoteError, match="unknown_type"):
                async for _ in chunks:
                    pass
        nursery.cancel_scope.cancel()


async def test_reconnect_after_peer_restarts():
    cl = TestCluster()
    server_creds = cl.creds("manager")
    async with trio.open_nursery() as nursery:
        client = Transport(cl.creds("worker"), make_router(), backoff=lambda: Backoff(base=0.02))
        await nursery.start(client.run)

        server = Transport(server_creds, make_router(), listen=("127.0.0.1", 0))
        port = await nursery.start(server.run)
        addr = f"127.0.0.1:{port}"
        assert (await client.request(addr, "echo", {"x": 1}))["x"] == 1
        await server.aclose()  # the peer goes away
        with pytest.raises(RemoteError):
            await client.request(addr, "echo", {"x": 2}, timeout=0.5)
        restarted = Transport(server_creds, make_router(), listen=("127.0.0.1", port))
        await nursery.start(restarted.run)
        assert (await client.request(addr, "echo", {"x": 3}, timeout=10))["x"] == 3
        assert client.dials >= 2
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("options", "expect_queued"),
    [({"queue_size": 8}, 8), ({"queue_size": 256, "queue_bytes": 200_000}, 3)],
    ids=["envelopes", "bytes"],
)
async def test_backpressure_bounds_outgoing_queue(options, expect_queued):
    """A peer that stops reading: our queue fills to its bound (in envelopes or in bytes)
    and then refuses more."""
    cl = TestCluster()
    stalled = trio.Event()

    async def never_read(session):
        stalled.set()
        await trio.sleep_forever()

    from swarmlet.wire.endpoint import Listener

    async with trio.open_nursery() as nursery:
        listener = Listener(cl.creds(), never_read)
        port = await nursery.start(listener.serve, "127.0.0.1", 0)
        client = Transport(cl.creds("worker"), Router(), connection_options=options)
        await nursery.start(client.run)
        conn = await client.connection(f"127.0.0.1:{port}")
        body = {"text": "x" * 60_000}
        accepted = 0
        with trio.fail_after(60):
            while True:  # until one send has waited a whole second for room
                with trio.move_on_after(1.0) as waited:
                    await conn.send("note", body)
                    accepted += 1
                if waited.cancelled_caught:
                    break
        assert conn.queued <= expect_queued
        assert accepted * len(body["text"]) < 64 * 2**20  # bounded: socket buffers + queue
        with pytest.raises(Backpressure):  # (waiting senders are woken at half the queue)
            for _ in range(expect_queued + 1):
                conn.send_nowait("note", body)
        assert conn.queued == expect_queued
        nursery.cancel_scope.cancel()


async def test_sender_waiting_for_room_released_when_session_ends():
    """A send blocked on a full queue fails with Unavailable when the connection closes."""
    from swarmlet.wire.endpoint import Listener
    from swarmlet.wire.mux import Unavailable

    cl = TestCluster()

    async def never_read(session):
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        port = await nursery.start(Listener(cl.creds(), never_read).serve, "127.0.0.1", 0)
        client = Transport(cl.creds("worker"), Router(), connection_options={"queue_bytes": 1})
        await nursery.start(client.run)
        conn = await client.connection(f"127.0.0.1:{port}")
        body = {"text": "x" * 60_000}
        outcome = []

        async def sender():
            try:
                with trio.fail_after(60):
                    while True:
                        await conn.send("note", body)
            except Unavailable:
                outcome.append("unavailable")

        async with trio.open_nursery() as inner:
            inner.start_soon(sender)
            while conn.queued < 1 or conn._room.is_set():
                await trio.sleep(0.05)
            await trio.sleep(0.2)  # the sender is now waiting for room
            await conn.aclose("test over")
        assert outcome == ["unavailable"]
        nursery.cancel_scope.cancel()


async def test_flooding_peer_limited_to_max_inflight():
    """Requests beyond max_inflight are not read; the serving side's work stays bounded."""
    async with trio.open_nursery() as nursery:
        server, client, addr, _ = await pair(nursery, connection_options={"max_inflight": 4})
        conn = await client.connection(addr)

        async def one():
            try:
                await conn.request("slow", {"x": 1}, timeout=1.0)
            except RequestTimeout:
                pass

        async with trio.open_nursery() as flood:
            for _ in range(50):
                flood.start_soon(one)
        server_conn = server.by_node[client.creds.identity.node_id]
        assert server_conn.max_inflight_seen == 4
        nursery.cancel_scope.cancel()


async def test_one_way_messages_arrive_in_order_through_batches():
    async with trio.open_nursery() as nursery:
        server, client, addr, seen = await pair(nursery)
        conn = await client.connection(addr)
        for i in range(200):  # queued faster than written: several go out per sealed frame
            await conn.send("note", {"text": str(i)})
        assert await conn.request("echo", {"x": 0}) == {"x": 0, "from_role": "worker"}
        with trio.fail_after(10):
            while len(seen) < 200:
                await trio.sleep(0.01)
        assert [text for _, text in seen] == [str(i) for i in range(200)]
        nursery.cancel_scope.cancel()


async def test_sessions_per_node_are_capped():
    from swarmlet.wire.endpoint import dial
    from swarmlet.wire.session import SessionClosed

    async with trio.open_nursery() as nursery:
        server, client, addr, _ = await pair(nursery, max_sessions_per_node=2)
        kept = [await dial(nursery, addr, client.creds) for _ in range(2)]
        extra = await dial(nursery, addr, client.creds)  # authenticated, then dropped
        with pytest.raises(SessionClosed, match="already has 2 sessions"):
            with trio.fail_after(10):
                await extra.receive()
        assert all(not s.closed for s in kept)
        nursery.cancel_scope.cancel()
