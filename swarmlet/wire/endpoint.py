"""Listening for and dialing node sessions: websocket plus handshake, with deadlines.

A listener never dies of what a peer sends: each connection runs in its own task, a handshake
has a deadline (slow-loris peers are cut off), the number of connections still in their
handshake is capped, and every failure is logged and counted in `Listener.refusals`.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Container

import trio
import trio_websocket

from swarmlet.security.certs import Certificate
from swarmlet.security.identity import NodeIdentity
from swarmlet.security.tokens import JoinToken
from swarmlet.wire.handshake import (
    HandshakeError,
    SessionPolicy,
    client_handshake,
    client_join,
    server_handshake,
)
from swarmlet.wire.session import (
    DEFAULT_PORT,
    MAX_FRAME,
    Credentials,
    SecureSession,
    close_quietly,
    websocket_address,
)

log = logging.getLogger("swarmlet.wire")

RESOURCE = "/swarmlet/v1"
HANDSHAKE_TIMEOUT = 10.0
MAX_PENDING_HANDSHAKES = 64
RECEIVE_QUEUE = 4  # frames buffered per connection before TCP pushes back
RECEIVE_BUFFER = 64 * 1024  # bytes per socket read (trio-websocket's 4 KiB default is slow)


def parse_address(address: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """'host', 'host:port', '[v6]:port' -> (host, port); ValueError with the reason."""
    text = address.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"invalid address {address!r}: no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid address {address!r}: bad port")
    return host, int(port_text)


class Listener:
    """Accepts websocket connections, runs the handshake, hands sessions to `on_session`.

    `on_session(session)` runs for the life of the session (in the connection's own task).
    """

    def __init__(
        self,
        creds: Credentials,
        on_session: Callable[[SecureSession], Awaitable[None]],
        policy: SessionPolicy = SessionPolicy(),
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        max_pending: int = MAX_PENDING_HANDSHAKES,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self.creds = creds
        self.on_session = on_session
        self.policy = policy
        self.handshake_timeout = handshake_timeout
        self.max_frame = max_frame
        self._pending = trio.Semaphore(max_pending)
        self.refusals: collections.deque[str] = collections.deque(maxlen=256)
        self.accepted = 0
        self.port: int | None = None

    async def serve(
        self,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        *,
        task_status=trio.TASK_STATUS_IGNORED,
    ):
        """Run until cancelled; `await nursery.start(listener.serve, host, port)` gives the port."""
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: trio_websocket.serve_websocket(
                    self._handle,
                    host,
                    port,
                    None,
                    handler_nursery=nursery,
                    max_message_size=self.max_frame,
                    message_queue_size=RECEIVE_QUEUE,
                    receive_buffer_size=RECEIVE_BUFFER,
                    connect_timeout=self.handshake_timeout,
                    disconnect_timeout=2,
                    task_status=task_status,
                )
            )
            self.port = server.port
            task_status.started(server.port)

    def _refuse(self, address: str, reason: str) -> None:
        self.refusals.append(reason)
        log.warning("refused connection from %s: %s", address, reason)

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        try:
            await self._handle_inner(request)
        except Exception as exc:  # a peer must never take the listener down
            log.exception("connection handler failed")
            self.refusals.append(f"internal error: {exc!r}")

    async def _handle_inner(self, request: trio_websocket.WebSocketRequest) -> None:
        if request.path != RESOURCE:
            await request.reject(404)
            return
        try:
            self._pending.acquire_nowait()
        except trio.WouldBlock:
            self.refusals.append("too many connections in handshake")
            await request.reject(503)
            return
        session = None
        try:
            ws = await request.accept()
            address = websocket_address(ws)
            try:
                with trio.fail_after(self.handshake_timeout):
                    session = await server_handshake(ws, self.creds, self.policy)
            except HandshakeError as exc:
                self._refuse(address, str(exc))
                await close_quietly(ws, str(exc))
                return
            except trio.TooSlowError:
                self._refuse(address, "handshake timed out")
                await close_quietly(ws, "handshake timed out")
                return
            except trio_websocket.ConnectionClosed:
                self._refuse(address, "connection closed during handshake")
                return
        finally:
            self._pending.release()
        if session is None:  # a join was served
            await close_quietly(ws, "join done")
            return
        self.accepted += 1
        log.info("session from %s", session.describe())
        try:
            await self.on_session(session)
        finally:
            await session.aclose("session ended")


async def open_connection(
    nursery: trio.Nursery, address: str, max_frame: int = MAX_FRAME
) -> trio_websocket.WebSocketConnection:
    host, port = parse_address(address)
    try:
        return await trio_websocket.connect_websocket(
            nursery,
            host,
            port,
            RESOURCE,
            use_ssl=False,
            max_message_size=max_frame,
            message_queue_size=RECEIVE_QUEUE,
            receive_buffer_size=RECEIVE_BUFFER,
        )
    except (OSError, trio_websocket.HandshakeError) as exc:
        raise ConnectionError(f"cannot reach {address}: {str(exc) or type(exc).__name__}") from None


async def dial(
    nursery: trio.Nursery,
    address: str,
    creds: Credentials,
    *,
    expect_roles: Container[str] | None = None,
    expect_node_id: str | None = None,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> SecureSession:
    """Open a session to the node at `address`.

    The websocket's background task lives in `nursery`. Raises ConnectionError (unreachable)
    or HandshakeError (reached, but not a node we may talk to).
    """
    with trio.fail_after(timeout):
        ws = await open_connection(nursery, address)
        try:
            return await client_handshake(
                ws, creds, expect_roles=expect_roles, expect_node_id=expect_node_id
            )
        except BaseException as exc:
            await close_quietly(ws, str(exc) or "handshake failed")
            raise


async def request_certificate(
    address: str,
    identity: NodeIdentity,
    token: JoinToken,
    *,
    requested_role: str | None = None,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> tuple[Certificate, bytes]:
    """Join: get this node's certificate and the cluster root key from the manager at `address`."""
    outcome: tuple[Certificate, bytes] | None = None
    error: Exception | None = None
    with trio.move_on_after(timeout) as timer:
        async with trio.open_nursery() as nursery:
            try:
                ws = await open_connection(nursery, address)
                try:
                    outcome = await client_join(ws, identity, token, requested_role=requested_role)
                finally:
                    await close_quietly(ws, "join done")
            except (ConnectionError, HandshakeError) as exc:
                error = exc  # raised outside the nursery, unwrapped
            nursery.cancel_scope.cancel()
    if timer.cancelled_caught:
        raise ConnectionError(f"cannot reach {address}: no answer within {timeout:g} s")
    if error is not None:
        raise error
    assert outcome is not None
    return outcome
