"""The raft group under seeded faults: safety after every step, linearizable clients, liveness
once healed. RAFT_SIM_SEEDS=10000 runs more; a failure names its seed for
``python -m tests.sim.raft_sweep --seed N -v``."""

import os

import pytest

from .raft_sim import RaftSim

SEEDS = int(os.environ.get("RAFT_SIM_SEEDS", "300"))
BATCH = 50


@pytest.mark.parametrize("first", range(0, SEEDS, BATCH))
def test_raft_simulation_seeds(first):
    failures = []
    for seed in range(first, min(first + BATCH, SEEDS)):
        try:
            RaftSim(seed).run()
        except AssertionError as e:
            failures.append(f"seed {seed}: {str(e).splitlines()[0]}")
    assert not failures, "replay with python -m tests.sim.raft_sweep --seed N -v\n" + "\n".join(
        failures
    )


def test_same_seed_replays_the_same_run():
    a, b = RaftSim(7), RaftSim(7)
    a.run()
    b.run()
    assert a.log == b.log
    assert a.history == b.history
    assert a.committed == b.committed
