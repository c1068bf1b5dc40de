"""The swarm's certificate authority as the cluster object holds it, and root rotation.

The cluster object keeps the root key (``Swarmlet.RootKey``, sealed at rest with the rest of
the raft log) and, while ``swarm ca --rotate`` runs, the next root under
``Swarmlet.RootRotation`` with the current root's cross-signature of it. During a rotation:

- every node trusts both roots and is re-issued a certificate signed by the next root (the
  cross-signature lets nodes that have not heard of the rotation yet accept it);
- each node's certificate issuer is recorded in its node object (``Description.TLSInfo``);
- once every live node reports the next root, the leader makes it the root, drops the old
  one, and regenerates both join tokens (they pin the root's digest), so old tokens fail.

Everything here is pure: keys and times come in as arguments.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from swarmlet.manager.specs.cluster import DEFAULT_CERT_EXPIRY
from swarmlet.manager.specs.common import SECOND
from swarmlet.security.certs import (
    Certificate,
    CertificateError,
    ClusterRoot,
    verify_certificate,
    vouches,
)
from swarmlet.security.tokens import JoinTokens
from swarmlet.store.objects import SWARMLET_KEY, dig

ROTATION_KEY = "RootRotation"
TRUST_ROOT_LABEL = "SWARMLET ROOT PUBLIC KEY"
# Docker's CA names itself `swarm-ca`; its subject is what a node sees as the issuer.
ISSUER_SUBJECT = b"CN=swarm-ca"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)


def cert_lifetime(cluster: dict | None) -> float:
    """Seconds a certificate issued now is valid for (``CAConfig.NodeCertExpiry``)."""
    ns = dig(cluster, "Spec.CAConfig.NodeCertExpiry") or DEFAULT_CERT_EXPIRY
    return ns / SECOND


def force_rotate_counter(spec: dict | None) -> int:
    value = dig(spec, "CAConfig.ForceRotate", 0) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("CAConfig.ForceRotate must be a non-negative integer")
    return value


def rotation_requested(current_spec: dict | None, new_spec: dict | None) -> bool:
    """Whether a cluster update asks for a new root: Docker's CLI bumps ForceRotate."""
    return force_rotate_counter(new_spec) != force_rotate_counter(current_spec)


@dataclass(frozen=True)
class ClusterCA:
    """The signing state one manager reads from the cluster object."""

    root: ClusterRoot
    next_root: ClusterRoot | None
    cross_signature: bytes | None
    lifetime: float
    revoked: frozenset[str]

    @classmethod
    def from_cluster(cls, cluster: dict) -> ClusterCA:
        extra = cluster.get(SWARMLET_KEY) or {}
        root = ClusterRoot.from_bytes(_unb64(extra.get("RootKey")))
        rotation = extra.get(ROTATION_KEY) or None
        next_root = xsig = None
        if rotation:
            next_root = ClusterRoot.from_bytes(_unb64(rotation["RootKey"]))
            xsig = _unb64(rotation["CrossSignature"])
        return cls(
            root,
            next_root,
            xsig,
            cert_lifetime(cluster),
            frozenset(extra.get("RevokedNodes") or ()),
        )

    @property
    def rotating(self) -> bool:
        return self.next_root is not None

    @property
    def signing_root(self) -> ClusterRoot:
        """The root new certificates are signed by: the next one during a rotation."""
        return self.next_root or self.root

    @property
    def trusted(self) -> tuple[bytes, ...]:
        keys = (self.root.public_key,)
        return keys + ((self.next_root.public_key,) if self.next_root else ())

    def issuer_of(self, cert: Certificate, now: float) -> bytes | None:
        """The public key of the trusted root that signed `cert` (valid at `now`), else None."""
        for key in self.trusted:
            try:
                verify_certificate(cert, key, now)
            except CertificateError:
                continue
            return key
        return None

    def issue(self, node_id: str, role: str, pubkey: bytes, now: float) -> Certificate:
        return self.signing_root.issue(node_id, role, pubkey, now, lifetime=self.lifetime)

    def needs_certificate(self, cert: Certificate, now: float, renew: bool) -> bool:
        """Whether a node holding `cert` gets a new one: it asked (renewal due), or the
        certificate is not signed by the signing root (a rotation is under way)."""
        if cert.node_id in self.revoked:
            return False
        return renew or self.issuer_of(cert, now) != self.signing_root.public_key

    def trust(self) -> dict:
        """What a node must trust now, as sent to it: the root, the next root, and the
        cross-signature it presents with a certificate of the next root."""
        out = {"root": self.root.public_key, "next": b"", "xsig": b""}
        if self.next_root is not None and self.cross_signature is not None:
            out["next"] = self.next_root.public_key
            out["xsig"] = self.cross_signature
        return out


def start_rotation(cluster: dict, next_root: ClusterRoot) -> dict:
    """The swarmlet fields that start a rotation to `next_root` (a rotation already under
    way is replaced: its half-done certificates get re-issued under the newest root)."""
    current = ClusterCA.from_cluster(cluster)
    return {
        ROTATION_KEY: {
            "RootKey": _b64(next_root.to_bytes()),
            "RootPublicKey": _b64(next_root.public_key),
            "CrossSignature": _b64(current.root.cross_sign(next_root.public_key)),
        }
    }


def node_issuer(node: dict) -> bytes:
    """The root key a node last reported its certificate signed by (b"" if never)."""
    try:
        return _unb64(dig(node, "Description.TLSInfo.CertIssuerPublicKey") or "")
    except ValueError:
        return b""


LIVE_STATES = ("ready", "unknown")  # "unknown": registered, first heartbeat not in yet


def is_live(node: dict) -> bool:
    return dig(node, "Status.State") in LIVE_STATES


def rotation_pending(cluster: dict, nodes: list[dict]) -> list[str]:
    """IDs of live nodes whose certificate is not signed by the next root yet (a node that
    has just joined counts from its registration). Down nodes do not hold the rotation up;
    they cannot come back with their old certificates."""
    ca = ClusterCA.from_cluster(cluster)
    if ca.next_root is None:
        return []
    want = ca.next_root.public_key
    return sorted(
        n["ID"]
        for n in nodes
        if is_live(n) and n["ID"] not in ca.revoked and node_issuer(n) != want
    )


def rotation_progress(cluster: dict, nodes: list[dict]) -> tuple[int, int]:
    """(live nodes on the next root, live nodes) for progress reports."""
    live = [n for n in nodes if is_live(n)]
    return len(live) - len(rotation_pending(cluster, nodes)), len(live)


def finish_rotation(cluster: dict) -> tuple[dict, dict]:
    """(swarmlet fields, join tokens) that end a rotation: the next root becomes the root
    and both tokens are made anew for its digest."""
    ca = ClusterCA.from_cluster(cluster)
    if ca.next_root is None:
        raise ValueError("no root rotation is under way")
    new = ca.next_root
    tokens = JoinTokens.generate(new.public_key)
    fields = {
        "RootKey": _b64(new.to_bytes()),
        "RootPublicKey": _b64(new.public_key),
        ROTATION_KEY: None,
    }
    return fields, {"Worker": str(tokens.worker), "Manager": str(tokens.manager)}


def root_tls_info(key: bytes) -> dict:
    """Docker's TLSInfo for a root: the trust root as PEM-style text (here the root's Ed25519
    public key, which is what swarmlet's certificates chain to), the issuer subject and key."""
    encoded = _b64(key)
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)] or [""]
    pem = "\n".join(
        [f"-----BEGIN {TRUST_ROOT_LABEL}-----", *lines, f"-----END {TRUST_ROOT_LABEL}-----", ""]
    )
    return {
        "TrustRoot": pem if key else "",
        "CertIssuerSubject": _b64(ISSUER_SUBJECT) if key else "",
        "CertIssuerPublicKey": encoded,
    }


def node_tls_info(cert: Certificate, issuer: bytes, rfc3339) -> dict:
    """A node's TLSInfo from the certificate it holds: Docker's three fields for its issuer,
    and swarmlet's validity of the certificate (`rfc3339` formats a time)."""
    return {
        **root_tls_info(issuer),
        "CertNotBefore": rfc3339(cert.not_before),
        "CertNotAfter": rfc3339(cert.not_after),
    }


@dataclass(frozen=True)
class HeldCredentials:
    """What a node holds after a manager's answer to its periodic question."""

    certificate: Certificate
    root: bytes
    extra_roots: tuple[bytes, ...]
    issuer: bytes | None
    cross_signature: bytes | None


def credentials_from_reply(reply: dict, held: Certificate) -> HeldCredentials:
    """The node's credentials after a manager's answer (`ClusterCA.trust()` plus perhaps a
    new certificate). Raises CertificateError when the answer does not fit together (the
    node then keeps what it has): a certificate for another node or key, or one that none of
    the named roots signed."""
    root, nxt, xsig = reply.get("root"), reply.get("next") or None, reply.get("xsig") or None
    if not isinstance(root, bytes) or len(root) != 32:
        raise CertificateError("the manager named no valid root")
    if nxt is not None and (not isinstance(nxt, bytes) or len(nxt) != 32):
        raise CertificateError("the manager named an invalid next root")
    cert = held
    if reply.get("cert") is not None:
        cert = Certificate.from_bytes(reply["cert"])
        if (cert.node_id, cert.pubkey) != (held.node_id, held.pubkey):
            raise CertificateError("the manager sent a certificate for another node or key")
    if _signed_by(cert, root):
        return HeldCredentials(cert, root, (nxt,) if nxt else (), None, None)
    if nxt is not None and xsig is not None and _signed_by(cert, nxt) and vouches(root, nxt, xsig):
        return HeldCredentials(cert, root, (nxt,), nxt, xsig)
    raise CertificateError("the certificate is not signed by the roots the manager named")


def _signed_by(cert: Certificate, key: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(key).verify(cert.body, cert.signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True


def needs_rotation(cluster: dict | None, node: dict) -> bool:
    """Whether `node ls` shows the node's TLS status as "Needs Rotation": a root rotation is
    under way and the node's certificate is not of the next root yet."""
    rotation = dig(cluster, f"{SWARMLET_KEY}.{ROTATION_KEY}")
    if not rotation:
        return False
    try:
        return node_issuer(node) != _unb64(rotation.get("RootPublicKey"))
    except ValueError:
        return False
