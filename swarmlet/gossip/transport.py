"""What the gossip runner needs from a transport, and the strict message codec.

A transport delivers whole messages (dicts) best-effort, like datagrams: `send` never blocks
and may drop; received messages arrive on `inbound`. The runner depends only on this, so the
secure wire can replace the plain websocket adapter without touching the runner.
"""

from __future__ import annotations

from typing import Protocol

MAX_FRAME = 1 << 20
_MAX_DEPTH = 12


class Transport(Protocol):
    inbound: object  # a trio.MemoryReceiveChannel of message dicts

    def send(self, to: str | None, addr: str, msg: dict) -> None:
        """Queue msg for member `to` at `addr`; never blocks, may drop."""


class BadFrame(ValueError):
    pass


def encode(msg: dict) -> bytes:
    from swarmlet import codec

    return codec.encode(msg)


def decode(frame: bytes) -> dict:
    """Decode one untrusted frame: one CBOR map of plain values, nothing trailing."""
    from swarmlet import codec

    if not isinstance(frame, bytes | bytearray):
        raise BadFrame("frame is not binary")
    try:
        msg = codec.decode(frame, _MAX_DEPTH, MAX_FRAME, text_keys=True)
    except codec.DecodeError as exc:
        raise BadFrame(f"undecodable frame: {exc}") from None
    if not isinstance(msg, dict):
        raise BadFrame("message is not a map")
    return msg
