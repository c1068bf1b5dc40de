"""Lifeguard's dynamic suspicion: the timeout starts at max and falls toward min, on a
logarithmic curve, as independent members confirm the suspicion."""

from __future__ import annotations

import math


def suspicion_timeout(confirmations: int, k: int, min_t: float, max_t: float) -> float:
    """Timeout after `confirmations` of the `k` expected ones (whole milliseconds)."""
    if k < 1:
        return min_t
    frac = math.log(confirmations + 1) / math.log(k + 1)
    raw = max_t - frac * (max_t - min_t)
    return max(min_t, math.floor(raw * 1000) / 1000)


class Suspicion:
    """One suspicion of one member: who has confirmed it and when it expires."""

    __slots__ = ("start", "k", "min_t", "max_t", "confirmers", "incarnation")

    def __init__(self, start, suspector, incarnation, k, min_t, max_t):
        self.start = start
        self.incarnation = incarnation
        self.k = k
        self.min_t = min_t
        self.max_t = max_t if k >= 1 else min_t
        self.confirmers = {suspector}

    @property
    def confirmations(self) -> int:
        return len(self.confirmers) - 1

    def confirm(self, member_id) -> bool:
        """Count an independent confirmation; True when it is new (and worth re-gossiping)."""
        if self.confirmations >= self.k or member_id in self.confirmers:
            return False
        self.confirmers.add(member_id)
        return True

    def deadline(self) -> float:
        return self.start + suspicion_timeout(self.confirmations, self.k, self.min_t, self.max_t)
