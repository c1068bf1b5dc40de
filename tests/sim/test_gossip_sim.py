"""Cluster behaviour of the SWIM core in the deterministic simulator (seeded faults)."""

import pytest

from swarmlet.gossip.config import DEFAULT, LAN, suspicion_min
from swarmlet.gossip.sim import Simulation

SEEDS = [1, 2, 3]


def dead_everywhere(sim, victim):
    seen = sim.first_dead.get(victim, {})
    return all(m in seen for m in sim.live_ids())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("profile,n", [(LAN, 100), (DEFAULT, 20)], ids=["lan-100", "default-20"])
def test_every_live_member_declares_a_crashed_one_dead(profile, n, seed):
    sim = Simulation(n, profile, seed=seed)
    sim.run_until(5.0)
    sim.crash("n0007")
    sim.run_until(5.0 + 120.0)
    assert dead_everywhere(sim, "n0007")
    assert sim.false_dead == 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("profile,n", [(LAN, 50), (DEFAULT, 10)], ids=["lan-50", "default-10"])
def test_member_stalled_below_min_suspicion_refutes_and_is_never_declared_dead(profile, n, seed):
    sim = Simulation(n, profile, seed=seed)
    sim.run_until(5.0)
    stall = 0.8 * suspicion_min(profile, n)
    sim.stall("n0003", stall)
    sim.run_until(5.0 + stall + 60.0)
    assert "n0003" not in sim.first_dead
    assert sim.false_dead == 0
    assert sim.core("n0003").stats.refutations >= 1  # it was suspected, and it answered


@pytest.mark.parametrize("seed", SEEDS)
def test_one_percent_loss_with_healthy_members_gives_no_dead_verdict(seed):
    sim = Simulation(100, LAN, seed=seed, loss=0.01)
    sim.run_until(300.0)
    assert sim.false_dead == 0
    assert not sim.first_dead


@pytest.mark.parametrize("seed", SEEDS)
def test_metadata_change_reaches_every_member(seed):
    sim = Simulation(200, LAN, seed=seed, loss=0.01)
    sim.run_until(3.0)
    endpoint = {"vtep": "10.1.2.3", "vnis": [4096]}
    sim.act("n0042", lambda core, now: core.update_meta({"overlay": endpoint}, now))
    sim.run_until(63.0)
    for node_id in sim.live_ids():
        meta = sim.core(node_id).meta_of("n0042")
        assert meta["overlay"] == endpoint and meta["role"] == "worker", node_id


def test_graceful_leave_is_seen_as_left_not_dead():
    sim = Simulation(100, LAN, seed=4)
    sim.run_until(3.0)
    sim.act("n0010", lambda core, now: core.leave(now))
    sim.run_until(8.0)
    assert sim.core("n0010").leave_announced
    sim.crash("n0010")  # the process exits after announcing
    sim.run_until(100.0)
    for node_id in sim.live_ids():
        assert sim.core(node_id).state_of("n0010") == "left", node_id
    assert "n0010" not in sim.first_dead


@pytest.mark.parametrize("profile", [LAN, DEFAULT], ids=["lan", "default"])
def test_dead_member_that_comes_back_rejoins_with_a_higher_incarnation(profile):
    sim = Simulation(50, profile, seed=5)
    sim.run_until(3.0)
    sim.crash("n0020")
    sim.run_until(90.0)
    assert dead_everywhere(sim, "n0020")
    sim.restart("n0020", seeds=["n0001"], meta={"role": "worker", "gen": 2})
    sim.run_until(150.0)
    assert sim.core("n0020").incarnation_of("n0020") >= 1
    for node_id in sim.live_ids():
        core = sim.core(node_id)
        assert core.state_of("n0020") == "alive", node_id
        assert core.meta_of("n0020") == {"role": "worker", "gen": 2}
    assert sim.core("n0020").live_count == 50


def test_partitioned_halves_declare_each_other_dead_and_merge_after_healing():
    sim = Simulation(40, DEFAULT, seed=6)
    sim.run_until(3.0)
    left = [f"n{i:04d}" for i in range(20)]
    sim.partition([left])
    sim.run_until(40.0)
    assert sim.core("n0000").state_of("n0030") == "dead"
    sim.heal()
    sim.run_until(400.0)
    for node_id in sim.live_ids():
        assert sim.core(node_id).live_count == 40, node_id


def test_same_seed_gives_the_same_run():
    def run():
        sim = Simulation(40, LAN, seed=9, loss=0.02)
        sim.run_until(5.0)
        sim.crash("n0011")
        sim.stall("n0012", 2.0)
        sim.run_until(60.0)
        return sim.messages_sent, sim.first_dead.get("n0011")

    assert run() == run()
