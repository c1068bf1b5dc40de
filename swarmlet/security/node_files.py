"""A node's cluster membership on disk: its certificate and the cluster root public key.

Written after a join (or by ``init``) next to the identity key, each with mode 0600, and read
at every start. The root's private key is not kept here: it lives in the raft store.
"""

from __future__ import annotations

import os
from pathlib import Path

import cbor2

from swarmlet.security.certs import Certificate
from swarmlet.security.identity import write_private_file

CERT_FILE = "node-cert.cbor"
ROOT_FILE = "cluster-root.pub"
TRUST_FILE = "cluster-trust.cbor"  # only during a root rotation


def save_membership(
    data_dir: str | os.PathLike[str], cert: Certificate, root_public_key: bytes
) -> None:
    d = Path(data_dir)
    write_private_file(d / ROOT_FILE, root_public_key)
    write_private_file(d / CERT_FILE, cert.to_bytes())


def load_membership(data_dir: str | os.PathLike[str]) -> tuple[Certificate, bytes] | None:
    """(certificate, root public key), or None if this node has not joined a swarm."""
    d = Path(data_dir)
    if not (d / CERT_FILE).exists() or not (d / ROOT_FILE).exists():
        return None
    root = (d / ROOT_FILE).read_bytes()
    if len(root) != 32:
        raise ValueError(f"{d / ROOT_FILE} is damaged: a root public key is 32 bytes")
    return Certificate.from_bytes((d / CERT_FILE).read_bytes()), root


def save_rotation_trust(
    data_dir: str | os.PathLike[str],
    extra_roots: tuple[bytes, ...],
    issuer: bytes | None,
    cross_signature: bytes | None,
) -> None:
    """What a node trusts and presents beside its root during a root rotation (nothing, and
    no file, outside one)."""
    path = Path(data_dir) / TRUST_FILE
    if not extra_roots and issuer is None:
        path.unlink(missing_ok=True)
        return
    doc = {"extra_roots": list(extra_roots), "issuer": issuer, "xsig": cross_signature}
    write_private_file(path, cbor2.dumps(doc, canonical=True))


def load_rotation_trust(
    data_dir: str | os.PathLike[str],
) -> tuple[tuple[bytes, ...], bytes | None, bytes | None]:
    """(extra trusted roots, issuer of this node's certificate, cross-signature)."""
    path = Path(data_dir) / TRUST_FILE
    if not path.exists():
        return (), None, None
    try:
        doc = cbor2.loads(path.read_bytes(), max_depth=3, allow_indefinite=False)
        roots = tuple(doc["extra_roots"])
        issuer, xsig = doc["issuer"], doc["xsig"]
        if not all(isinstance(r, bytes) and len(r) == 32 for r in roots):
            raise ValueError("bad root")
        if issuer is not None and (not isinstance(issuer, bytes) or len(issuer) != 32):
            raise ValueError("bad issuer")
        if xsig is not None and (not isinstance(xsig, bytes) or len(xsig) != 64):
            raise ValueError("bad cross-signature")
    except Exception as exc:
        raise ValueError(f"{path} is damaged: {exc}") from None
    return roots, issuer, xsig


def forget_membership(data_dir: str | os.PathLike[str]) -> None:
    """``swarm leave``: drop certificate and root, keep the identity."""
    for name in (CERT_FILE, ROOT_FILE, TRUST_FILE):
        (Path(data_dir) / name).unlink(missing_ok=True)
