"""Trio driver for the SWIM core: feeds it time and messages.

The runner owns the clock; the core owns every decision. Membership events come out on
`events` (a trio memory channel of MemberEvent) for the rest of the daemon.

An idle member wakes only when the core has a timer due. Lifeguard's local-health signal (is
this process itself slow?) is the lateness of those timers: the core measures it in tick(),
and a message read while timers are overdue is read only after they fired, as a process
resuming from a stall would.
"""

from __future__ import annotations

import math
import random

import trio

from .config import Profile
from .core import MemberEvent, Swim
from .transport import Transport


class GossipRunner:
    def __init__(
        self,
        node_id: str,
        addr: str,
        meta: dict,
        profile: Profile,
        transport: Transport,
        rng: random.Random | None = None,
    ):
        self.transport = transport
        self.core = Swim(node_id, addr, meta, profile, rng or random.Random(), trio.current_time())
        self._events_send, self.events = trio.open_memory_channel[MemberEvent](math.inf)
        self._timer_scope: trio.CancelScope | None = None  # the timer loop's sleep

    # ------------------------------------------------------------------ daemon API

    def join(self, seeds: list[str]) -> None:
        self._drive(lambda now: self.core.join(seeds, now))

    def update_meta(self, changes: dict, addr: str | None = None) -> None:
        self._drive(lambda now: self.core.update_meta(changes, now, addr))

    async def leave(self, timeout: float = 5.0) -> bool:
        """Announce the leave and wait (up to timeout) until it has been sent enough times."""
        self._drive(self.core.leave)
        with trio.move_on_after(timeout):
            while not self.core.leave_announced:
                await trio.sleep(self.core.profile.gossip_interval)
            return True
        return False

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive_loop)
            nursery.start_soon(self._timer_loop)
            task_status.started(self)

    # ------------------------------------------------------------------ internals

    def _drive(self, step) -> None:
        """Run one core step at the current time, then carry out what it asked for."""
        step(trio.current_time())
        core = self.core
        for send in core.take_sends():
            self.transport.send(send.to, send.addr, send.msg)
        for ev in core.take_events():
            self._events_send.send_nowait(ev)
        scope = self._timer_scope
        if scope is not None:
            # Move the sleep to the next timer, earlier or later: a timer that became a
            # no-op (a probe was acknowledged) wakes nobody.
            deadline = core.next_deadline()
            scope.deadline = deadline if deadline is not None else math.inf

    def _receive(self, msg, now: float) -> None:
        core = self.core
        deadline = core.next_deadline()
        if deadline is not None and now - deadline >= core.profile.lag_threshold:
            core.tick(now)  # late: overdue timers (and the lag they show) come first
        core.receive(msg, now)

    async def _receive_loop(self) -> None:
        async for msg in self.transport.inbound:
            self._drive(lambda now, msg=msg: self._receive(msg, now))

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.core.next_deadline()
            with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None
            self._drive(self.core.tick)
