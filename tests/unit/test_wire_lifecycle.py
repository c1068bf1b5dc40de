"""Certificate renewal over a session, revocation of a live peer, expiry of a live session."""

import time

import pytest
import trio

from swarmlet.security.ca import CertificateAuthority
from swarmlet.security.tokens import JoinTokens
from swarmlet.wire.certificates import register_certificate_service, renew_certificate
from swarmlet.wire.mux import Router, Unavailable
from swarmlet.wire.peers import Transport
from swarmlet.wire.schema import Schema

from .wire_fixtures import TestCluster

pytestmark = pytest.mark.anyio


def ping_router():
    router = Router()

    async def ping(peer, body):
        return {}

    router.request("ping", Schema(), ping)
    return router


async def test_renewal_then_revocation():
    cl = TestCluster()
    ca = CertificateAuthority(cl.root, lambda: JoinTokens.generate(cl.root.public_key))
    router = ping_router()
    register_certificate_service(router, ca)
    async with trio.open_nursery() as nursery:
        mgr = Transport(cl.creds("manager"), router, listen=("127.0.0.1", 0))
        addr = f"127.0.0.1:{await nursery.start(mgr.run)}"
        worker_creds = cl.creds("worker", lifetime=600, issued_at=time.time() - 300)
        worker = Transport(worker_creds, Router())
        await nursery.start(worker.run)
        conn = await worker.connection(addr)
        old = worker_creds.certificate
        new = await renew_certificate(conn, worker_creds)
        assert new.not_after > old.not_after and new.node_id == old.node_id
        assert worker_creds.certificate is new

        await mgr.revoke(worker_creds.identity.node_id)
        with trio.fail_after(10):
            await conn.closed.wait()
        with pytest.raises(Unavailable, match="removed from the cluster"):
            await worker.request(addr, "ping", {}, timeout=1)
        nursery.cancel_scope.cancel()


async def test_session_ends_when_peer_certificate_expires():
    cl = TestCluster()
    async with trio.open_nursery() as nursery:
        mgr = Transport(cl.creds("manager"), ping_router(), listen=("127.0.0.1", 0))
        addr = f"127.0.0.1:{await nursery.start(mgr.run)}"
        # valid for about one more second (issued with the usual backdating)
        short = cl.creds("worker", lifetime=1.5)
        worker = Transport(short, Router())
        await nursery.start(worker.run)
        conn = await worker.connection(addr)
        assert await conn.request("ping", {}) == {}
        with trio.fail_after(15):
            await conn.closed.wait()
        assert "expired" in conn.close_reason
        nursery.cancel_scope.cancel()


async def test_dial_refusal_is_reported():
    a, b = TestCluster(), TestCluster()
    async with trio.open_nursery() as nursery:
        mgr = Transport(a.creds("manager"), ping_router(), listen=("127.0.0.1", 0))
        addr = f"127.0.0.1:{await nursery.start(mgr.run)}"
        stranger = Transport(b.creds("worker"), Router())
        await nursery.start(stranger.run)
        with pytest.raises(Unavailable, match="not signed by this cluster"):
            await stranger.connection(addr, timeout=1)
        nursery.cancel_scope.cancel()
