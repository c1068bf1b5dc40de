"""A node's cluster membership on disk: its certificate and the cluster root public key.

Written after a join (or by ``init``) next to the identity key, each with mode 0600, and read
at every start. The root's private key is not kept here: it lives in the raft store.
"""

from __future__ import annotations

import os
from pathlib import Path

from swarmlet.security.certs import Certificate
from swarmlet.security.identity import write_private_file

CERT_FILE = "node-cert.cbor"
ROOT_FILE = "cluster-root.pub"


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


def forget_membership(data_dir: str | os.PathLike[str]) -> None:
    """``swarm leave``: drop certificate and root, keep the identity."""
    for name in (CERT_FILE, ROOT_FILE):
        (Path(data_dir) / name).unlink(missing_ok=True)
