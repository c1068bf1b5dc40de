"""Handshakes between real sockets on loopback: success and every refusal the issue lists."""

import time

import pytest
import trio

from swarmlet.security.certs import RevocationSet
from swarmlet.wire.endpoint import Listener, dial, open_connection
from swarmlet.wire.handshake import HandshakeError, SessionPolicy
from swarmlet.wire.session import SessionClosed

from .wire_fixtures import TestCluster, echo

pytestmark = pytest.mark.anyio


async def start_listener(nursery, creds, policy=SessionPolicy(), **kw):
    listener = Listener(creds, echo, policy, **kw)
    port = await nursery.start(listener.serve, "127.0.0.1", 0)
    return listener, f"127.0.0.1:{port}"


async def test_handshake_and_echo():
    cl = TestCluster()
    server, client = cl.creds("manager"), cl.creds("worker")
    async with trio.open_nursery() as nursery:
        listener, addr = await start_listener(nursery, server)
        session = await dial(nursery, addr, client, expect_node_id=server.identity.node_id)
        assert session.peer.node_id == server.identity.node_id
        assert session.peer.role == "manager"
        await session.send({"hello": [1, b"x"]})
        assert await session.receive() == {"hello": [1, b"x"]}
        await session.aclose()
        assert listener.accepted == 1
        nursery.cancel_scope.cancel()


async def refused(server_creds, client_creds, policy=SessionPolicy(), match=""):
    async with trio.open_nursery() as nursery:
        listener, addr = await start_listener(nursery, server_creds, policy)
        with pytest.raises(HandshakeError, match=match) as info:
            await dial(nursery, addr, client_creds)
        with trio.fail_after(5):
            while not listener.refusals:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    return str(info.value), list(listener.refusals)


async def test_wrong_root_refused():
    server = TestCluster().creds()
    client = TestCluster().creds()
    client_err, _ = await refused(server, client, match="not signed by this cluster")
    assert client_err


async def test_client_from_other_root_refused_by_server():
    a, b = TestCluster(), TestCluster()
    server = a.creds()
    client = b.creds()
    client.root_public_key = a.root.public_key  # trusts the server, but holds a foreign cert
    client_err, reasons = await refused(server, client, match="refused by node")
    assert "not signed" in reasons[0] and "not signed" in client_err


async def test_expired_certificate_refused():
    cl = TestCluster()
    client = cl.creds("worker", lifetime=60, issued_at=time.time() - 3600)
    _, reasons = await refused(cl.creds(), client, match="expired")
    assert "expired" in reasons[0]


async def test_revoked_node_refused():
    cl = TestCluster()
    client = cl.creds("worker")
    revoked = RevocationSet({client.identity.node_id})
    _, reasons = await refused(cl.creds(revoked=revoked), client, match="removed")
    assert "removed from the cluster" in reasons[0]


async def test_worker_refused_on_manager_only_channel():
    cl = TestCluster()
    policy = SessionPolicy(roles={"manager"})
    _, reasons = await refused(cl.creds(), cl.creds("worker"), policy, match="needs a manager")
    assert "is a worker" in reasons[0]
    async with trio.open_nursery() as nursery:  # a manager is welcome on the same listener
        _, addr = await start_listener(nursery, cl.creds(), policy)
        session = await dial(nursery, addr, cl.creds("manager"))
        assert session.peer.role == "manager"
        nursery.cancel_scope.cancel()


class Recorder:
    """Wraps a websocket and records what the client sends."""

    def __init__(self, ws):
        self.ws, self.sent = ws, []

    async def send_message(self, data):
        self.sent.append(data)
        await self.ws.send_message(data)

    async def get_message(self):
        return await self.ws.get_message()

    def __getattr__(self, name):
        return getattr(self.ws, name)


async def test_replayed_handshake_refused():
    from swarmlet.wire.handshake import client_handshake

    cl = TestCluster()
    client = cl.creds("worker")
    async with trio.open_nursery() as nursery:
        listener, addr = await start_listener(nursery, cl.creds())
        rec = Recorder(await open_connection(nursery, addr))
        await client_handshake(rec, client)
        hello, auth = rec.sent
        # replay the recorded client messages on a fresh connection
        ws = await open_connection(nursery, addr)
        await ws.send_message(hello)
        await ws.get_message()  # the server's new ephemeral: the old auth cannot match it
        await ws.send_message(auth)
        with trio.fail_after(5):
            while not listener.refusals:
                await trio.sleep(0.01)
        assert "replayed or forged" in listener.refusals[0]
        assert listener.accepted == 1
        nursery.cancel_scope.cancel()


async def test_altered_frame_closes_session():
    cl = TestCluster()
    client = cl.creds("worker")
    async with trio.open_nursery() as nursery:
        _, addr = await start_listener(nursery, cl.creds())
        session = await dial(nursery, addr, client)
        await session.send({"n": 1})
        assert await session.receive() == {"n": 1}
        frame = bytearray(session._sealer.seal(b"\xa1\x61n\x02"))
        frame[-1] ^= 1
        await session.ws.send_message(bytes(frame))
        with pytest.raises(SessionClosed):
            with trio.fail_after(5):
                await session.receive()
        nursery.cancel_scope.cancel()


async def test_stolen_certificate_refused():
    """A certificate copied from another node is useless without that node's identity key."""
    cl = TestCluster()
    victim, thief = cl.creds("manager"), cl.creds("worker")
    thief.certificate = victim.certificate
    _, reasons = await refused(cl.creds(), thief, match="refused by node")
    assert "did not prove its identity key" in reasons[0]


def test_parse_address():
    from swarmlet.wire.endpoint import parse_address

    assert parse_address("10.0.0.1") == ("10.0.0.1", 2377)
    assert parse_address("10.0.0.1:4000") == ("10.0.0.1", 4000)
    assert parse_address("[fe80::1]:4000") == ("fe80::1", 4000)
    assert parse_address("node1") == ("node1", 2377)
    for bad in ("", ":2377", "host:0", "host:99999", "host:x"):
        with pytest.raises(ValueError):
            parse_address(bad)
