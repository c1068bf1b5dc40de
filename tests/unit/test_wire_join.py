"""The join protocol over real sockets: certificate issued by token role, and every refusal."""

import pytest
import trio

from swarmlet.security.ca import CertificateAuthority
from swarmlet.security.certs import ClusterRoot, verify_certificate
from swarmlet.security.identity import NodeIdentity
from swarmlet.security.tokens import JoinTokens, new_token_for_digest, parse_token
from swarmlet.wire.endpoint import Listener, dial, request_certificate
from swarmlet.wire.handshake import JoinError, SessionPolicy
from swarmlet.wire.session import Credentials

from .wire_fixtures import TestCluster, echo

pytestmark = pytest.mark.anyio


class Manager:
    def __init__(self):
        self.cluster = TestCluster()
        self.tokens = JoinTokens.generate(self.cluster.root.public_key)
        self.ca = CertificateAuthority(self.cluster.root, lambda: self.tokens)
        self.calls = 0
        self.creds = self.cluster.creds("manager")

    def authorize(self, *args):
        self.calls += 1
        return self.ca.authorize_join(*args)

    async def start(self, nursery):
        self.listener = Listener(self.creds, echo, SessionPolicy(authorize_join=self.authorize))
        port = await nursery.start(self.listener.serve, "127.0.0.1", 0)
        return f"127.0.0.1:{port}"


@pytest.mark.parametrize("role", ["worker", "manager"])
async def test_join_happy_path_then_session(role):
    mgr = Manager()
    async with trio.open_nursery() as nursery:
        addr = await mgr.start(nursery)
        ident = NodeIdentity.generate()
        token = parse_token(str(getattr(mgr.tokens, role)))
        cert, root = await request_certificate(addr, ident, token)
        assert root == mgr.cluster.root.public_key
        assert (cert.node_id, cert.role, cert.pubkey) == (ident.node_id, role, ident.public_key)
        verify_certificate(cert, root, trio_now())
        session = await dial(nursery, addr, Credentials(ident, cert, root))
        await session.send({"joined": True})
        assert await session.receive() == {"joined": True}
        nursery.cancel_scope.cancel()


def trio_now():
    import time

    return time.time()


async def join_error(mgr, nursery, addr, token, **kw):
    with pytest.raises(JoinError) as info:
        await request_certificate(addr, NodeIdentity.generate(), token, **kw)
    return str(info.value)


async def test_join_refusals():
    mgr = Manager()
    async with trio.open_nursery() as nursery:
        addr = await mgr.start(nursery)
        good = mgr.tokens.worker

        # a manager of another swarm: refused before the token is sent
        other = JoinTokens.generate(ClusterRoot.generate().public_key).worker
        msg = await join_error(mgr, nursery, addr, other)
        assert "does not match the fingerprint" in msg and "nothing secret was sent" in msg
        assert mgr.calls == 0

        # right swarm, unknown secret
        unknown = new_token_for_digest(good.root_digest)
        assert "rotated or mistyped" in await join_error(mgr, nursery, addr, unknown)

        # rotated away
        mgr.tokens = mgr.tokens.rotate("worker")
        assert "rotated" in await join_error(mgr, nursery, addr, good)

        # wrong role for what the node asks
        msg = await join_error(mgr, nursery, addr, mgr.tokens.worker, requested_role="manager")
        assert "join-token manager" in msg

        # a node ID that was removed from the swarm
        removed = NodeIdentity.generate()
        mgr.ca.revoked = lambda: {removed.node_id}
        with pytest.raises(JoinError, match="removed from this swarm"):
            await request_certificate(addr, removed, mgr.tokens.worker)
        assert mgr.calls == 4
        nursery.cancel_scope.cancel()


async def test_node_without_join_support_says_so():
    cl = TestCluster()
    tokens = JoinTokens.generate(cl.root.public_key)

    async def nothing(session):
        pass

    async with trio.open_nursery() as nursery:
        listener = Listener(cl.creds("manager"), nothing)
        port = await nursery.start(listener.serve, "127.0.0.1", 0)
        with pytest.raises(JoinError, match="does not accept joins"):
            await request_certificate(f"127.0.0.1:{port}", NodeIdentity.generate(), tokens.worker)
        nursery.cancel_scope.cancel()


async def test_join_only_trusts_a_manager_certificate():
    """A worker of the right swarm cannot pose as the CA for a joining node."""
    cl = TestCluster()
    tokens = JoinTokens.generate(cl.root.public_key)

    async def nothing(session):
        pass

    async with trio.open_nursery() as nursery:
        listener = Listener(cl.creds("worker"), nothing)
        port = await nursery.start(listener.serve, "127.0.0.1", 0)
        with pytest.raises(JoinError, match="needs a manager"):
            await request_certificate(f"127.0.0.1:{port}", NodeIdentity.generate(), tokens.worker)
        nursery.cancel_scope.cancel()


async def test_init_then_join_swarm_saves_membership(tmp_path):
    from swarmlet.security.bootstrap import init_cluster
    from swarmlet.security.tokens import TokenError
    from swarmlet.wire.join import join_swarm, node_credentials

    cluster = init_cluster(tmp_path / "mgr", trio_now())
    with pytest.raises(ValueError, match="already part of a swarm"):
        init_cluster(tmp_path / "mgr", trio_now())
    mgr_creds = node_credentials(tmp_path / "mgr")
    assert mgr_creds.certificate.role == "manager"
    ca = CertificateAuthority(cluster.root, lambda: cluster.tokens)

    async def nothing(session):
        pass

    async with trio.open_nursery() as nursery:
        listener = Listener(mgr_creds, nothing, SessionPolicy(authorize_join=ca.authorize_join))
        addr = f"127.0.0.1:{await nursery.start(listener.serve, '127.0.0.1', 0)}"
        with pytest.raises(TokenError, match="join-token"):
            await join_swarm(tmp_path / "w", addr, "SWMTKN-1-nope")
        assert node_credentials(tmp_path / "w").certificate is None
        creds = await join_swarm(tmp_path / "w", addr, f"  {cluster.tokens.worker}\n")
        assert creds.certificate.role == "worker"
        again = node_credentials(tmp_path / "w")
        assert again.certificate == creds.certificate
        assert again.root_public_key == cluster.root.public_key
        with pytest.raises(ValueError, match="already part of a swarm"):
            await join_swarm(tmp_path / "w", addr, str(cluster.tokens.worker))
        nursery.cancel_scope.cancel()


async def test_join_through_an_address_that_never_answers_says_so():
    """A timed-out join is a reason for the user, not an empty error."""
    tokens = JoinTokens.generate(ClusterRoot.generate().public_key)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, lambda stream: trio.sleep_forever(), listeners)
        with pytest.raises(ConnectionError, match="no answer within 0.5 s"):
            await request_certificate(
                f"127.0.0.1:{port}", NodeIdentity.generate(), tokens.worker, timeout=0.5
            )
        nursery.cancel_scope.cancel()
