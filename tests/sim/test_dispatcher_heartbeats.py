"""Seeded random heartbeat schedules against the dispatcher core: a node is declared down
exactly when its last sign of life is older than the expiry (the leader-change grace for
nodes that never registered), once, and never while it beats."""

import random

import pytest

from swarmlet.manager.dispatcher_core import DispatcherCore

NODES = [f"n{i}" for i in range(8)]


@pytest.mark.parametrize("seed", range(20))
def test_verdicts_follow_the_last_heartbeat(seed):
    rng = random.Random(seed)
    period = rng.choice([0.2, 1.0, 5.0])
    core = DispatcherCore(0.0, period=period, leader_grace=2.0)
    core.adopt_nodes([{"ID": n, "Status": {"State": "ready"}} for n in NODES], now=0.0)
    alive_until = {n: period * 3 * 2.0 for n in NODES}  # the grace after a leader change
    sessions: dict[str, str] = {}
    down: set[str] = set()
    now = 0.0
    for step in range(2000):
        now += rng.uniform(0, period / 3)
        node_id = rng.choice(NODES)
        roll = rng.random()
        if roll < 0.05:  # (re)registers
            sessions[node_id] = f"s{step}"
            core.register(node_id, sessions[node_id], now)
            alive_until[node_id] = now + period * 3
            down.discard(node_id)
        elif roll < 0.5 and node_id in sessions:  # beats, when it has a live session
            ok = core.heartbeat(node_id, sessions[node_id], now)
            assert ok == (node_id not in down)
            if ok:
                alive_until[node_id] = now + period * 3
        expired = core.tick(now)
        expected = sorted(n for n in NODES if n not in down and alive_until[n] <= now)
        assert expired == expected, f"seed {seed} step {step}"
        down.update(expired)
