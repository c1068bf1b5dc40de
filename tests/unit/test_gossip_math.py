"""Suspicion timer math, retransmit limits, awareness and the broadcast queue."""

import math

import pytest

from swarmlet.gossip.awareness import Awareness
from swarmlet.gossip.broadcast import BroadcastQueue
from swarmlet.gossip.config import (
    DEFAULT,
    LAN,
    push_pull_period,
    retransmit_limit,
    suspicion_max,
    suspicion_min,
)
from swarmlet.gossip.suspicion import Suspicion, suspicion_timeout


def test_suspicion_min_and_max_follow_memberlist_formula():
    # min = mult * max(1, log10 n) * probe interval; max = max mult * min
    assert suspicion_min(LAN, 5) == pytest.approx(4.0)
    assert suspicion_min(LAN, 10) == pytest.approx(4.0)
    assert suspicion_min(LAN, 100) == pytest.approx(8.0)
    assert suspicion_min(LAN, 1000) == pytest.approx(12.0)
    assert suspicion_max(LAN, 1000) == pytest.approx(72.0)
    assert suspicion_min(DEFAULT, 10) == pytest.approx(1.5)


def test_suspicion_timeout_starts_at_max_and_decays_logarithmically_to_min():
    k, lo, hi = 3, 4.0, 24.0
    assert suspicion_timeout(0, k, lo, hi) == pytest.approx(24.0)
    assert suspicion_timeout(1, k, lo, hi) == pytest.approx(
        24 - 20 * math.log(2) / math.log(4), abs=1e-3
    )
    assert suspicion_timeout(2, k, lo, hi) == pytest.approx(
        24 - 20 * math.log(3) / math.log(4), abs=1e-3
    )
    assert suspicion_timeout(3, k, lo, hi) == pytest.approx(4.0)
    assert suspicion_timeout(10, k, lo, hi) == pytest.approx(4.0)  # never below min
    values = [suspicion_timeout(c, k, lo, hi) for c in range(4)]
    assert values == sorted(values, reverse=True)


def test_suspicion_without_expected_confirmations_is_fixed_at_min():
    assert suspicion_timeout(0, 0, 4.0, 24.0) == 4.0
    s = Suspicion(10.0, "a", 0, 0, 4.0, 24.0)
    assert s.deadline() == 14.0
    assert not s.confirm("b")


def test_suspicion_counts_only_new_independent_confirmers():
    s = Suspicion(100.0, "a", 0, 2, 5.0, 30.0)
    assert s.deadline() == pytest.approx(130.0)
    assert not s.confirm("a")  # the original suspector does not confirm itself
    assert s.confirm("b")
    assert not s.confirm("b")
    d1 = s.deadline()
    assert 105.0 < d1 < 130.0
    assert s.confirm("c")
    assert s.deadline() == pytest.approx(105.0)
    assert not s.confirm("d")  # k reached: nothing more to gain


def test_retransmit_limit_scales_with_log10_of_cluster_size():
    assert retransmit_limit(LAN, 1) == 4
    assert retransmit_limit(LAN, 9) == 4
    assert retransmit_limit(LAN, 10) == 8
    assert retransmit_limit(LAN, 99) == 8
    assert retransmit_limit(LAN, 100) == 12
    assert retransmit_limit(LAN, 1000) == 16


def test_push_pull_period_grows_beyond_32_members():
    assert push_pull_period(LAN, 32) == 30.0
    assert push_pull_period(LAN, 64) == 60.0
    assert push_pull_period(LAN, 1000) == 180.0


def test_awareness_is_bounded_and_scales_timeouts():
    a = Awareness(8)
    a.apply(-1)
    assert a.score == 0 and a.scale(0.5) == 0.5
    a.apply(3)
    assert a.scale(0.5) == 2.0
    a.apply(100)
    assert a.score == 7 and a.scale(1.0) == 8.0
    off = Awareness(8, enabled=False)
    off.apply(5)
    assert off.scale(1.0) == 1.0


def test_broadcast_queue_retransmit_limit_priority_and_replacement():
    q = BroadcastQueue()
    q.push({"id": "a", "inc": 1})
    q.push({"id": "b", "inc": 1})
    for _ in range(3):
        assert {u["id"] for u in q.take(limit=3, max_items=5)} == {"a", "b"}
    assert len(q) == 0  # each sent 3 times, then dropped
    q.push({"id": "a", "inc": 1})
    q.take(limit=3, max_items=5)
    q.push({"id": "a", "inc": 2})  # a newer update replaces the older, with a fresh budget
    q.push({"id": "c", "inc": 1})
    assert [u["inc"] for u in q.take(limit=3, max_items=5) if u["id"] == "a"] == [2]
    q.push({"id": "d", "inc": 1})
    first = q.take(limit=3, max_items=1)
    assert first[0]["id"] == "d"  # the least-sent update goes first
