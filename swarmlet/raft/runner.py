"""The trio driver of a raft node: ticks the core, persists each Ready in a worker thread,
sends, applies committed entries to a state machine, and answers proposals and reads.

Interfaces it plugs into:

- ``Transport``: ``send(to, message_dict)`` never blocks (queue or drop; raft retries),
  ``set_peer(node_id, address | None)``, and ``inbound``, a trio receive channel of message
  dicts from peers (already decoded from the wire, checked by ``Message.from_wire`` here).
- ``StateMachine``: ``apply(index, data) -> result``, ``snapshot() -> bytes``,
  ``restore(bytes)``; called from the trio thread, in log order.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from dataclasses import dataclass, replace
from typing import Any, Protocol

import cbor2
import trio

from .core import (
    LEADER,
    ConfChangeRejected,
    NotLeader,
    ProposalDropped,
    RaftConfig,
    RaftNode,
    Ready,
)
from .messages import (
    CONF_ADD_LEARNER,
    CONF_PROMOTE,
    CONF_REMOVE,
    ENTRY_CONF,
    ENTRY_NORMAL,
    ConfChange,
    Message,
    WireError,
)
from .storage import RaftStorage

log = logging.getLogger(__name__)


class Transport(Protocol):
    inbound: trio.abc.ReceiveChannel

    def send(self, to: str, message: dict) -> None: ...

    def set_peer(self, node_id: str, address: str | None) -> None: ...


class StateMachine(Protocol):
    def apply(self, index: int, data: bytes) -> Any: ...

    def snapshot(self) -> bytes: ...

    def restore(self, image: bytes) -> None: ...


# An idle node still wakes this often, so that the ticks it catches up on stay few.
MAX_IDLE_SLEEP = 5.0


class RaftUnavailable(Exception):
    """No leader could take the request before the deadline (the outcome of a write that timed
    out is unknown: it may still commit)."""


@dataclass
class Timing:
    tick: float = 0.1  # seconds per raft tick
    # A heartbeat every 200 ms: 2-3 rounds per check-quorum window. Every tick would double
    # an idle leader's messages without making a failover any faster (that is the election
    # timeout's part).
    heartbeat_ticks: int = 2
    election_ticks: int = 5  # election timeout randomized in [5, 10) ticks = 0.5-1 s
    request_timeout: float = 5.0
    snapshot_every: int = 10_000  # entries applied past the last snapshot before compacting


class RaftRunner:
    def __init__(
        self,
        node_id: str,
        storage: RaftStorage,
        transport: Transport,
        state_machine: StateMachine,
        *,
        peers: dict[str, str] | None = None,
        bootstrap: list[str] | None = None,
        timing: Timing | None = None,
        raft_config: RaftConfig | None = None,
        rng: random.Random | None = None,
    ):
        self.id = node_id
        self.storage = storage
        self.transport = transport
        self.sm = state_machine
        self.timing = t = timing or Timing()
        cfg = raft_config or RaftConfig()
        cfg.heartbeat_ticks, cfg.election_ticks = t.heartbeat_ticks, t.election_ticks
        self._cfg = cfg
        self._rng = rng or random.Random()
        self._bootstrap = bootstrap
        self.peers: dict[str, str] = dict(peers or {})
        self.core: RaftNode | None = None
        self.applied = 0
        self.snapshots_installed = 0
        self._ids = itertools.count(1)
        self._waiting: dict[int, list] = {}  # request id -> [event, result]
        self._reads: dict[bytes, list] = {}  # read context -> [event, index or None]
        self._applied_waiters: list[tuple[int, trio.Event]] = []
        self._wake = trio.Event()
        self._leader_changed = trio.Event()
        self._started = trio.Event()
        self._ticker_scope: trio.CancelScope | None = None  # the ticker's sleep
        self._ticker_floor = math.inf  # its wake-up time for anything but the core's ticks
        self._tick_origin = 0.0
        self._ticks_done = 0

    # ------------------------------------------------------------ lifecycle

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        hs, snap, entries = await trio.to_thread.run_sync(self.storage.load)
        self.core = RaftNode(
            self.id,
            rng=self._rng,
            config=self._cfg,
            hard_state=hs,
            entries=entries,
            snapshot=snap,
            bootstrap=self._bootstrap,
        )
        if snap.index:
            self._restore(snap.data)
        self.applied = snap.index
        for pid, addr in self.peers.items():
            if pid != self.id:
                self.transport.set_peer(pid, addr)
        self._tick_origin = trio.current_time()
        self._started.set()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._ticker)
            nursery.start_soon(self._receiver)
            task_status.started()
            await self._ready_loop()

    def _catch_up(self) -> None:
        """Apply every tick that came due (the ticker sleeps through ticks that change nothing
        but counters); called before anything else is fed to the core."""
        due = int((trio.current_time() - self._tick_origin) / self.timing.tick + 1e-9)
        core = self.core
        while self._ticks_done < due:
            core.tick()
            self._ticks_done += 1
        if core.has_ready():
            self._wake.set()

    def _core_due_at(self) -> float:
        """When the core next has something to do on a tick (inf: never by ticks alone)."""
        ticks = self.core.ticks_until_due()
        if ticks is None:
            return math.inf
        return self._tick_origin + (self._ticks_done + ticks) * self.timing.tick

    def _retime_ticker(self) -> None:
        """Move the ticker's wake-up to the core's next due tick, earlier (it became leader, a
        peer joined, the timeouts changed) or later (a heartbeat came in): it wakes only for
        work."""
        scope = self._ticker_scope
        if scope is not None:
            scope.deadline = min(self._ticker_floor, self._core_due_at())

    async def _ticker(self) -> None:
        while True:
            self._catch_up()
            now = trio.current_time()
            expired = [r for r, w in self._waiting.items() if w[2] <= now]
            for r in expired:
                self._waiting.pop(r)[0].set()
            # Requests' deadlines, and a bound on the ticks to catch up on.
            self._ticker_floor = min(
                [now + MAX_IDLE_SLEEP, *(w[2] for w in self._waiting.values())]
            )
            with trio.CancelScope(deadline=min(self._ticker_floor, self._core_due_at())) as scope:
                self._ticker_scope = scope
                await trio.sleep_forever()
            self._ticker_scope = None

    async def _receiver(self) -> None:
        async for raw in self.transport.inbound:
            try:
                m = Message.from_wire(raw)
            except WireError as e:
                log.warning("dropping malformed raft message: %s", e)
                continue
            self._catch_up()
            self.core.step(m)
            self._wake.set()
            self._retime_ticker()

    async def _ready_loop(self) -> None:
        core = self.core
        while True:
            if not core.has_ready():
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            rd = core.ready()
            for m in rd.send_now:
                self.transport.send(m.to, m.to_wire())
            self._apply(rd)  # committed entries are durable on a quorum already
            # Durable before the rest of this batch leaves.
            if rd.hard_state or rd.entries or rd.snapshot or rd.compaction:
                await trio.to_thread.run_sync(self.storage.save, rd)
            for m in rd.messages:
                self.transport.send(m.to, m.to_wire())
            core.advance(rd)
            self._retime_ticker()

    # ------------------------------------------------------------ applying

    def _apply(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self._restore(rd.snapshot.data)
            self.applied = rd.snapshot.index
            self.snapshots_installed += 1
        for e in rd.committed:
            if e.kind == ENTRY_NORMAL and e.data:
                origin, req, payload = cbor2.loads(e.data)
                result = self.sm.apply(e.index, payload)
                if origin == self.id and req in self._waiting:
                    w = self._waiting.pop(req)
                    w[1] = ("ok", result)
                    w[0].set()
            elif e.kind == ENTRY_CONF:
                self._apply_conf(ConfChange.decode(e.data))
            self.applied = e.index
        for rs in rd.read_states:
            w = self._reads.pop(rs.context, None)
            if w is not None:
                w[1] = rs.index
                w[0].set()
        if rd.soft_state is not None:
            self._leader_changed.set()
            self._leader_changed = trio.Event()
            # A proposal in flight may have been lost with the leader it went to: answer
            # "unknown" now rather than at the deadline, so the caller can decide sooner.
            lost = [r for r, w in self._waiting.items() if w[3] != rd.soft_state.leader]
            for r in lost:
                self._waiting.pop(r)[0].set()
        if self._applied_waiters:
            keep = []
            for index, ev in self._applied_waiters:
                if self.applied >= index:
                    ev.set()
                else:
                    keep.append((index, ev))
            self._applied_waiters = keep
        if self.applied - self.core.snap.index >= self.timing.snapshot_every:
            image = cbor2.dumps({"sm": self.sm.snapshot(), "peers": self.peers})
            self.core.snapshot(self.applied, image)

    def _apply_conf(self, cc: ConfChange) -> None:
        if cc.op == CONF_ADD_LEARNER and cc.context:
            self.peers[cc.node] = cc.context.decode()
            if cc.node != self.id:
                self.transport.set_peer(cc.node, self.peers[cc.node])
        elif cc.op == CONF_REMOVE:
            self.peers.pop(cc.node, None)
            if cc.node != self.id:
                self.transport.set_peer(cc.node, None)

    def _restore(self, image: bytes) -> None:
        v = cbor2.loads(image)
        self.sm.restore(v["sm"])
        for pid, addr in v["peers"].items():
            self.peers.setdefault(pid, addr)
            if pid != self.id:
                self.transport.set_peer(pid, self.peers[pid])

    async def _wait_applied(self, index: int) -> None:
        if self.applied >= index:
            return
        ev = trio.Event()
        self._applied_waiters.append((index, ev))
        await ev.wait()

    # ------------------------------------------------------------ requests

    @property
    def is_leader(self) -> bool:
        return self.core is not None and self.core.role == LEADER

    @property
    def leader(self) -> str | None:
        return self.core.leader if self.core else None

    async def propose(self, data: bytes, timeout: float | None = None) -> Any:
        """Replicate ``data`` and return what the state machine's ``apply`` returned for it.
        Forwarded to the leader by a follower; waits for a leader if there is none yet."""
        await self._started.wait()
        # Deadlines are swept by the ticker: a cancel scope per request costs more than the
        # rest of the request on the hot path.
        deadline = trio.current_time() + (timeout or self.timing.request_timeout)
        req = next(self._ids)
        envelope = cbor2.dumps([self.id, req, data])
        while True:
            try:
                self._catch_up()
                self.core.propose(envelope)
                break
            except ProposalDropped:
                if trio.current_time() >= deadline:
                    raise RaftUnavailable("no leader") from None
                await trio.sleep(self.timing.tick)  # nothing was appended: safe to retry
        waiter = [trio.Event(), None, deadline, self.core.leader]
        self._waiting[req] = waiter
        self._wake.set()
        if deadline < self._ticker_floor:
            self._ticker_floor = deadline
            self._retime_ticker()
        await waiter[0].wait()
        if waiter[1] is None:
            raise RaftUnavailable(
                "no answer before the deadline or the leader changed (the write may still be applied)"
            )
        return waiter[1][1]

    async def read(self, query, timeout: float | None = None) -> Any:
        """Linearizable read: ``query(state_machine)`` once the state machine has applied
        everything committed when the read began (ReadIndex, confirmed by a quorum)."""
        await self._started.wait()
        with trio.move_on_after(timeout or self.timing.request_timeout):
            while True:
                ctx = f"{self.id}:{next(self._ids)}".encode()
                try:
                    self._catch_up()
                    self.core.read_index(ctx)
                except ProposalDropped:
                    await trio.sleep(self.timing.tick)
                    continue
                waiter = [trio.Event(), None]
                self._reads[ctx] = waiter
                self._wake.set()
                # A leader change may lose the request: then ask again.
                changed = self._leader_changed
                async with trio.open_nursery() as n:

                    async def watch(n=n, changed=changed):
                        await changed.wait()
                        n.cancel_scope.cancel()

                    n.start_soon(watch)
                    await waiter[0].wait()
                    n.cancel_scope.cancel()
                self._reads.pop(ctx, None)
                if waiter[1] is None:
                    await trio.sleep(self.timing.tick)
                    continue
                await self._wait_applied(waiter[1])
                return query(self.sm)
        raise RaftUnavailable("read timed out")

    async def transfer_leadership(self, to: str, timeout: float | None = None) -> None:
        """Hand leadership to ``to`` and wait until this node has stepped down."""
        await self._started.wait()
        with trio.move_on_after(timeout or self.timing.request_timeout):
            self._catch_up()
            self.core.transfer_leadership(to)
            self._wake.set()
            self._retime_ticker()
            while self.core.leader != to:
                await self._leader_changed.wait()
            return
        raise RaftUnavailable(f"leadership did not move to {to}")

    async def add_member(self, node_id: str, address: str, timeout: float | None = None) -> None:
        """Leader only: add as a learner, wait until it caught up, then make it a voter."""
        await self._started.wait()
        with trio.move_on_after(timeout or 4 * self.timing.request_timeout):
            # Another membership change still committing, a learner still catching up, a
            # leadership transfer under way: all pass, so wait and try again until the deadline.
            while node_id not in self.core.conf.voters:
                if not self.is_leader:
                    raise NotLeader(self.leader)
                try:
                    if node_id not in self.core.conf.members:
                        await self._conf_change(CONF_ADD_LEARNER, node_id, address.encode())
                    else:
                        await self._conf_change(CONF_PROMOTE, node_id)
                except (ConfChangeRejected, ProposalDropped):
                    await trio.sleep(self.timing.tick)
            return
        raise RaftUnavailable(f"{node_id} did not join in time")

    async def remove_member(self, node_id: str, timeout: float | None = None) -> None:
        """Leader only. A leader removing itself hands leadership over first."""
        await self._started.wait()
        with trio.move_on_after(timeout or self.timing.request_timeout):
            if node_id == self.id and self.is_leader:
                others = sorted(self.core.conf.voters - {self.id})
                if others:
                    best = max(others, key=lambda p: self.core.progress[p].match)
                    await self.transfer_leadership(best)
                    raise NotLeader(best)  # the new leader must do the removal
            while node_id in self.core.conf.members:
                try:
                    await self._conf_change(CONF_REMOVE, node_id)
                except ConfChangeRejected as e:
                    if "not a member" in str(e):
                        break
                    await trio.sleep(self.timing.tick)
            return
        raise RaftUnavailable(f"{node_id} was not removed in time")

    async def _conf_change(self, op: str, node_id: str, context: bytes = b"") -> None:
        self._catch_up()
        index = self.core.propose_conf_change(op, node_id, context)
        self._wake.set()
        self._retime_ticker()
        await self._wait_applied(index)

    async def wait_role_change(self) -> None:
        """Return once this node's role, leader or term has changed."""
        await self._leader_changed.wait()

    def set_timeouts(self, heartbeat_ticks: int, election_ticks: int) -> None:
        """Adopt a new heartbeat interval and election timeout (in ticks) at once; a bad pair
        raises ValueError and changes nothing."""
        if self.core is None:
            raise RuntimeError("raft is not running yet")
        self._catch_up()
        self.core.set_timeouts(heartbeat_ticks, election_ticks)
        self.timing = replace(
            self.timing, heartbeat_ticks=heartbeat_ticks, election_ticks=election_ticks
        )
        self._retime_ticker()

    def force_new_cluster(self) -> None:
        """Make this node the only member, keeping its data (call after ``run`` started)."""
        self._catch_up()
        self.core.force_new_cluster()
        self._wake.set()
        self._retime_ticker()

    def status(self) -> dict:
        st = self.core.status() if self.core else {}
        st["peers"] = dict(self.peers)
        st["snapshots_installed"] = self.snapshots_installed
        return st


async def wait_for(pred, timeout: float = math.inf, poll: float = 0.02) -> None:
    """Poll ``pred()`` until true (a helper for callers and tests)."""
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(poll)
