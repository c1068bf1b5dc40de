"""Handshakes across a root rotation, over real sockets: a node re-issued a certificate by the
new root is accepted by nodes that trust only the old one (the cross-signature), nodes that
finished the rotation refuse old-root certificates, and joining with a token that pins the
old root still works while the rotation runs."""

import time

import pytest
import trio

from swarmlet.security.ca import CertificateAuthority
from swarmlet.security.certs import ClusterRoot, verify_certificate
from swarmlet.security.identity import NodeIdentity
from swarmlet.security.tokens import JoinTokens
from swarmlet.wire.endpoint import Listener, dial, request_certificate
from swarmlet.wire.handshake import HandshakeError, SessionPolicy
from swarmlet.wire.session import Credentials

from .wire_fixtures import echo

pytestmark = pytest.mark.anyio


class Rotation:
    """An old root, a new root and the old root's cross-signature of the new one."""

    def __init__(self):
        self.old, self.new = ClusterRoot.generate(), ClusterRoot.generate()
        self.xsig = self.old.cross_sign(self.new.public_key)

    def _creds(self, root, role, **trust):
        ident = NodeIdentity.generate()
        cert = root.issue(ident.node_id, role, ident.public_key, time.time(), lifetime=3600)
        return Credentials(ident, cert, self.old.public_key, **trust)

    def unaware(self, role="manager"):
        """Has not heard of the rotation: old-root certificate, trusts the old root only."""
        return self._creds(self.old, role)

    def moved(self, role="manager"):
        """New-root certificate presented with the cross-signature; trusts both roots."""
        return self._creds(
            self.new,
            role,
            extra_roots=(self.new.public_key,),
            issuer=self.new.public_key,
            cross_signature=self.xsig,
        )

    def finished(self, role="manager"):
        """The rotation is over: the new root is the root, the old one is not trusted."""
        creds = self._creds(self.new, role)
        creds.root_public_key = self.new.public_key
        return creds


async def talk(server, client, policy=SessionPolicy()):
    """The server as the client sees it after a round trip; HandshakeError if refused."""
    refused = None
    async with trio.open_nursery() as nursery:
        listener = Listener(server, echo, policy)
        port = await nursery.start(listener.serve, "127.0.0.1", 0)
        try:
            session = await dial(nursery, f"127.0.0.1:{port}", client)
            await session.send("ping")
            assert await session.receive() == "ping"
            await session.aclose()
        except HandshakeError as exc:
            refused = exc
        nursery.cancel_scope.cancel()
    if refused is not None:
        raise refused
    return session.peer


@pytest.mark.parametrize(
    "server,client",
    [("unaware", "moved"), ("moved", "unaware"), ("moved", "moved"), ("finished", "moved"),
     ("moved", "finished"), ("finished", "finished")],
)  # fmt: skip
async def test_nodes_keep_talking_through_a_rotation(server, client):
    rot = Rotation()
    peer = await talk(getattr(rot, server)(), getattr(rot, client)())
    assert peer.role == "manager"


async def test_finished_node_refuses_an_old_root_certificate():
    rot = Rotation()
    late = rot.unaware()
    late.extra_roots = (rot.new.public_key,)  # trusts the new root, still holds an old cert
    with pytest.raises(HandshakeError, match="refused by node .*not signed by this cluster's"):
        await talk(rot.finished(), late)
    for server, client in ((rot.finished(), rot.unaware()), (rot.unaware(), rot.finished())):
        with pytest.raises(HandshakeError, match="not signed by this cluster's root"):
            await talk(server, client)


async def test_join_with_the_old_token_during_a_rotation():
    rot = Rotation()
    tokens = JoinTokens.generate(rot.old.public_key)
    ca = CertificateAuthority(rot.old, lambda: tokens)
    manager = rot.moved()
    async with trio.open_nursery() as nursery:
        listener = Listener(manager, echo, SessionPolicy(authorize_join=ca.authorize_join))
        port = await nursery.start(listener.serve, "127.0.0.1", 0)
        ident = NodeIdentity.generate()
        cert, root = await request_certificate(f"127.0.0.1:{port}", ident, tokens.worker)
        assert root == rot.old.public_key
        verify_certificate(cert, rot.old.public_key, time.time())
        # and the joiner then talks to the manager whose certificate is of the new root
        session = await dial(nursery, f"127.0.0.1:{port}", Credentials(ident, cert, root))
        assert session.peer.node_id == manager.identity.node_id
        await session.aclose()
        nursery.cancel_scope.cancel()
