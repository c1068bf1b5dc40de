"""Lifeguard's local health awareness: a member that misses nacks, fails probes, has to refute
its own suspicion or sees its event loop lag is probably the slow one, so it stretches its
own probe interval and timeouts instead of accusing others."""

from __future__ import annotations


class Awareness:
    __slots__ = ("max", "score", "enabled")

    def __init__(self, max_multiplier: int, enabled: bool = True):
        self.max = max_multiplier
        self.score = 0
        self.enabled = enabled

    def apply(self, delta: int) -> None:
        if self.enabled:
            self.score = min(self.max - 1, max(0, self.score + delta))

    def scale(self, timeout: float) -> float:
        return timeout * (self.score + 1)
