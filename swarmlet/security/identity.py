"""A node's own identity: an Ed25519 signing key and a node ID, kept in the data dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cbor2
import nacl.signing
import nacl.utils

from swarmlet.security import base36

IDENTITY_FILE = "node-identity.cbor"
NODE_ID_LENGTH = 25


def new_node_id() -> str:
    """A random node ID like Docker's: 128 random bits as 25 lowercase base36 characters."""
    return base36.encode(nacl.utils.random(16), NODE_ID_LENGTH)


def is_node_id(text: object) -> bool:
    if not isinstance(text, str) or len(text) != NODE_ID_LENGTH:
        return False
    try:
        base36.decode(text, 16)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NodeIdentity:
    """What a node is before any cluster knows it: its ID and its identity key."""

    node_id: str
    signing_key: nacl.signing.SigningKey

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @classmethod
    def generate(cls, node_id: str | None = None) -> NodeIdentity:
        return cls(node_id or new_node_id(), nacl.signing.SigningKey.generate())

    def to_bytes(self) -> bytes:
        return cbor2.dumps({"node_id": self.node_id, "seed": bytes(self.signing_key)})

    @classmethod
    def from_bytes(cls, data: bytes) -> NodeIdentity:
        try:
            doc = cbor2.loads(data, max_depth=2, allow_indefinite=False)
            node_id, seed = doc["node_id"], doc["seed"]
        except Exception as exc:
            raise ValueError(f"unreadable node identity: {exc}") from None
        if not is_node_id(node_id) or not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError("unreadable node identity: bad node_id or key")
        return cls(node_id, nacl.signing.SigningKey(seed))


def load_or_create_identity(data_dir: str | os.PathLike[str]) -> NodeIdentity:
    """The node's identity from `data_dir`, made (mode 0600, written atomically) at first start."""
    path = Path(data_dir) / IDENTITY_FILE
    if path.exists():
        return NodeIdentity.from_bytes(path.read_bytes())
    identity = NodeIdentity.generate()
    write_private_file(path, identity.to_bytes())
    return identity


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only; never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
