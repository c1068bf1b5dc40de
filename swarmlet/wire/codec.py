"""Strict CBOR for untrusted frames: the shared decoder at the wire's limits.

Every frame from another node goes through `decode`, which refuses trailing bytes, duplicate
keys, indefinite lengths, tags and anything but plain data (see swarmlet.codec).
"""

from __future__ import annotations

from swarmlet.codec import MAX_DEPTH, MAX_FRAME, DecodeError, EncodeError, decode, encode

__all__ = ["MAX_DEPTH", "MAX_FRAME", "DecodeError", "EncodeError", "decode", "encode"]
