"""What the gossip runner needs from a transport, and the strict message codec.

A transport delivers whole messages (dicts) best-effort, like datagrams: `send` never blocks
and may drop; received messages arrive on `inbound`. The runner depends only on this, so the
secure wire can replace the plain websocket adapter without touching the runner.
"""

from __future__ import annotations

import io
from typing import Protocol

MAX_FRAME = 1 << 20
_MAX_DEPTH = 12
_PLAIN = (str, int, float, bool, bytes, type(None))


class Transport(Protocol):
    inbound: object  # a trio.MemoryReceiveChannel of message dicts

    def send(self, to: str | None, addr: str, msg: dict) -> None:
        """Queue msg for member `to` at `addr`; never blocks, may drop."""


class BadFrame(ValueError):
    pass


def encode(msg: dict) -> bytes:
    import cbor2

    return cbor2.dumps(msg)


def decode(frame: bytes) -> dict:
    """Decode one untrusted frame: one CBOR map of plain values, nothing trailing."""
    import cbor2

    if not isinstance(frame, bytes | bytearray) or len(frame) > MAX_FRAME:
        raise BadFrame("frame too large or not binary")
    fp = io.BytesIO(frame)
    try:
        dec = cbor2.CBORDecoder(
            fp, max_depth=_MAX_DEPTH, allow_indefinite=False, allow_duplicate_keys=False
        )
        msg = dec.decode()
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise BadFrame(f"undecodable frame: {exc}") from None
    if fp.tell() != len(frame):
        raise BadFrame("trailing bytes after message")
    if not isinstance(msg, dict):
        raise BadFrame("message is not a map")
    _check_plain(msg, 0)
    return msg


def _check_plain(value, depth):
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise BadFrame("non-string key")
            _check_plain(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_plain(v, depth + 1)
    elif not isinstance(value, _PLAIN):
        raise BadFrame(f"unexpected {type(value).__name__} in message")
