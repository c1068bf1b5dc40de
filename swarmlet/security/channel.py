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
from nacl._sodium import ffi, lib

_PAD = bytes(16)
TAG_BYTES = 16
KEY_BYTES = 32
# Frame buffers are written in full by libsodium, so zero-filling them first is wasted work
# (the nacl.bindings wrappers zero-fill, which costs a pass over every large frame).
_uncleared = ffi.new_allocator(should_clear_after_alloc=False)


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
        self._key = _checked_key(key)
        self.counter = 0

    def seal(self, plaintext: bytes) -> bytes:
        """One frame: ciphertext and tag. `plaintext` may be any contiguous buffer."""
        nonce = _PAD + self.counter.to_bytes(8, "little")
        n = len(plaintext)
        out = _uncleared("unsigned char[]", n + TAG_BYTES)
        # Cannot fail for lengths below 2**64; the return value is always 0.
        lib.crypto_aead_xchacha20poly1305_ietf_encrypt(
            out, ffi.NULL, ffi.from_buffer(plaintext), n, ffi.NULL, 0, ffi.NULL, nonce, self._key
        )
        self.counter += 1
        return ffi.buffer(out)[:]


class FrameOpener:
    """Opens incoming frames, expecting exactly the next counter."""

    __slots__ = ("_key", "counter")

    def __init__(self, key: bytes) -> None:
        self._key = _checked_key(key)
        self.counter = 0

    def open(self, frame: bytes) -> bytes:
        nonce = _PAD + self.counter.to_bytes(8, "little")
        n = len(frame) - TAG_BYTES if isinstance(frame, (bytes, bytearray)) else -1
        if n < 0:
            raise self._failed()
        out = _uncleared("unsigned char[]", max(n, 1))
        rc = lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
            out,
            ffi.NULL,
            ffi.NULL,
            ffi.from_buffer(frame),
            n + TAG_BYTES,
            ffi.NULL,
            0,
            nonce,
            self._key,
        )
        if rc != 0:
            raise self._failed()
        self.counter += 1
        return ffi.buffer(out, n)[:]

    def _failed(self) -> ChannelError:
        return ChannelError(
            f"frame {self.counter} failed authentication (altered, replayed or reordered)"
        )


def _checked_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError("a channel key is 32 bytes")
    return key
