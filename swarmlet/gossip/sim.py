"""Deterministic simulator for the SWIM core: many members on virtual time in one process.

One heap of events (message deliveries, timer wake-ups, stall ends) drives every member's core;
nothing sleeps and no thread runs per member, so 1,000 members simulate faster than real time.
Faults, all drawn from one seeded generator: crashes and restarts, partitions, packet loss,
stalls (a frozen process: it neither sends nor handles anything until it resumes, then fires
its overdue timers, whose lateness is the lag it reports, and works through its backlog), and slow
members (an overloaded process whose timers still fire but which reads each message late).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from itertools import count

from .config import Profile
from .core import EV_DEAD, MemberEvent, Swim

_WAKE, _DELIVER, _RESUME, _CALL, _LATE = range(5)


class SimMember:
    __slots__ = (
        "id",
        "addr",
        "core",
        "up",
        "stalled_until",
        "backlog",
        "wake_at",
        "group",
        "slow_until",
        "slow_delay",
    )

    def __init__(self, node_id, addr):
        self.id = node_id
        self.addr = addr
        self.core: Swim | None = None
        self.up = False
        self.stalled_until = -math.inf
        self.backlog: list[dict] = []
        self.wake_at = math.inf
        self.group = 0
        self.slow_until = -math.inf
        self.slow_delay = 0.0


class Simulation:
    """A cluster of `n` members that all know each other at time 0."""

    def __init__(
        self,
        n: int,
        profile: Profile,
        seed: int = 0,
        loss: float = 0.0,
        latency: float = 0.0005,
        jitter: float = 0.001,
        measure_bytes: bool = False,
        meta: Callable[[int], dict] | None = None,
    ):
        self.profile = profile
        self.rng = random.Random(seed)
        self.loss = loss
        self.latency = latency
        self.jitter = jitter
        self.now = 0.0
        self._heap: list[tuple] = []
        self._seq = count()
        self.measure_bytes = measure_bytes
        self.bytes_sent = 0
        self.messages_sent = 0
        self.on_event: Callable[[float, str, MemberEvent], None] | None = None
        self.first_dead: dict[str, dict[str, float]] = {}  # subject -> observer -> time
        self.false_dead = 0  # dead verdicts about members whose process was running
        self.members: list[SimMember] = []
        self.by_addr: dict[str, SimMember] = {}
        self.by_id: dict[str, SimMember] = {}
        make_meta = meta or (lambda i: {"role": "worker"})
        for i in range(n):
            node_id = f"n{i:04d}"
            sm = SimMember(node_id, f"10.{i // 250}.{i % 250}.1:2377")
            self.members.append(sm)
            self.by_addr[sm.addr] = sm
            self.by_id[node_id] = sm
        state = [
            {"id": sm.id, "addr": sm.addr, "meta": make_meta(i), "inc": 0, "st": "alive"}
            for i, sm in enumerate(self.members)
        ]
        for i, sm in enumerate(self.members):
            sm.core = Swim(
                sm.id, sm.addr, make_meta(i), profile, random.Random(self.rng.random()), 0.0
            )
            sm.core.seed_state(state, 0.0)
            sm.up = True
            self._flush(sm)

    # -------------------------------------------------------------- faults and actions

    def at(self, t: float, fn: Callable[[], None]) -> None:
        """Run fn() at virtual time t."""
        self._push(t, _CALL, None, fn)

    def crash(self, node_id: str) -> None:
        sm = self.by_id[node_id]
        sm.up = False
        sm.core = None
        sm.backlog.clear()

    def restart(self, node_id: str, seeds: list[str], meta: dict | None = None) -> None:
        """Start a fresh process for node_id (incarnation 0) and join through seeds."""
        sm = self.by_id[node_id]
        sm.core = Swim(
            sm.id,
            sm.addr,
            meta or {"role": "worker"},
            self.profile,
            random.Random(self.rng.random()),
            self.now,
        )
        sm.up = True
        sm.stalled_until = -math.inf
        sm.wake_at = math.inf
        sm.core.join([self.by_id[s].addr for s in seeds], self.now)
        self._flush(sm)

    def stall(self, node_id: str, duration: float) -> None:
        sm = self.by_id[node_id]
        if not sm.up or sm.stalled_until > self.now:
            return
        sm.stalled_until = self.now + duration
        self._push(sm.stalled_until, _RESUME, sm, None)

    def slow(self, node_id: str, delay: float, duration: float) -> None:
        """For `duration`, the member reads every message `delay` seconds after it arrives."""
        sm = self.by_id[node_id]
        sm.slow_delay = delay
        sm.slow_until = self.now + duration

    def partition(self, groups: list[list[str]]) -> None:
        """Split the members: traffic flows only inside a group (others keep group 0)."""
        for sm in self.members:
            sm.group = 0
        for g, ids in enumerate(groups, start=1):
            for node_id in ids:
                self.by_id[node_id].group = g

    def heal(self) -> None:
        for sm in self.members:
            sm.group = 0

    def act(self, node_id: str, fn: Callable[[Swim, float], None]) -> None:
        """Call fn(core, now) on a member now (join/leave/update_meta), then route its output."""
        sm = self.by_id[node_id]
        fn(sm.core, self.now)
        self._flush(sm)

    # -------------------------------------------------------------- running

    def run_until(self, t_end: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= t_end:
            t, _, kind, sm, payload = pop(heap)
            self.now = t
            if kind in (_DELIVER, _LATE):
                if not sm.up or sm.core is None:
                    continue
                if sm.stalled_until > t:
                    sm.backlog.append(payload)
                    continue
                if kind == _DELIVER and sm.slow_until > t:
                    self._push(t + sm.slow_delay, _LATE, sm, payload)
                    continue
                sm.core.receive(payload, t)
                sm.core.tick(t)
                self._flush(sm)
            elif kind == _WAKE:
                if not sm.up or sm.stalled_until > t or t != sm.wake_at:
                    continue
                sm.wake_at = math.inf
                sm.core.tick(t)
                self._flush(sm)
            elif kind == _RESUME:
                if not sm.up or sm.stalled_until != t:
                    continue
                # Like the runner resuming: overdue timers fire first (their lateness is
                # the lag tick() reports), and only then is the backlog of messages read.
                core = sm.core
                core.tick(t)
                backlog, sm.backlog = sm.backlog, []
                for msg in backlog:
                    core.receive(msg, t)
                core.tick(t)
                sm.wake_at = math.inf
                self._flush(sm)
            else:
                payload()
        self.now = t_end

    def live_ids(self) -> list[str]:
        return [sm.id for sm in self.members if sm.up]

    def core(self, node_id: str) -> Swim:
        return self.by_id[node_id].core

    # -------------------------------------------------------------- internals

    def _push(self, t, kind, sm, payload):
        heapq.heappush(self._heap, (t, next(self._seq), kind, sm, payload))

    def _flush(self, sm: SimMember) -> None:
        core = sm.core
        if core is None:
            return
        now = self.now
        rng = self.rng
        for send in core.take_sends():
            self.messages_sent += 1
            if self.measure_bytes:
                self.bytes_sent += _encoded_size(send.msg)
            dest = self.by_addr.get(send.addr)
            if dest is None or dest.group != sm.group:
                continue
            if self.loss and rng.random() < self.loss:
                continue
            self._push(now + self.latency + rng.random() * self.jitter, _DELIVER, dest, send.msg)
        events = core.take_events()
        if events:
            for ev in events:
                if ev.kind == EV_DEAD:
                    seen = self.first_dead.setdefault(ev.node_id, {})
                    seen.setdefault(sm.id, now)
                    if self.by_id[ev.node_id].up:
                        self.false_dead += 1
                if self.on_event is not None:
                    self.on_event(now, sm.id, ev)
        # As the runner: the member's one wake-up follows its next timer, earlier or later
        # (a wake-up left behind is skipped: its time is no longer wake_at).
        d = core.next_deadline()
        d = math.inf if d is None else d
        if d != sm.wake_at:
            sm.wake_at = d
            if d != math.inf:
                self._push(d, _WAKE, sm, None)


def _encoded_size(msg: dict) -> int:
    from .transport import encode

    return len(encode(msg))
