"""An idle member wakes only for real work: no gossip round without an update to carry, no
timer that would fire as a no-op; a probe still ends in a verdict within its window."""

from swarmlet.gossip.config import DEFAULT
from swarmlet.gossip.sim import Simulation


def count_ticks(sim):
    ticks = {sm.id: 0 for sm in sim.members}
    for sm in sim.members:
        core = sm.core
        tick = core.tick

        def counted(now, tick=tick, node_id=sm.id):
            ticks[node_id] += 1
            tick(now)

        core.tick = counted
    return ticks


def test_converged_idle_members_wake_only_for_probes_acks_and_pings():
    sim = Simulation(3, DEFAULT, seed=5)
    sim.run_until(30.0)  # the start-up updates have used up their retransmissions
    assert all(len(sm.core._queue) == 0 for sm in sim.members)
    ticks = count_ticks(sim)
    sent = sim.messages_sent
    sim.run_until(40.0)
    probes = 10.0 / DEFAULT.probe_interval
    for node_id, n in ticks.items():
        # The simulator ticks a member on every delivery as well: its own probe's ack and
        # the pings of the other two, plus the timer that starts the next probe.
        assert n <= 3.5 * probes, (node_id, n)
    # Nothing but pings and acks: about 2 messages per probe and member.
    assert sim.messages_sent - sent <= 2 * 3 * probes * 1.1


def test_no_settled_timer_is_left_at_the_head_of_the_heap():
    sim = Simulation(3, DEFAULT, seed=6)
    sim.run_until(30.0)
    for sm in sim.members:
        core = sm.core
        core.next_deadline()
        head = core._timers[0]
        assert not core._settled(head[2], head[3])
        assert head[2] != "gossip"  # nothing queued: no round armed


def test_an_update_arms_a_round_on_the_phase_and_spreads():
    sim = Simulation(5, DEFAULT, seed=7)
    sim.run_until(30.0)
    sim.act("n0001", lambda core, now: core.update_meta({"zone": "b"}, now))
    sim.run_until(31.0)
    assert all(sm.core.meta_of("n0001").get("zone") == "b" for sm in sim.members)


def test_a_crashed_member_is_suspected_one_window_after_the_ping():
    sim = Simulation(3, DEFAULT, seed=8)
    sim.run_until(10.0)
    suspected = {}
    sim.on_event = lambda now, who, ev: (
        suspected.setdefault(who, now) if ev.kind == "suspect" else None
    )
    sim.crash("n0002")
    sim.run_until(10.0 + DEFAULT.probe_interval + DEFAULT.probe_window + 0.01)
    assert set(suspected) >= {"n0000", "n0001"} or len(suspected) >= 1
