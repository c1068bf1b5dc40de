"""Trio driver for the SWIM core: feeds it time, messages and measured loop lag.

The runner owns the clock; the core owns every decision. Membership events come out on
`events` (a trio memory channel of MemberEvent) for the rest of the daemon.
"""

from __future__ import annotations

import math
import random

import trio

from .config import Profile
from .core import MemberEvent, Swim
from .transport import Transport

LAG_SAMPLE = 0.05  # how often the loop-lag probe wakes up


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
        self._kick = trio.Event()

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
            nursery.start_soon(self._lag_loop)
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
        self._kick.set()

    async def _receive_loop(self) -> None:
        async for msg in self.transport.inbound:
            self._drive(lambda now, msg=msg: self.core.receive(msg, now))

    async def _timer_loop(self) -> None:
        while True:
            self._kick = trio.Event()
            deadline = self.core.next_deadline()
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await self._kick.wait()
            self._drive(self.core.tick)

    async def _lag_loop(self) -> None:
        while True:
            before = trio.current_time()
            await trio.sleep(LAG_SAMPLE)
            lag = trio.current_time() - before - LAG_SAMPLE
            if lag >= self.core.profile.lag_threshold:
                self._drive(lambda now, lag=lag: self.core.report_lag(lag, now))
