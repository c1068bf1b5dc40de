"""Deterministic CBOR for commands and snapshots, decoded strictly.

Commands arrive from raft entries, which a faulty or hostile peer may have shaped: no tags,
no indefinite lengths, no duplicate keys, bounded depth, and nothing after the value.
"""

from __future__ import annotations

import contextlib
import gc

from swarmlet import codec as _strict

MAX_DEPTH = 48


class DecodeError(ValueError):
    """The bytes are not a plain, canonical-shaped CBOR value."""


def encode(value, *, canonical: bool = False) -> bytes:
    """CBOR that keeps map key order (Docker's field order survives raft and snapshots).

    The bytes are deterministic: replicas encode values decoded from the same entries, with
    the same key order. ``canonical=True`` sorts keys, for anything that is signed.
    """
    return _strict.encode(value, canonical=canonical)


def decode(data: bytes):
    """Decode one value; anything but plain maps, arrays, strings, numbers is refused.

    No size cap and no plain-data walk: a snapshot may be far larger than any frame, and the
    walk would add about half again to the decode time of a restore.
    """
    try:
        return _strict.decode(data, MAX_DEPTH, None, plain_only=False)
    except _strict.DecodeError as exc:
        raise DecodeError(str(exc)) from None


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
