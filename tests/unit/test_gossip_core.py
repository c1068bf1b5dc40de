"""The SWIM core driven message by message, with time passed in by hand."""

import random

from swarmlet.gossip.config import LAN
from swarmlet.gossip.core import ALIVE, DEAD, LEFT, SUSPECT, Swim


def make(n=5, profile=LAN, me="n0"):
    core = Swim(me, "addr-" + me, {"role": "manager"}, profile, random.Random(1), 0.0)
    state = [
        {"id": f"n{i}", "addr": f"addr-n{i}", "meta": {"role": "worker"}, "inc": 0, "st": "alive"}
        for i in range(n)
    ]
    core.seed_state(state, 0.0)
    return core


def run_until(core, t):
    while (d := core.next_deadline()) is not None and d <= t:
        core.tick(d)
    return core.take_sends()


def test_ping_is_acked_to_the_sender():
    core = make()
    core.receive({"t": "ping", "seq": 7, "from": "n1", "fa": "addr-n1", "to": "n0"}, 0.1)
    sends = core.take_sends()
    acks = [s for s in sends if s.msg["t"] == "ack"]
    assert len(acks) == 1 and acks[0].to == "n1" and acks[0].msg["seq"] == 7


def test_ping_meant_for_another_member_is_ignored():
    core = make()
    core.receive({"t": "ping", "seq": 7, "from": "n1", "fa": "addr-n1", "to": "nX"}, 0.1)
    assert not [s for s in core.take_sends() if s.msg["t"] == "ack"]


def test_suspicion_of_self_is_refuted_with_a_higher_incarnation():
    core = make()
    core.receive(
        {"t": "gossip", "from": "n1", "pb": [{"k": "suspect", "id": "n0", "inc": 0, "from": "n1"}]},
        1.0,
    )
    assert core.inc == 1
    core.tick(1.0)
    sends = run_until(core, 2.0)
    alive = [u for s in sends for u in s.msg.get("pb", []) if u["k"] == "alive" and u["id"] == "n0"]
    assert alive and alive[0]["inc"] == 1
    assert core.awareness.score >= 1  # having to refute is a sign of poor local health


def test_dead_verdict_about_self_is_refuted():
    core = make()
    core.receive(
        {"t": "gossip", "from": "n1", "pb": [{"k": "dead", "id": "n0", "inc": 3, "from": "n1"}]},
        1.0,
    )
    assert core.inc == 4 and core.state_of("n0") == ALIVE


def test_alive_with_higher_incarnation_clears_suspicion_and_reports_metadata():
    core = make()
    core.take_events()
    core.receive(
        {"t": "gossip", "from": "n2", "pb": [{"k": "suspect", "id": "n1", "inc": 0, "from": "n2"}]},
        1.0,
    )
    assert core.state_of("n1") == SUSPECT
    upd = {"k": "alive", "id": "n1", "inc": 1, "addr": "addr-n1", "meta": {"role": "manager"}}
    core.receive({"t": "gossip", "from": "n1", "pb": [upd]}, 1.5)
    assert core.state_of("n1") == ALIVE
    assert [e.kind for e in core.take_events()] == ["suspect", "alive", "update"]
    assert core.meta_of("n1") == {"role": "manager"}
    # an older alive does not undo the newer one
    core.receive({"t": "gossip", "from": "n3", "pb": [{**upd, "inc": 0, "meta": {}}]}, 1.6)
    assert core.meta_of("n1") == {"role": "manager"}


def test_failed_probe_asks_indirect_checks_then_suspects_then_declares_dead():
    core = make(n=6)
    core.take_events()
    # Silence: nobody answers anything.
    sends = run_until(core, 1.0 + LAN.probe_interval)
    pings = [s for s in sends if s.msg["t"] == "ping"]
    preqs = [s for s in sends if s.msg["t"] == "preq"]
    assert pings and len(preqs) == LAN.indirect_checks
    target = pings[0].to
    assert target not in {s.to for s in preqs}
    assert all(s.msg["target"] == target and s.msg["nack"] for s in preqs)
    assert core.state_of(target) == SUSPECT
    run_until(core, 200.0)
    assert core.state_of(target) == DEAD
    assert core.awareness.score > 0  # all those missing nacks count against us


def test_indirect_ack_through_a_helper_prevents_suspicion():
    core = make(n=6)
    core.take_events()
    while True:
        core.tick(core.next_deadline())
        sends = core.take_sends()
        pings = [s for s in sends if s.msg["t"] == "ping"]
        if pings:
            break
    ping = pings[0]
    t = core.now
    sends = run_until(core, t + LAN.probe_timeout + 0.01)
    preq = next(s for s in sends if s.msg["t"] == "preq")
    core.receive({"t": "ack", "seq": preq.msg["seq"], "from": preq.to}, t + 0.6)
    run_until(core, t + LAN.probe_interval + 0.01)
    assert core.state_of(ping.to) == ALIVE


def test_relay_forwards_ack_or_sends_nack():
    core = make()
    core.receive(
        {
            "t": "preq",
            "seq": 5,
            "from": "n1",
            "fa": "addr-n1",
            "target": "n2",
            "taddr": "addr-n2",
            "nack": True,
        },
        1.0,
    )
    ping = next(s for s in core.take_sends() if s.msg["t"] == "ping")
    assert ping.to == "n2"
    core.receive({"t": "ack", "seq": ping.msg["seq"], "from": "n2"}, 1.1)
    fwd = [s for s in core.take_sends() if s.msg["t"] == "ack"]
    assert fwd and fwd[0].to == "n1" and fwd[0].msg["seq"] == 5
    core.receive(
        {
            "t": "preq",
            "seq": 6,
            "from": "n1",
            "fa": "addr-n1",
            "target": "n3",
            "taddr": "addr-n3",
            "nack": True,
        },
        2.0,
    )
    sends = run_until(core, 2.0 + LAN.probe_timeout)
    nacks = [s for s in sends if s.msg["t"] == "nack"]
    assert nacks and nacks[0].msg["seq"] == 6


def test_leave_announces_dead_from_self_and_others_record_left():
    a, b = make(me="n0"), make(me="n1")
    a.leave(1.0)
    msgs = [s.msg for s in a.take_sends() if s.msg["t"] == "gossip"]
    assert msgs
    b.receive(msgs[0], 1.01)
    assert b.state_of("n0") == LEFT
    assert [e.kind for e in b.take_events() if e.node_id == "n0"] == ["left"]


def test_update_meta_bumps_version_and_spreads():
    a, b = make(me="n0"), make(me="n1")
    a.update_meta({"overlay": {"vtep": "10.0.0.1"}}, 1.0)
    assert a.inc == 1
    sends = run_until(a, 2.0)
    for s in sends:
        if s.to == "n1":
            b.receive(s.msg, 2.0)
    assert b.meta_of("n0") == {"role": "manager", "overlay": {"vtep": "10.0.0.1"}}
    assert "update" in [e.kind for e in b.take_events() if e.node_id == "n0"]


def test_malformed_messages_are_dropped_without_raising():
    core = make()
    for bad in (
        {},
        {"t": "nope"},
        {"t": "ping"},
        {"t": "gossip", "pb": [{"k": "alive"}]},
        {"t": "gossip", "pb": [{"k": "alive", "id": 3, "inc": "x"}]},
        {"t": "sync", "state": 5},
    ):
        core.receive(bad, 1.0)
    assert core.stats.dropped == 6


def test_push_pull_merges_state_and_answers_once():
    a = make(n=3, me="n0")
    sync = {
        "t": "sync",
        "from": "n9",
        "fa": "addr-n9",
        "join": True,
        "reply": False,
        "state": [
            {"id": "n9", "addr": "addr-n9", "meta": {}, "inc": 0, "st": "alive"},
            {"id": "n0", "addr": "addr-n0", "meta": {}, "inc": 2, "st": "dead"},
        ],
    }
    a.receive(sync, 1.0)
    assert a.state_of("n9") == ALIVE
    assert a.inc == 3  # its own old death was refuted, as a rejoining member must
    replies = [s for s in a.take_sends() if s.msg["t"] == "sync"]
    assert len(replies) == 1 and replies[0].msg["reply"] and replies[0].addr == "addr-n9"


def test_suspicion_at_a_newer_incarnation_restarts_the_timer():
    # The member refuted the first suspicion (we missed that alive) and was suspected again:
    # the old timer must not declare it dead.
    core = make()
    core.receive(
        {"t": "gossip", "from": "n2", "pb": [{"k": "suspect", "id": "n1", "inc": 0, "from": "n2"}]},
        1.0,
    )
    core.receive(
        {"t": "gossip", "from": "n3", "pb": [{"k": "suspect", "id": "n1", "inc": 1, "from": "n3"}]},
        5.0,
    )
    suspicion = core._members["n1"].suspicion
    assert suspicion.start == 5.0 and suspicion.incarnation == 1
    assert suspicion.deadline() == 5.0 + 24.0  # max at n = 5, no confirmations yet


def test_helper_nacks_within_the_wait_the_requester_gives():
    core = make()
    preq = {
        "t": "preq",
        "seq": 6,
        "from": "n1",
        "fa": "addr-n1",
        "target": "n3",
        "taddr": "addr-n3",
        "nack": True,
        "wait": 0.3,
    }
    core.receive(preq, 2.0)
    core.take_sends()
    assert not [s for s in run_until(core, 2.29) if s.msg["t"] == "nack"]
    assert [s for s in run_until(core, 2.31) if s.msg["t"] == "nack"]


def test_member_in_poor_health_stretches_its_own_verdicts():
    healthy, slow = make(), make()
    slow.awareness.apply(1)  # e.g. it missed nacks: it is probably the slow one
    for core in (healthy, slow):
        core.receive(
            {
                "t": "gossip",
                "from": "n2",
                "pb": [{"k": "suspect", "id": "n1", "inc": 0, "from": "n2"}],
            },
            1.0,
        )
        for other in ("n3", "n4"):  # two independent confirmations: timeout at its minimum
            core.receive(
                {
                    "t": "gossip",
                    "from": other,
                    "pb": [{"k": "suspect", "id": "n1", "inc": 0, "from": other}],
                },
                1.5,
            )
        # keep this member's own probes, gossip and syncs out of the picture
        core._timers = sorted(t for t in core._timers if t[2] == "suspicion")
    healthy.tick(1.0 + 4.0)
    slow.tick(1.0 + 4.0)
    assert healthy.state_of("n1") == DEAD
    assert slow.state_of("n1") == SUSPECT
    slow.tick(1.0 + 8.0)
    assert slow.state_of("n1") == DEAD
