"""Certificate renewal over a session: the manager side's handler and the node side's call.

A node renews before its certificate runs out (`security.certs.renewal_time`): it asks any
manager over its existing, authenticated session; the new certificate keeps its node ID, key
and role, and later handshakes present it.
"""

from __future__ import annotations

from swarmlet.security.ca import CertificateAuthority, JoinRefused
from swarmlet.security.certs import Certificate, CertificateError, verify_certificate
from swarmlet.wire.mux import Connection, RemoteError, Router
from swarmlet.wire.schema import Schema
from swarmlet.wire.session import Credentials, PeerInfo

RENEW = "ca.renew"


def register_certificate_service(router: Router, ca: CertificateAuthority) -> None:
    """On managers: answer renewal requests from verified peers."""

    async def renew(peer: PeerInfo, body: dict) -> dict:
        if peer.certificate is None:
            raise RemoteError("forbidden", "only a node with a certificate can renew it")
        try:
            return {"cert": ca.renew(peer.certificate).to_bytes()}
        except JoinRefused as exc:
            raise RemoteError("forbidden", str(exc)) from None

    router.request(RENEW, Schema(), renew)


async def renew_certificate(
    conn: Connection, creds: Credentials, timeout: float = 10.0
) -> Certificate:
    """Ask the manager on `conn` for a fresh certificate; on success `creds` holds it."""
    reply = await conn.request(RENEW, {}, timeout=timeout)
    try:
        if not isinstance(reply, dict) or not isinstance(reply.get("cert"), bytes):
            raise CertificateError("renewal reply carries no certificate")
        cert = verify_certificate(
            Certificate.from_bytes(reply["cert"]), creds.root_public_key, creds.clock()
        )
    except CertificateError as exc:
        raise RemoteError("invalid", f"renewed certificate is unusable: {exc}") from None
    old = creds.certificate
    if old is not None and (cert.node_id, cert.role, cert.pubkey) != (
        old.node_id,
        old.role,
        old.pubkey,
    ):
        raise RemoteError("invalid", "renewed certificate is for another node, role or key")
    creds.certificate = cert
    return cert
