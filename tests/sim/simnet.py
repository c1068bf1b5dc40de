"""A seeded, virtual-time network for simulating sans-I/O protocol cores.

Everything that happens is an event on one heap ordered by (virtual time, sequence number),
and all randomness comes from one ``random.Random``: the same seed replays the same run.
Messages are delayed by a random amount (so they reorder), dropped, duplicated, and blocked
by symmetric or one-way partitions.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class NetFaults:
    min_delay: float = 1.0
    max_delay: float = 10.0
    drop: float = 0.0  # probability a message is lost
    duplicate: float = 0.0  # probability a message is delivered twice
    spike: float = 0.0  # probability a message is delayed by up to spike_delay
    spike_delay: float = 100.0


class SimNet:
    def __init__(self, rng: random.Random, faults: NetFaults | None = None):
        self.rng = rng
        self.faults = faults or NetFaults()
        self.now = 0.0
        self._seq = 0
        self._heap: list = []
        self.blocked: set[tuple[str, str]] = set()  # (src, dst) pairs that cannot talk
        self.delivered = 0
        self.dropped = 0

    # ------------------------------------------------------------ events

    def at(self, when: float, fn: Callable, *args) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, fn, args))

    def after(self, delay: float, fn: Callable, *args) -> None:
        self.at(self.now + delay, fn, *args)

    def step(self) -> bool:
        """Run the next event; False when none is left."""
        if not self._heap:
            return False
        when, _, fn, args = heapq.heappop(self._heap)
        self.now = when
        fn(*args)
        return True

    def run_until(self, t: float, after_each: Callable[[], None] | None = None) -> None:
        while self._heap and self._heap[0][0] <= t:
            self.step()
            if after_each is not None:
                after_each()
        self.now = max(self.now, t)

    # ------------------------------------------------------------ messages

    def send(self, src: str, dst: str, payload, deliver: Callable[[str, object], None]) -> None:
        """Schedule ``deliver(dst, payload)`` unless the network loses it."""
        f = self.faults
        if (src, dst) in self.blocked or self.rng.random() < f.drop:
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < f.duplicate else 1
        for _ in range(copies):
            delay = self.rng.uniform(f.min_delay, f.max_delay)
            if self.rng.random() < f.spike:
                delay += self.rng.uniform(0, f.spike_delay)
            self.after(delay, self._deliver, src, dst, payload, deliver)

    def _deliver(self, src, dst, payload, deliver) -> None:
        # A partition that starts while a message is in flight also stops it.
        if (src, dst) in self.blocked:
            self.dropped += 1
            return
        self.delivered += 1
        deliver(dst, payload)

    # ------------------------------------------------------------ partitions

    def partition(self, *groups: list[str]) -> None:
        """Only members of the same group can talk (symmetric)."""
        self.blocked = set()
        for g in groups:
            for h in groups:
                if g is h:
                    continue
                for a in g:
                    for b in h:
                        self.blocked.add((a, b))

    def block_one_way(self, src: str, dst: str) -> None:
        self.blocked.add((src, dst))

    def heal(self) -> None:
        self.blocked = set()
