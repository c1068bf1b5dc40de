"""Channel crypto: session keys from two X25519 ephemerals, and sealed frames.

Each direction has its own key (crypto_kx gives rx/tx pairs) and a frame counter that both
sides keep; the counter is the nonce and is never sent. A replayed, reordered, dropped or
altered frame therefore fails to open, and the session must end.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.bindings as b
import nacl.encoding
import nacl.exceptions
import nacl.hash

_aead_encrypt = b.crypto_aead_xchacha20poly1305_ietf_encrypt
_aead_decrypt = b.crypto_aead_xchacha20poly1305_ietf_decrypt
_PAD = bytes(16)
TAG_BYTES = 16


class ChannelError(Exception):
    """A frame that does not open: altered, replayed, reordered or from someone else."""


@dataclass
class Ephemeral:
    public: bytes
    secret: bytes

    @classmethod
    def generate(cls) -> Ephemeral:
        pk, sk = b.crypto_kx_keypair()
        return cls(pk, sk)


def session_keys(is_client: bool, own: Ephemeral, peer_public: bytes) -> tuple[bytes, bytes]:
    """(receive key, transmit key) for this side."""
    if len(peer_public) != 32:
        raise ChannelError("peer ephemeral key has the wrong length")
    try:
        if is_client:
            return b.crypto_kx_client_session_keys(own.public, own.secret, peer_public)
        return b.crypto_kx_server_session_keys(own.public, own.secret, peer_public)
    except nacl.exceptions.CryptoError as exc:
        raise ChannelError(f"key exchange failed: {exc}") from None


def transcript_hash(*parts: bytes) -> bytes:
    """BLAKE2b over length-prefixed parts, so that no two transcripts can collide by splicing."""
    data = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return nacl.hash.blake2b(data, digest_size=32, encoder=nacl.encoding.RawEncoder)


class FrameSealer:
    """Seals outgoing frames with XChaCha20-Poly1305 and a counter nonce."""

    __slots__ = ("_key", "counter")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.counter = 0

    def seal(self, plaintext: bytes) -> bytes:
        nonce = _PAD + self.counter.to_bytes(8, "little")
        self.counter += 1
        return _aead_encrypt(plaintext, None, nonce, self._key)


class FrameOpener:
    """Opens incoming frames, expecting exactly the next counter."""

    __slots__ = ("_key", "counter")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.counter = 0

    def open(self, frame: bytes) -> bytes:
        nonce = _PAD + self.counter.to_bytes(8, "little")
        try:
            plaintext = _aead_decrypt(frame, None, nonce, self._key)
        except (nacl.exceptions.CryptoError, TypeError, ValueError):
            raise ChannelError(
                f"frame {self.counter} failed authentication (altered, replayed or reordered)"
            ) from None
        self.counter += 1
        return plaintext
