"""The dispatcher on the leader: workers' sessions, heartbeats, assignments, task status.

Wire routes (registered once on every manager's Router; answered only while this manager is
the leader and `run` is running, else with the error ``not_leader`` whose message is the
leader's address, or empty when unknown):

- ``dispatcher.session`` (stream): registers the calling node; the first chunk is
  ``{"session_id", "period"}`` (heartbeat period in seconds), then assignment messages
  ``{"seq", "full", "more", "updates": [task...], "removals": [task ID...]}`` (see
  `dispatcher_core`). The stream ends when the session is replaced or expires.
- ``dispatcher.heartbeat`` (request ``{"session_id"}``): returns ``{"period"}``; the error
  ``invalid_session`` tells the worker to register again.
- ``dispatcher.status`` (request ``{"session_id", "updates": [{"task_id", "status"}]}``):
  returns ``{"rejected": n}``; reports are batched into one store command per flush.

The node is always the authenticated peer, never a field of the message: a worker can only
speak for itself. `node_dead(node_id)` is for the membership layer (gossip's verdict).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable

import trio

from swarmlet import trace
from swarmlet.manager.context import ClusterContext
from swarmlet.manager.dispatcher_core import DispatcherCore, heartbeat_period
from swarmlet.manager.dispatcher_protocol import (
    DESCRIPTION,
    ENGINE,
    HEARTBEAT_REQUEST,
    HEARTBEAT_ROUTE,
    SESSION_REQUEST,
    SESSION_ROUTE,
    STATUS_REQUEST,
    STATUS_ROUTE,
)
from swarmlet.store import OutOfSequence, commands
from swarmlet.store.objects import CLUSTER, NODE, TASK, dig, edit
from swarmlet.store.watch import REMOVE
from swarmlet.wire.mux import RemoteError, Router
from swarmlet.wire.schema import SchemaError

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05  # the pause after a status batch could not be proposed
HEARTBEAT_FAILURE = "heartbeat failure"
GOSSIP_FAILURE = "node unreachable"


class Dispatcher:
    """Construct once per manager, `register_routes` on its Router, and run `run` while this
    manager is the leader (cancel it when leadership is lost).

    `leader_address` gives the leader's wire address for ``not_leader`` answers; without it,
    the address is the leader node's ManagerStatus.Addr, the leader found by `ctx.leader_id`.
    """

    def __init__(
        self,
        ctx: ClusterContext,
        *,
        leader_address: Callable[[], str | None] | None = None,
        clock: Callable[[], float] = trio.current_time,
        flush_interval: float = FLUSH_INTERVAL,
        leader_grace: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.leader_address = leader_address
        self.clock = clock
        self.flush_interval = flush_interval
        self.leader_grace = leader_grace
        self.core: DispatcherCore | None = None
        self._wakes: dict[str, trio.Event] = {}  # session ID -> wakes its stream
        self._changed = trio.Event()
        self._status_added = trio.Event()
        self._node_writes: trio.MemorySendChannel | None = None

    def register_routes(self, router: Router) -> None:
        router.stream(SESSION_ROUTE, SESSION_REQUEST, self._on_session)
        router.request(HEARTBEAT_ROUTE, HEARTBEAT_REQUEST, self._on_heartbeat)
        router.request(STATUS_ROUTE, STATUS_REQUEST, self._on_status)

    # -- running ------------------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        store = self.ctx.store
        now = self.clock()
        options = {} if self.leader_grace is None else {"leader_grace": self.leader_grace}
        core = DispatcherCore(now, period=heartbeat_period(store.cluster()), **options)
        core.adopt_nodes(store.list(NODE), now)
        sub = store.watch(kinds={TASK, NODE, CLUSTER}, predicate=self._note_change)
        send, receive = trio.open_memory_channel(math.inf)  # at most a few items per node
        self._changed = trio.Event()
        self.core, self._node_writes = core, send
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_store, core, sub)
                nursery.start_soon(self._expire, core)
                nursery.start_soon(self._flush, core)
                nursery.start_soon(self._write_nodes, receive)
                task_status.started()
        finally:
            store.unwatch(sub)
            self.core, self._node_writes = None, None
            for event in self._wakes.values():
                event.set()

    def node_dead(self, node_id: str) -> bool:
        """Gossip declared `node_id` dead: end its session and mark it down now. False when
        this dispatcher is not running (another manager's will act)."""
        core = self.core
        if core is None:
            return False
        self._end_session(core.drop(node_id))
        self._set_node(node_id, "down", GOSSIP_FAILURE)
        return True

    def _serving(self) -> DispatcherCore:
        core = self.core
        if core is None or not self.ctx.is_leader():
            raise self._not_leader()
        return core

    def _not_leader(self) -> RemoteError:
        if self.leader_address is not None:
            return RemoteError("not_leader", self.leader_address() or "")
        leader_id = getattr(self.ctx, "leader_id", None)
        node_id = leader_id() if leader_id is not None else None
        node = self.ctx.store.get(NODE, node_id) if node_id else None
        return RemoteError("not_leader", dig(node, "ManagerStatus.Addr") or "")

    def _end_session(self, session_id: str | None) -> None:
        event = self._wakes.get(session_id) if session_id else None
        if event is not None:
            event.set()

    def _wake_node(self, core: DispatcherCore, node_id: str) -> None:
        session = core.sessions.get(node_id)
        if session is not None:
            self._end_session(session.session_id)

    def _set_node(
        self, node_id: str, state: str, message: str, description: dict | None = None
    ) -> None:
        if self._node_writes is None:
            return
        self._node_writes.send_nowait((node_id, state, message, description))

    # -- store --------------------------------------------------------------------------------

    def _note_change(self, event) -> bool:
        self._changed.set()
        return True

    async def _follow_store(self, core: DispatcherCore, sub) -> None:
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            events = sub.drain()
            touched: set[str] = set()
            if sub.overflowed:
                sub.resync()
                touched |= core.resync_all()
            for event in events:
                if event.kind == CLUSTER and event.object is not None:
                    core.set_period(heartbeat_period(event.object))
                elif event.kind == NODE and event.action == REMOVE:
                    self._end_session(core.drop(event.object["ID"]))
            touched |= core.on_events(events)
            for node_id in touched:
                self._wake_node(core, node_id)

    async def _expire(self, core: DispatcherCore) -> None:
        while True:
            now = self.clock()
            # a manager that has just lost leadership leaves the verdicts to the next leader
            expired = core.tick(now) if self.ctx.is_leader() else []
            for node_id in expired:
                log.info("node %s missed its heartbeats: marking it down", node_id)
                self._set_node(node_id, "down", HEARTBEAT_FAILURE)
            # Deadlines only move later (heartbeats) or start later than now (new sessions):
            # sleeping until the earliest one misses nothing; the period bounds the sleep
            # for a period that changed meanwhile.
            wake = now + core.period
            deadline = core.next_deadline()
            await trio.sleep_until(wake if deadline is None else min(wake, deadline))

    async def _write_nodes(self, receive) -> None:
        """Node state writes, as they come: whatever piled up goes in one store command (a
        new leader sees every worker register at once)."""
        while True:
            items = [await receive.receive()]
            while True:
                try:
                    items.append(receive.receive_nowait())
                except trio.WouldBlock:
                    break
            wanted: dict[str, tuple[str, str, dict | None]] = {}
            for node_id, state, message, description in items:
                earlier = (wanted.get(node_id) or (None, None, None))[2]
                merged = {**(earlier or {}), **(description or {})}
                wanted[node_id] = (state, message, merged or None)
            await self._write_node_batch(wanted)

    async def _write_node_batch(self, wanted: dict[str, tuple[str, str, dict | None]]) -> None:
        for _ in range(10):
            ops = []
            for node_id, (state, message, description) in wanted.items():
                node = self.ctx.store.get(NODE, node_id)
                updated = None if node is None else _node_update(node, state, message, description)
                if updated is not None:
                    updated["UpdatedAt"] = self.ctx.timestamp()
                    ops.append(commands.update(NODE, updated))
            if not ops:
                return
            try:
                result = await self.ctx.propose(ops[0] if len(ops) == 1 else commands.batch(*ops))
            except Exception as exc:  # no quorum: leadership is about to go
                log.warning("node states not written: %s", exc)
                await trio.sleep(0.1)
                continue
            if result.ok:
                return
            if isinstance(result.error, OutOfSequence):
                continue  # a node changed meanwhile: rebuild against the store
            if len(wanted) > 1:  # one bad node must not hold up the others
                for node_id, item in wanted.items():
                    await self._write_node_batch({node_id: item})
                return
            log.warning("node state not written: %s", result.error)
            return

    async def _flush(self, core: DispatcherCore) -> None:
        """One store command per flush, at once: what arrives while one is being committed
        goes in the next (batches form under load, and nothing waits on a timer)."""
        single = 0  # after a batch failed for a reason other than a race: one by one
        while True:
            await self._status_added.wait()
            self._status_added = trio.Event()
            while core.pending:
                command, taken = core.flush(
                    self.ctx.store, self.ctx.timestamp(), limit=1 if single else None
                )
                if command is None:
                    continue
                single = max(0, single - 1)
                try:
                    result = await self.ctx.propose(command)
                except Exception as exc:
                    log.warning("task status batch not written: %s", exc)
                    core.retry(taken)
                    await trio.sleep(self.flush_interval)
                    continue
                if result.ok:
                    if trace.ENABLED:
                        trace.mark("statuses.committed", n=len(taken), running=_running(taken))
                    continue
                if isinstance(result.error, OutOfSequence):
                    core.retry(taken)  # a task changed meanwhile: rebuild against the store
                elif len(taken) > 1:
                    core.retry(taken)
                    single = len(taken)
                else:
                    log.warning("task status update dropped: %s", result.error)

    # -- handlers -----------------------------------------------------------------------------

    async def _on_session(self, peer, body, out) -> None:
        core = self._serving()
        node_id = peer.node_id
        node = self.ctx.store.get(NODE, node_id)
        if node is None:
            raise RemoteError("unknown_node", f"node {node_id} is not part of this swarm")
        if (node.get("Spec") or {}).get("Membership") == "pending":
            # 1.12's acceptance: a node joins as pending and does nothing until accepted
            raise RemoteError("pending", f"node {node_id} is waiting to be accepted")
        description = _description(body.get("description"))
        session_id = secrets.token_hex(16)
        self._end_session(core.register(node_id, session_id, self.clock()))
        self._set_node(node_id, "ready", "", description)
        log.info("node %s registered (session %s)", node_id, session_id)
        try:
            await out.send({"session_id": session_id, "period": core.period})
            while True:
                wake = self._wakes[session_id] = trio.Event()
                if self.core is not core:
                    raise self._not_leader()
                if not core.is_current(node_id, session_id):
                    return  # replaced or expired: the worker registers again
                for message in core.take(node_id, self.ctx.store):
                    await out.send(message)
                    if trace.ENABLED:
                        trace.mark("assignments.sent", node=node_id, n=len(message["updates"]))
                if not core.has_messages(node_id):
                    await wake.wait()
        finally:
            self._wakes.pop(session_id, None)

    async def _on_heartbeat(self, peer, body) -> dict:
        core = self._serving()
        if not core.heartbeat(peer.node_id, body["session_id"], self.clock()):
            raise RemoteError("invalid_session", "session is not current; register again")
        return {"period": core.period}

    async def _on_status(self, peer, body) -> dict:
        core = self._serving()
        updates = [(u["task_id"], u["status"]) for u in body["updates"]]
        rejected = core.report(peer.node_id, body["session_id"], updates, self.ctx.store)
        if rejected is None:
            raise RemoteError("invalid_session", "session is not current; register again")
        if rejected:  # one line per request, however many: a hostile worker cannot flood the log
            log.warning(
                "%d status reports from node %s refused, e.g. %s",
                len(rejected),
                peer.node_id,
                rejected[0].reason,
            )
        if core.pending:
            self._status_added.set()
        return {"rejected": len(rejected)}


def _running(taken: dict[str, tuple[str, dict]]) -> list[str]:
    return [task_id for task_id, (_, status) in taken.items() if status["State"] == "running"]


def _description(value: dict | None) -> dict | None:
    if value is None:
        return None
    try:
        out = DESCRIPTION.validate(value, "description")
        if "Engine" in out:
            out["Engine"] = ENGINE.validate(out["Engine"], "description.Engine")
    except SchemaError as exc:
        raise RemoteError("invalid", str(exc)) from None
    return out


def _node_update(node: dict, state: str, message: str, description: dict | None) -> dict | None:
    """The node with its new state (and what its worker says of its host), or None when
    nothing changes."""
    status = dict(node.get("Status") or {})
    status["State"] = state
    status.pop("Message", None)
    if message:
        status["Message"] = message
    merged = dict(node.get("Description") or {})
    merged.update(description or {})
    if status.get("State") == dig(node, "Status.State") and merged == node.get("Description", {}):
        return None
    updated = edit(node)
    if status.get("State") != dig(node, "Status.State"):
        updated["Status"] = status
    if description:
        updated["Description"] = merged
    return updated
