"""An authenticated, encrypted session over one websocket.

`SecureSession` is what the handshake returns: it knows the peer (`PeerInfo`, from the peer's
verified certificate) and carries CBOR messages, each sealed in one websocket binary message.
Anything wrong on the way in (a frame that does not open, bad CBOR, a text message) closes the
session with a logged reason and raises `SessionClosed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field

import trio
import trio_websocket

from swarmlet.security.certs import Certificate, RevocationSet
from swarmlet.security.channel import ChannelError, FrameOpener, FrameSealer
from swarmlet.security.identity import NodeIdentity
from swarmlet.wire import codec

log = logging.getLogger("swarmlet.wire")

DEFAULT_PORT = 2377
MAX_MESSAGE = 1 << 20  # largest plaintext message
MAX_FRAME = MAX_MESSAGE + 64  # what the websocket layer lets through
CLOSE_POLICY = 1008


class SessionClosed(Exception):
    """The session ended; `reason` says why (peer closed, bad frame, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Credentials:
    """What a node presents and what it trusts. `revoked` may be updated in place.

    `root_public_key` is the cluster root (the one join tokens pin). During a root rotation
    the node also trusts `extra_roots` (the new root); a certificate already signed by the new
    root is presented with its `issuer` and `cross_signature` (the old root's word for the new
    one), so that nodes that have not heard of the rotation yet accept it too.
    """

    identity: NodeIdentity
    certificate: Certificate | None
    root_public_key: bytes | None
    revoked: Container[str] = field(default_factory=RevocationSet)
    clock: Callable[[], float] = time.time
    extra_roots: tuple[bytes, ...] = ()
    issuer: bytes | None = None
    cross_signature: bytes | None = None

    def trusted_roots(self) -> tuple[bytes, ...]:
        return (self.root_public_key or b"", *self.extra_roots)


@dataclass(frozen=True)
class PeerInfo:
    """The authenticated peer. `certificate` is None only for a node that is joining."""

    node_id: str
    role: str | None
    certificate: Certificate | None
    address: str


def websocket_address(ws: trio_websocket.WebSocketConnection) -> str:
    remote = ws.remote
    return f"{getattr(remote, 'address', '?')}:{getattr(remote, 'port', '?')}"


async def close_quietly(ws: trio_websocket.WebSocketConnection, reason: str) -> None:
    with trio.move_on_after(1) as scope:
        scope.shield = True
        try:
            await ws.aclose(CLOSE_POLICY, reason.encode()[:120].decode(errors="ignore"))
        except Exception:
            pass


class SecureSession:
    """Sealed CBOR messages over a websocket whose handshake is done."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        peer: PeerInfo,
        sealer: FrameSealer,
        opener: FrameOpener,
        max_message: int = MAX_MESSAGE,
    ) -> None:
        self.ws = ws
        self.peer = peer
        self._sealer = sealer
        self._opener = opener
        self._send_lock = trio.Lock()
        self.max_message = max_message
        self.closed_reason: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None or self.ws.closed is not None

    async def send(self, message: object) -> None:
        data = codec.encode(message)
        if len(data) > self.max_message:
            raise ValueError(f"message of {len(data)} bytes exceeds {self.max_message}")
        await self.send_encoded(data)

    async def send_encoded(self, data: bytes) -> None:
        """Seal and send an already encoded message (counters advance in send order)."""
        if self.closed_reason is not None:
            raise SessionClosed(self.closed_reason)
        # Cancelled before sealing: nothing happened. An uncontended lock is taken without a
        # schedule point (the send below has its own), one task switch less per frame.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._send_lock.acquire_nowait()
        except trio.WouldBlock:
            await self._send_lock.acquire()
        try:
            frame = self._sealer.seal(data)
            try:
                await self.ws.send_message(frame)
            except trio_websocket.ConnectionClosed as exc:
                raise SessionClosed(self._closed_by_peer(exc)) from None
            except BaseException:
                # Interrupted after sealing (cancelled): the counters and perhaps the websocket
                # framing no longer line up, so this session cannot carry another frame.
                if self.closed_reason is None:
                    self.closed_reason = "a send was interrupted"
                await close_quietly(self.ws, self.closed_reason)
                raise
        finally:
            self._send_lock.release()

    async def receive(self) -> object:
        if self.closed_reason is not None:
            raise SessionClosed(self.closed_reason)
        try:
            frame = await self.ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise SessionClosed(self._closed_by_peer(exc)) from None
        try:
            if not isinstance(frame, bytes):
                raise codec.DecodeError("text message on a binary channel")
            return codec.decode(self._opener.open(frame), max_size=self.max_message)
        except (ChannelError, codec.DecodeError) as exc:
            await self.abort(str(exc))
            raise SessionClosed(self.closed_reason) from None

    async def ping(self) -> None:
        """A websocket ping, answered by the peer's websocket layer: returns on its pong."""
        try:
            await self.ws.ping()
        except trio_websocket.ConnectionClosed as exc:
            raise SessionClosed(self._closed_by_peer(exc)) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise SessionClosed(self.closed_reason or "connection lost") from None

    async def abort(self, reason: str) -> None:
        """Close because of something the peer did; logged once."""
        if self.closed_reason is None:
            self.closed_reason = reason
            log.warning("closing session with %s: %s", self.describe(), reason)
        await close_quietly(self.ws, reason)

    async def aclose(self, reason: str = "closed") -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        with trio.move_on_after(1) as scope:
            scope.shield = True
            try:
                await self.ws.aclose(1000, reason[:120])
            except Exception:
                pass

    def describe(self) -> str:
        return f"node {self.peer.node_id} ({self.peer.role}) at {self.peer.address}"

    def _closed_by_peer(self, exc: trio_websocket.ConnectionClosed) -> str:
        if self.closed_reason is None:
            reason = exc.reason
            self.closed_reason = f"closed by peer ({reason.code} {reason.reason or ''})".strip()
        return self.closed_reason
