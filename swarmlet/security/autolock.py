"""Autolock: the data key that seals a manager's raft log at rest, wrapped by the operator's
unlock key (`SWMKEY-1-<base64 of 32 bytes>`, as Docker's). A restarted manager of a locked
swarm cannot open its log until `swarm unlock` gives the key back.
"""

from __future__ import annotations

import base64
import binascii
import os

PREFIX = "SWMKEY-1-"
DATA_KEY_FILE = "raft.key"
_WRAPPED = b"SWLK1"  # the file holds a wrapped key, not the key itself


class Locked(Exception):
    """The data key is wrapped and no unlock key was given."""


class BadUnlockKey(ValueError):
    """The key is malformed, or does not open this manager's data key."""


def new_unlock_key() -> str:
    from nacl.utils import random as random_bytes

    return PREFIX + base64.b64encode(random_bytes(32)).decode().rstrip("=")


def parse_unlock_key(text: str) -> bytes:
    text = (text or "").strip()
    if not text.startswith(PREFIX):
        raise BadUnlockKey("invalid unlock key: it must start with SWMKEY-1-")
    body = text[len(PREFIX) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadUnlockKey("invalid unlock key: not base64") from None
    if len(raw) != 32:
        raise BadUnlockKey("invalid unlock key: wrong length")
    return raw


def _write(path: str, data: bytes) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def is_wrapped(data_dir: str) -> bool:
    try:
        with open(os.path.join(data_dir, DATA_KEY_FILE), "rb") as f:
            return f.read(len(_WRAPPED)) == _WRAPPED
    except FileNotFoundError:
        return False


def load_data_key(data_dir: str, unlock_key: str | None = None) -> bytes:
    """The data key, made on first use (wrapped at once when an unlock key is given)."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox
    from nacl.utils import random as random_bytes

    path = os.path.join(data_dir, DATA_KEY_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        key = random_bytes(32)
        store_data_key(data_dir, key, unlock_key)
        return key
    if not data.startswith(_WRAPPED):
        if len(data) != 32:
            raise ValueError(f"{path} is damaged")
        return data
    if not unlock_key:
        raise Locked(
            "Swarm is encrypted and needs to be unlocked before it can be used. Please use "
            '"swarmlet swarm unlock" to unlock it.'
        )
    try:
        return SecretBox(parse_unlock_key(unlock_key)).decrypt(data[len(_WRAPPED) :])
    except CryptoError:
        raise BadUnlockKey("invalid key: it does not unlock this manager") from None


def store_data_key(data_dir: str, key: bytes, unlock_key: str | None) -> None:
    """Write the data key, wrapped by `unlock_key` when given, in clear otherwise."""
    from nacl.secret import SecretBox

    data = key
    if unlock_key:
        data = _WRAPPED + SecretBox(parse_unlock_key(unlock_key)).encrypt(key)
    _write(os.path.join(data_dir, DATA_KEY_FILE), data)
