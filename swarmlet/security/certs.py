"""The cluster root key and the node certificates it signs.

A certificate is canonical CBOR ``{node_id, role, pubkey, not_before, not_after}`` plus the
root's Ed25519 signature over exactly those bytes. Times are seconds since the epoch and are
always passed in, so that every function here is pure.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Collection, Container
from dataclasses import dataclass

import cbor2
import nacl.exceptions
import nacl.signing

from swarmlet.security.identity import is_node_id

ROLES = ("manager", "worker")
DEFAULT_CERT_LIFETIME = 90 * 24 * 3600.0
CLOCK_SKEW_BACKDATE = 5 * 60.0
RENEWAL_WINDOW = (0.5, 0.8)
MAX_CERT_BYTES = 512
CROSS_SIGN_LABEL = b"swarmlet root transition v1"


class CertificateError(Exception):
    """A certificate that must not be trusted; the message says why."""


@dataclass(frozen=True)
class ClusterRoot:
    """The cluster's root of trust. Only managers hold the private half."""

    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> ClusterRoot:
        return cls(nacl.signing.SigningKey.generate())

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def fingerprint(self) -> bytes:
        return root_fingerprint(self.public_key)

    def to_bytes(self) -> bytes:
        return bytes(self.signing_key)

    @classmethod
    def from_bytes(cls, data: bytes) -> ClusterRoot:
        if not isinstance(data, bytes) or len(data) != 32:
            raise ValueError("a cluster root key is 32 bytes")
        return cls(nacl.signing.SigningKey(data))

    def issue(
        self,
        node_id: str,
        role: str,
        pubkey: bytes,
        now: float,
        lifetime: float = DEFAULT_CERT_LIFETIME,
        backdate: float = CLOCK_SKEW_BACKDATE,
    ) -> Certificate:
        """Sign a certificate valid from a little before `now` (clock skew) for `lifetime`."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if not is_node_id(node_id):
            raise ValueError(f"invalid node ID {node_id!r}")
        if len(pubkey) != 32:
            raise ValueError("a node public key is 32 bytes")
        if lifetime <= 0:
            raise ValueError("certificate lifetime must be positive")
        nb, na = int(now - backdate), int(now + lifetime)
        body = _body_bytes(node_id, role, pubkey, nb, na)
        return Certificate(
            node_id, role, bytes(pubkey), nb, na, self.signing_key.sign(body).signature
        )

    def cross_sign(self, new_root_public_key: bytes) -> bytes:
        """This root's word that `new_root_public_key` speaks for the cluster too (a root
        rotation): nodes that trust only this root then accept certificates of the new one."""
        if len(new_root_public_key) != 32:
            raise ValueError("a root public key is 32 bytes")
        return self.signing_key.sign(CROSS_SIGN_LABEL + new_root_public_key).signature


def vouches(root_public_key: bytes, new_root_public_key: bytes, cross_signature: bytes) -> bool:
    """Whether `cross_signature` is `root_public_key`'s cross-signature of the new root."""
    try:
        nacl.signing.VerifyKey(root_public_key).verify(
            CROSS_SIGN_LABEL + new_root_public_key, cross_signature
        )
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def issuing_root(
    root: bytes,
    issuer: bytes | None,
    cross_signature: bytes | None,
    trusted: Collection[bytes],
) -> bytes:
    """The root key a presented certificate must verify under, if the verifier may trust it.

    A node presents the cluster root it knows (`root`) and, during a root rotation, the new
    root that signed its certificate (`issuer`) with `root`'s cross-signature of it. The
    issuer is trusted directly, or through a trusted `root` that vouches for it. Raises
    CertificateError when neither holds (the peer belongs to another swarm).
    """
    key = root if issuer is None else issuer
    if _member(key, trusted):
        return key
    if (
        issuer is not None
        and cross_signature is not None
        and _member(root, trusted)
        and vouches(root, issuer, cross_signature)
    ):
        return issuer
    raise CertificateError(
        "the peer's certificate is not signed by this cluster's root (it belongs to another "
        "swarm, or to a root this swarm no longer trusts)"
    )


def _member(key: bytes, keys: Collection[bytes]) -> bool:
    found = False
    for candidate in keys:
        found |= len(candidate) == len(key) and hmac.compare_digest(candidate, key)
    return found


def root_fingerprint(root_public_key: bytes) -> bytes:
    """sha256 of the root public key: what a join token pins."""
    return hashlib.sha256(root_public_key).digest()


def _body_bytes(node_id: str, role: str, pubkey: bytes, not_before: int, not_after: int) -> bytes:
    return cbor2.dumps(
        {
            "node_id": node_id,
            "role": role,
            "pubkey": pubkey,
            "not_before": not_before,
            "not_after": not_after,
        },
        canonical=True,
    )


@dataclass(frozen=True)
class Certificate:
    node_id: str
    role: str
    pubkey: bytes
    not_before: int
    not_after: int
    signature: bytes

    @property
    def body(self) -> bytes:
        return _body_bytes(self.node_id, self.role, self.pubkey, self.not_before, self.not_after)

    @property
    def lifetime(self) -> int:
        return self.not_after - self.not_before

    def to_bytes(self) -> bytes:
        return cbor2.dumps([self.body, self.signature], canonical=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Parse (not verify) a certificate; CertificateError if it is malformed."""
        from swarmlet.wire.codec import DecodeError, decode

        try:
            if len(data) > MAX_CERT_BYTES:
                raise DecodeError("too large")
            outer = decode(data, max_depth=2)
            if not (isinstance(outer, list) and len(outer) == 2):
                raise DecodeError("not [body, signature]")
            body, sig = outer
            if not isinstance(body, bytes) or not isinstance(sig, bytes) or len(sig) != 64:
                raise DecodeError("bad body or signature")
            fields = decode(body, max_depth=2)
        except DecodeError as exc:
            raise CertificateError(f"malformed certificate: {exc}") from None
        expect = {"node_id": str, "role": str, "pubkey": bytes, "not_before": int, "not_after": int}
        if not isinstance(fields, dict) or set(fields) != set(expect):
            raise CertificateError("malformed certificate: wrong fields")
        for name, typ in expect.items():
            if not isinstance(fields[name], typ) or isinstance(fields[name], bool):
                raise CertificateError(f"malformed certificate: {name} is not {typ.__name__}")
        cert = cls(signature=sig, **fields)
        if cert.body != body:
            raise CertificateError("malformed certificate: body is not canonical")
        return cert


def verify_certificate(
    cert: Certificate,
    root_public_key: bytes,
    now: float,
    revoked: Container[str] = frozenset(),
    roles: Container[str] | None = None,
) -> Certificate:
    """Return `cert` if the root signed it, it is valid at `now`, not revoked and of an allowed role.

    Raises CertificateError with the reason otherwise.
    """
    try:
        nacl.signing.VerifyKey(root_public_key).verify(cert.body, cert.signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        raise CertificateError(
            f"certificate of node {cert.node_id} is not signed by this cluster's root"
        ) from None
    if cert.role not in ROLES or not is_node_id(cert.node_id) or len(cert.pubkey) != 32:
        raise CertificateError(f"certificate of node {cert.node_id} has invalid contents")
    if now < cert.not_before:
        raise CertificateError(f"certificate of node {cert.node_id} is not valid yet")
    if now >= cert.not_after:
        raise CertificateError(f"certificate of node {cert.node_id} has expired")
    if cert.node_id in revoked:
        raise CertificateError(f"node {cert.node_id} has been removed from the cluster")
    if roles is not None and cert.role not in roles:
        wanted = (
            " or ".join(sorted(roles)) if isinstance(roles, (set, frozenset)) else "another role"
        )
        raise CertificateError(
            f"node {cert.node_id} is a {cert.role}; this channel needs a {wanted}"
        )
    return cert


def renewal_time(cert: Certificate, rng: random.Random) -> float:
    """When to renew: a random 50-80 % into the lifetime, so a cluster does not renew at once."""
    return cert.not_before + cert.lifetime * rng.uniform(*RENEWAL_WINDOW)


def renewal_due(cert: Certificate, now: float, rng: random.Random) -> bool:
    """Whether `cert` should be renewed at `now`.

    Each call draws a fresh point in the window; a runner that checks often should draw once with
    `renewal_time` and keep it.
    """
    return now >= renewal_time(cert, rng)


class RevocationSet:
    """Node IDs whose certificates no longer count (``node rm``). Verifiers test membership."""

    def __init__(self, node_ids: frozenset[str] | set[str] = frozenset()) -> None:
        self._ids = set(node_ids)

    def revoke(self, node_id: str) -> None:
        self._ids.add(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        return iter(sorted(self._ids))
