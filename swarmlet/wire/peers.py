"""The node's transport: one listener, and one multiplexed connection per peer.

    transport = Transport(creds, router, listen=("0.0.0.0", 2377))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(transport.run)
        reply = await transport.request("10.0.0.2:2377", "raft.vote", {...}, timeout=2)
        conn = transport.by_node.get(node_id)      # any live session with that node

`connection(address)` reuses a live session or dials a new one; failed dials are retried with
exponential backoff and jitter until the caller's deadline, so a peer that restarts is reached
again without the caller doing anything.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Container

import trio

from swarmlet.wire.endpoint import Listener, dial
from swarmlet.wire.handshake import HandshakeError, SessionPolicy
from swarmlet.wire.mux import Connection, Router, Unavailable
from swarmlet.wire.session import Credentials, SecureSession

log = logging.getLogger("swarmlet.wire")

# Sessions ping their peer this often and end when a pong takes longer than the timeout.
KEEPALIVE = 1.0
KEEPALIVE_TIMEOUT = 5.0


class Backoff:
    """Exponential backoff with jitter: the n-th retry waits a random 50-100 % of base * 2**n."""

    def __init__(self, base: float = 0.05, cap: float = 5.0, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return delay * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class _Peer:
    def __init__(self, address: str, backoff: Backoff) -> None:
        self.address = address
        self.lock = trio.Lock()
        self.conn: Connection | None = None
        self.backoff = backoff
        self.retry_at = 0.0
        self.last_error = ""


class Transport:
    """Listener plus outgoing connections, all handled by one Router."""

    def __init__(
        self,
        creds: Credentials,
        router: Router,
        *,
        listen: tuple[str, int] | None = None,
        policy: SessionPolicy = SessionPolicy(),
        expect_roles: Container[str] | None = None,
        connection_options: dict | None = None,
        listener_options: dict | None = None,
        on_connection: Callable[[Connection], Awaitable[None]] | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        max_sessions_per_node: int = 4,
    ) -> None:
        self.creds = creds
        self.max_sessions_per_node = max_sessions_per_node
        self._incoming: dict[str, int] = {}
        self.router = router
        self.listen = listen
        self.policy = policy
        self.expect_roles = expect_roles
        self.connection_options = {
            "keepalive": KEEPALIVE,
            "keepalive_timeout": KEEPALIVE_TIMEOUT,
            **(connection_options or {}),
        }
        self.on_connection = on_connection
        self.listener = Listener(creds, self._serve_incoming, policy, **(listener_options or {}))
        self._new_backoff = backoff
        self._peers: dict[str, _Peer] = {}
        # A node may have several live sessions with us (one it dialed, one we dialed):
        # `by_node` names one of them for as long as any lives.
        self._sessions: dict[str, list[Connection]] = {}
        self.by_node: dict[str, Connection] = {}
        self._nursery: trio.Nursery | None = None
        self.dials = 0

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `nursery.start(transport.run)` returns the listening port."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            port = None
            if self.listen is not None:
                port = await nursery.start(self.listener.serve, *self.listen)
            task_status.started(port)
            await trio.sleep_forever()

    # ---- connections ---------------------------------------------------------------------

    async def _serve_incoming(self, session: SecureSession) -> None:
        node_id = session.peer.node_id
        if self._incoming.get(node_id, 0) >= self.max_sessions_per_node:
            # One session per peer pair is the norm; a node opening many is misbehaving.
            await session.abort(f"node {node_id} already has {self.max_sessions_per_node} sessions")
            return
        self._incoming[node_id] = self._incoming.get(node_id, 0) + 1
        try:
            await self._run_connection(Connection(session, self.router, **self.connection_options))
        finally:
            self._incoming[node_id] -= 1
            if not self._incoming[node_id]:
                del self._incoming[node_id]

    async def _run_connection(self, conn: Connection, *, task_status=trio.TASK_STATUS_IGNORED):
        node_id = conn.peer.node_id
        self._sessions.setdefault(node_id, []).append(conn)
        self.by_node[node_id] = conn
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(conn.run)
                task_status.started()
                nursery.start_soon(self._end_at_expiry, conn)
                if self.on_connection is not None:
                    nursery.start_soon(self.on_connection, conn)
                await conn.closed.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._forget_session(conn)
            log.info("session with node %s ended: %s", node_id, conn.close_reason)

    def _forget_session(self, conn: Connection) -> None:
        node_id = conn.peer.node_id
        live = [c for c in self._sessions.get(node_id, ()) if c is not conn]
        if live:
            self._sessions[node_id] = live
            if self.by_node.get(node_id) is conn:
                self.by_node[node_id] = live[-1]
        else:
            self._sessions.pop(node_id, None)
            if self.by_node.get(node_id) is conn:
                del self.by_node[node_id]

    async def _end_at_expiry(self, conn: Connection) -> None:
        """A session lives no longer than the peer's certificate."""
        cert = conn.peer.certificate
        if cert is None:
            return
        await trio.sleep(max(0.0, cert.not_after - self.creds.clock()))
        log.warning("certificate of node %s expired; closing its session", conn.peer.node_id)
        await conn.aclose(f"certificate of node {conn.peer.node_id} expired")

    async def revoke(self, node_id: str) -> None:
        """Refuse `node_id` from now on (``node rm``) and end any session with it."""
        revoked = self.creds.revoked
        if hasattr(revoked, "revoke"):
            revoked.revoke(node_id)
        for conn in [c for c in self._all_connections() if c.peer.node_id == node_id]:
            await conn.aclose(f"node {node_id} has been removed from the cluster")

    def _all_connections(self) -> list[Connection]:
        conns = {id(c): c for live in self._sessions.values() for c in live}
        for peer in self._peers.values():
            if peer.conn is not None and not peer.conn.closed.is_set():
                conns[id(peer.conn)] = peer.conn
        return list(conns.values())

    def open_connection(self, address: str) -> Connection | None:
        """The live connection to `address` if there is one now (never dials)."""
        peer = self._peers.get(address)
        if peer is not None and peer.conn is not None and not peer.conn.closed.is_set():
            return peer.conn
        return None

    async def connection(self, address: str, timeout: float = 10.0) -> Connection:
        """A live connection to `address`, dialing (with backoff) if needed; Unavailable if not
        reached before `timeout`."""
        if self._nursery is None:
            raise RuntimeError("Transport.run is not running")
        peer = self._peers.get(address)
        if peer is None:
            peer = self._peers[address] = _Peer(address, self._new_backoff())
        if peer.conn is not None and not peer.conn.closed.is_set():
            return peer.conn
        with trio.move_on_after(timeout):
            async with peer.lock:
                while peer.conn is None or peer.conn.closed.is_set():
                    await trio.sleep_until(peer.retry_at)
                    try:
                        self.dials += 1
                        session = await dial(
                            self._nursery,
                            address,
                            self.creds,
                            expect_roles=self.expect_roles,
                            timeout=max(0.1, timeout),
                        )
                    except (OSError, HandshakeError, trio.TooSlowError) as exc:
                        peer.last_error = str(exc) or type(exc).__name__
                        peer.retry_at = trio.current_time() + peer.backoff.next_delay()
                        level = logging.WARNING if isinstance(exc, HandshakeError) else logging.INFO
                        log.log(level, "dial %s failed: %s", address, peer.last_error)
                        continue
                    conn = Connection(session, self.router, **self.connection_options)
                    await self._nursery.start(self._run_connection, conn)
                    peer.conn = conn
                    peer.backoff.reset()
                return peer.conn
        raise Unavailable(f"cannot reach {address}: {peer.last_error or 'timed out'}")

    async def send(self, address: str, type_: str, body: object, timeout: float = 10.0) -> None:
        conn = await self.connection(address, timeout)
        with trio.move_on_after(timeout) as scope:
            await conn.send(type_, body)
        if scope.cancelled_caught:
            raise Unavailable(f"outgoing queue to {address} stayed full for {timeout} s")

    async def request(
        self, address: str, type_: str, body: object, timeout: float = 10.0
    ) -> object:
        deadline = trio.current_time() + timeout
        conn = await self.connection(address, timeout)
        return await conn.request(type_, body, max(0.0, deadline - trio.current_time()))

    async def aclose(self) -> None:
        for conn in self._all_connections():
            await conn.aclose("transport closing")
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
