"""Strict CBOR for bytes that another node may have shaped.

cbor2's defaults suit trusted data: it ignores trailing bytes, accepts duplicate keys and
indefinite lengths, and turns tags into bignums, sets, dates and even cyclic structures. The
wire, the store and gossip all decode through `decode` instead, which refuses all of that;
each passes its own depth and size limits and keeps its own error type.
"""

from __future__ import annotations

import io

import cbor2

MAX_DEPTH = 16
MAX_FRAME = 1 << 20

# Tags cbor2 decodes itself (found by probing cbor2 6.3); any other tag reaches the tag hook.
_BUILTIN_TAGS = (0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 28, 29, 30, 32, 33, 34, 35, 36, 37)
_BUILTIN_TAGS += (52, 54, 100, 256, 258, 260, 261, 270, 272, 1004, 43000, 55799)


EncodeError = cbor2.CBOREncodeError  # a value that is not plain CBOR data


class DecodeError(ValueError):
    """Bytes that are not one acceptable CBOR value."""


def _refuse_tag(*_args):
    raise DecodeError("CBOR tags are not accepted")


_SEMANTIC = dict.fromkeys(_BUILTIN_TAGS, _refuse_tag)


def encode(obj: object, canonical: bool = False) -> bytes:
    """CBOR that keeps map key order; ``canonical=True`` sorts keys, for anything signed."""
    return cbor2.dumps(obj, canonical=canonical)


def decode(
    data: bytes,
    max_depth: int = MAX_DEPTH,
    max_size: int | None = MAX_FRAME,
    *,
    plain_only: bool = True,
    text_keys: bool = False,
) -> object:
    """One CBOR value of plain data that fills `data` exactly; DecodeError for anything else.

    ``max_size=None`` lifts the size cap; ``plain_only=False`` skips the walk that refuses
    cbor2's special values (it costs about half again the decode time on a large snapshot);
    ``text_keys=True`` also refuses map keys that are not strings.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("frame is not binary")
    if max_size is not None and len(data) > max_size:
        raise DecodeError(f"frame of {len(data)} bytes exceeds {max_size}")
    if not data:
        raise DecodeError("empty frame")
    fp = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            fp,
            read_size=max(4096, len(data)),  # one read: the default 4 KiB makes big frames slow
            max_depth=max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
            semantic_decoders=_SEMANTIC,
            tag_hook=_refuse_tag,
        ).decode()
    except DecodeError:
        raise
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        cause = exc.__cause__
        if isinstance(cause, DecodeError):
            raise DecodeError(str(cause)) from None
        raise DecodeError(f"invalid CBOR: {exc}") from None
    if fp.tell() != len(data):
        raise DecodeError(f"{len(data) - fp.tell()} trailing bytes after the CBOR value")
    if plain_only:
        _check_simple(value, text_keys)
    return value


_SIMPLE = (int, str, bytes, float, bool, type(None))


def _check_simple(value: object, text_keys: bool) -> None:
    """Only plain data may come out (no cbor2 special objects such as `undefined`)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if text_keys and type(k) is not str:
                raise DecodeError("map key is not a string")
            _check_simple(k, text_keys)
            _check_simple(v, text_keys)
    elif t is list:
        for v in value:
            _check_simple(v, text_keys)
    elif t not in _SIMPLE:
        raise DecodeError(f"CBOR value of type {t.__name__} is not accepted")
