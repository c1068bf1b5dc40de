"""The certificate authority's join decision: which token, which role, which certificate.

`CertificateAuthority.authorize_join` is the callback the wire's join mode calls on a manager.
The tokens and revocations are read through callables, because their source of truth (the raft
store) lives elsewhere and may change between calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container

from swarmlet.security.certs import DEFAULT_CERT_LIFETIME, Certificate, ClusterRoot
from swarmlet.security.identity import is_node_id, new_node_id
from swarmlet.security.tokens import JoinTokens, TokenError


class JoinRefused(Exception):
    """A join that must not happen; the message goes back to the joining node's user."""


class CertificateAuthority:
    def __init__(
        self,
        root: ClusterRoot,
        tokens: Callable[[], JoinTokens],
        *,
        revoked: Callable[[], Container[str]] = frozenset,
        clock: Callable[[], float] = time.time,
        lifetime: float = DEFAULT_CERT_LIFETIME,
    ) -> None:
        self.root = root
        self.tokens = tokens
        self.revoked = revoked
        self.clock = clock
        self.lifetime = lifetime

    def authorize_join(
        self,
        token: str,
        node_pubkey: bytes,
        requested_node_id: str | None = None,
        requested_role: str | None = None,
    ) -> Certificate:
        try:
            role = self.tokens().role_for(token)
        except TokenError as exc:
            raise JoinRefused(str(exc)) from None
        if requested_role is not None and requested_role != role:
            raise JoinRefused(
                f"this is a {role} join token, but the node asked to join as a {requested_role}. "
                f"Get the {requested_role} token with 'swarmlet swarm join-token {requested_role}' "
                "on a manager."
            )
        node_id = requested_node_id or new_node_id()
        if not is_node_id(node_id):
            raise JoinRefused("the joining node sent an invalid node ID")
        if node_id in self.revoked():
            raise JoinRefused(
                f"node ID {node_id} was removed from this swarm and cannot join again; "
                "remove the node's data directory so that it starts with a new identity"
            )
        return self.root.issue(node_id, role, node_pubkey, self.clock(), lifetime=self.lifetime)

    def renew(self, cert: Certificate) -> Certificate:
        """A fresh certificate for the same node, key and role (for a verified peer's renewal)."""
        if cert.node_id in self.revoked():
            raise JoinRefused(f"node {cert.node_id} was removed from this swarm")
        return self.root.issue(
            cert.node_id, cert.role, cert.pubkey, self.clock(), lifetime=self.lifetime
        )
