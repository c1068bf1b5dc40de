"""Shared helpers for the wire tests: a cluster root and node credentials made on the spot."""

import time

from swarmlet.security.certs import ClusterRoot
from swarmlet.security.identity import NodeIdentity
from swarmlet.wire.session import Credentials, SessionClosed


class TestCluster:
    __test__ = False

    def __init__(self):
        self.root = ClusterRoot.generate()

    def creds(self, role="manager", lifetime=3600.0, issued_at=None, revoked=None):
        ident = NodeIdentity.generate()
        now = time.time() if issued_at is None else issued_at
        cert = self.root.issue(ident.node_id, role, ident.public_key, now, lifetime=lifetime)
        c = Credentials(ident, cert, self.root.public_key)
        if revoked is not None:
            c.revoked = revoked
        return c


async def echo(session):
    """A session handler that sends back whatever it receives."""
    try:
        while True:
            await session.send(await session.receive())
    except SessionClosed:
        pass
