"""Deterministic CBOR for commands and snapshots, decoded strictly.

Commands arrive from raft entries, which a faulty or hostile peer may have shaped: no tags,
no indefinite lengths, no duplicate keys, bounded depth, and nothing after the value.
"""

from __future__ import annotations

import contextlib
import gc
import io

import cbor2

MAX_DEPTH = 48

# Tags cbor2 would otherwise decode on its own (dates, bignums, shared values, ...).
_BUILTIN_TAGS = (0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 28, 29, 30, 32, 33, 34, 35, 36, 37)
_BUILTIN_TAGS += (256, 258, 260, 261, 270, 272, 55799)


class DecodeError(ValueError):
    """The bytes are not a plain, canonical-shaped CBOR value."""


def _refuse_tag(*_args):
    raise DecodeError("CBOR tags are not allowed")


_SEMANTIC = {tag: _refuse_tag for tag in _BUILTIN_TAGS}


def encode(value, *, canonical: bool = False) -> bytes:
    """CBOR that keeps map key order (Docker's field order survives raft and snapshots).

    The bytes are deterministic: replicas encode values decoded from the same entries, with
    the same key order. ``canonical=True`` sorts keys, for anything that is signed.
    """
    return cbor2.dumps(value, canonical=canonical)


def decode(data: bytes):
    """Decode one value; anything but plain maps, arrays, strings, numbers is refused."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("expected bytes")
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream,
            max_depth=MAX_DEPTH,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            tag_hook=_refuse_tag,
            semantic_decoders=_SEMANTIC,
        )
        value = decoder.decode()
    except DecodeError:
        raise
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise DecodeError(f"malformed CBOR: {exc}") from None
    if stream.tell() != len(data):
        raise DecodeError("trailing bytes after CBOR value")
    return value


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building millions of acyclic containers
    (a snapshot's objects): with a large live heap its passes cost more than the work."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
