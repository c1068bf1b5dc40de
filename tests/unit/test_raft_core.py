"""Specific scenarios of the raft core, driven by hand with instant, lossless delivery."""

import random

import cbor2
import pytest

from swarmlet.raft.core import (
    CANDIDATE,
    FOLLOWER,
    LEADER,
    PRE_CANDIDATE,
    ConfChangeRejected,
    NotLeader,
    ProposalDropped,
    RaftConfig,
    RaftNode,
)
from swarmlet.raft.messages import (
    CONF_ADD_LEARNER,
    CONF_PROMOTE,
    CONF_REMOVE,
    ENTRY_NORMAL,
    MSG_SNAP,
    Entry,
    Message,
    WireError,
)
from tests.sim.raft_sim import SimStorage


class Cluster:
    """Nodes wired to each other; ``settle()`` delivers until nothing moves."""

    def __init__(self, ids, members=None, **cfg):
        self.cfg = RaftConfig(heartbeat_ticks=1, election_ticks=10, **cfg)
        members = members or ids
        self.storage = {i: SimStorage() for i in ids}
        self.nodes = {
            i: RaftNode(
                i,
                rng=random.Random(n),
                config=self.cfg,
                bootstrap=members if i in members else None,
            )
            for n, i in enumerate(ids)
        }
        self.applied = {i: [] for i in ids}
        self.read_states = {i: [] for i in ids}
        self.blocked: set[tuple[str, str]] = set()
        self.sent: list[Message] = []
        self.settle()

    def isolate(self, node):
        for other in self.nodes:
            if other != node:
                self.blocked |= {(node, other), (other, node)}

    def heal(self):
        self.blocked = set()

    def settle(self, limit=10000):
        for _ in range(limit):
            msgs = []
            for i, n in self.nodes.items():
                while n.has_ready():
                    rd = n.ready()
                    msgs += rd.send_now
                    self.storage[i].save(rd)
                    msgs += rd.messages
                    n.advance(rd)
                    if rd.snapshot is not None:
                        self.applied[i] = [("snapshot", rd.snapshot.index, rd.snapshot.data)]
                    self.applied[i] += [e for e in rd.committed if e.kind == ENTRY_NORMAL]
                    self.read_states[i] += rd.read_states
            if not msgs:
                return
            for m in msgs:
                self.sent.append(m)
                if (m.frm, m.to) not in self.blocked:
                    self.nodes[m.to].step(m)
        raise AssertionError("cluster does not settle")

    def tick(self, node, n=1):
        for _ in range(n):
            self.nodes[node].tick()
            self.settle()

    def tick_all(self, n=1):
        for _ in range(n):
            for node in self.nodes.values():
                node.tick()
            self.settle()

    def elect(self, node):
        self.tick(node, self.nodes[node].randomized_timeout)
        assert self.nodes[node].role == LEADER
        return self.nodes[node]

    def data(self, node):
        return [e.data for e in self.applied[node] if isinstance(e, Entry)]


def test_leader_elected_and_entries_replicated_in_order():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    for i in range(5):
        ld.propose(f"x{i}".encode())
    c.settle()
    for n in ("n1", "n2", "n3"):
        assert c.data(n) == [f"x{i}".encode() for i in range(5)]
        assert c.nodes[n].leader == "n1"


def test_follower_forwards_proposals_and_errors_without_leader():
    c = Cluster(["n1", "n2", "n3"])
    with pytest.raises(ProposalDropped):
        c.nodes["n2"].propose(b"early")
    c.elect("n1")
    c.nodes["n2"].propose(b"via-follower")
    c.settle()
    assert c.data("n1") == [b"via-follower"]


def test_prevote_keeps_a_partitioned_node_from_raising_the_term():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    term = ld.term
    c.isolate("n3")
    for _ in range(100):
        c.nodes["n3"].tick()
        c.settle()
        c.nodes["n1"].tick()  # the leader keeps n2 alive with heartbeats
        c.settle()
    assert c.nodes["n3"].term == term  # pre-elections never win, the term stays
    assert c.nodes["n3"].role == PRE_CANDIDATE
    c.heal()
    c.tick_all(3)
    assert ld.role == LEADER and ld.term == term
    assert c.nodes["n3"].leader == "n1" and c.nodes["n3"].term == term


def test_without_prevote_a_returning_node_would_depose_the_leader():
    c = Cluster(["n1", "n2", "n3"], pre_vote=False, check_quorum=False)
    ld = c.elect("n1")
    c.isolate("n3")
    c.tick("n3", 100)
    assert c.nodes["n3"].term > ld.term
    term = ld.term
    c.heal()
    c.tick("n3", c.nodes["n3"].randomized_timeout)
    assert ld.term > term  # the disruption PreVote exists to prevent


def test_check_quorum_makes_an_isolated_leader_step_down():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    c.isolate("n1")
    c.tick("n1", 2 * c.cfg.election_ticks)
    assert ld.role == FOLLOWER and ld.leader is None
    with pytest.raises(ProposalDropped):
        ld.propose(b"x")


def test_vote_ignored_while_a_leader_is_known():
    c = Cluster(["n1", "n2", "n3"])
    c.elect("n1")
    n2 = c.nodes["n2"]
    n2.step(Message("vote", "n3", "n2", term=n2.term + 5, index=100, log_term=100))
    assert n2.term < 5 and n2.leader == "n1"


def test_leadership_transfer():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    ld.propose(b"a")
    c.isolate("n2")
    ld.propose(b"b")  # n2 lags: the transfer must wait for it to catch up
    c.settle()
    c.heal()
    ld.transfer_leadership("n2")
    assert c.nodes["n2"].role == FOLLOWER or c.nodes["n2"].role == LEADER
    c.settle()
    assert c.nodes["n2"].role == LEADER and ld.role == FOLLOWER
    assert c.nodes["n2"].term == ld.term
    c.nodes["n2"].propose(b"c")
    c.settle()
    assert c.data("n1") == [b"a", b"b", b"c"]


def test_transfer_requested_on_a_follower_is_forwarded():
    c = Cluster(["n1", "n2", "n3"])
    c.elect("n1")
    c.nodes["n3"].transfer_leadership("n3")
    c.settle()
    assert c.nodes["n3"].role == LEADER


def test_proposals_dropped_during_transfer():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    c.isolate("n2")
    ld.propose(b"a")
    c.settle()
    ld.transfer_leadership("n2")
    with pytest.raises(ProposalDropped):
        ld.propose(b"b")
    c.tick("n1", c.cfg.election_ticks)  # transfer times out, proposals resume
    ld.propose(b"b")


def test_snapshot_installed_in_chunks_on_a_lagging_follower():
    c = Cluster(["n1", "n2", "n3"], snapshot_chunk=16)
    ld = c.elect("n1")
    c.isolate("n3")
    for i in range(20):
        ld.propose(f"v{i}".encode())
    c.settle()
    image = b"state-machine-image-" * 5
    ld.snapshot(ld.applied, image)
    c.settle()
    assert ld.snap.index == ld.applied and len(ld.log) == 0
    c.heal()
    c.tick("n1", 3)
    n3 = c.nodes["n3"]
    chunks = [m for m in c.sent if m.type == MSG_SNAP and m.to == "n3"]
    assert len(chunks) >= len(image) // 16
    assert c.applied["n3"][0] == ("snapshot", ld.snap.index, image)
    assert n3.commit == ld.commit and n3.snap.index == ld.snap.index
    ld.propose(b"after")
    c.settle()
    assert c.data("n3") == [b"after"]


def test_learner_catches_up_then_is_promoted():
    c = Cluster(["n1", "n2", "n3", "n4"], members=["n1", "n2", "n3"], catch_up_margin=0)
    ld = c.elect("n1")
    for i in range(10):
        ld.propose(f"v{i}".encode())
    c.settle()
    c.isolate("n4")
    ld.propose_conf_change(CONF_ADD_LEARNER, "n4")
    c.settle()
    assert "n4" in ld.conf.learners
    with pytest.raises(ConfChangeRejected):
        ld.propose_conf_change(CONF_PROMOTE, "n4")  # it has nothing yet
    # A learner never campaigns.
    c.tick("n4", 100)
    assert c.nodes["n4"].role == FOLLOWER and c.nodes["n4"].term == 0
    c.heal()
    c.tick("n1", 2)
    assert c.data("n4") == c.data("n1")
    ld.propose_conf_change(CONF_PROMOTE, "n4")
    c.settle()
    assert ld.conf.voters == {"n1", "n2", "n3", "n4"}
    assert c.nodes["n4"].conf.voters == {"n1", "n2", "n3", "n4"}
    with pytest.raises(ConfChangeRejected):
        ld.propose_conf_change(CONF_ADD_LEARNER, "n4")


def test_one_membership_change_at_a_time():
    c = Cluster(["n1", "n2", "n3", "n4", "n5"], members=["n1", "n2", "n3"])
    ld = c.elect("n1")
    c.isolate("n2")
    c.isolate("n3")
    ld.propose_conf_change(CONF_ADD_LEARNER, "n4")
    with pytest.raises(ConfChangeRejected):
        ld.propose_conf_change(CONF_ADD_LEARNER, "n5")


def test_removed_leader_steps_down_and_the_rest_elect():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    ld.propose_conf_change(CONF_REMOVE, "n1")
    c.settle()
    assert ld.role == FOLLOWER and "n1" not in ld.conf.voters
    c.tick_all(40)
    leaders = [n for n in c.nodes.values() if n.role == LEADER]
    assert [n.id for n in leaders] in (["n2"], ["n3"])
    assert leaders[0].conf.voters == {"n2", "n3"}


def test_read_index_on_follower_and_leader():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    ld.propose(b"w")
    c.settle()
    c.nodes["n2"].read_index(b"r1")
    ld.read_index(b"r2")
    c.settle()
    assert [(r.context, r.index) for r in c.read_states["n2"]] == [(b"r1", ld.commit)]
    assert [(r.context, r.index) for r in c.read_states["n1"]] == [(b"r2", ld.commit)]


def test_read_index_needs_a_quorum():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    c.isolate("n1")
    ld.read_index(b"r")
    c.tick("n1", 3)
    assert c.read_states["n1"] == []


def test_force_new_cluster_keeps_data_and_survives_restart():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    ld.propose(b"committed")
    c.settle()
    c.isolate("n1")  # n2 and n3 are gone for good
    ld.propose(b"pending")
    c.settle()
    assert ld.commit < ld.last_index
    c.tick("n1", 2 * c.cfg.election_ticks)
    assert ld.role == FOLLOWER
    ld.force_new_cluster()
    c.settle()
    assert ld.role == LEADER and ld.conf.voters == {"n1"}
    ld.propose(b"after")
    c.settle()
    assert c.data("n1") == [b"committed", b"pending", b"after"]
    st = c.storage["n1"]
    again = RaftNode(
        "n1",
        rng=random.Random(1),
        config=c.cfg,
        hard_state=st.hard,
        entries=st.entries,
        snapshot=st.snapshot,
    )
    assert again.conf.voters == {"n1"} and again.commit == ld.commit
    again.tick()
    for _ in range(30):
        again.tick()
    assert again.role == LEADER


def test_restart_from_storage_resumes():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    for i in range(3):
        ld.propose(f"v{i}".encode())
    c.settle()
    st = c.storage["n2"]
    n2 = RaftNode(
        "n2",
        rng=random.Random(9),
        config=c.cfg,
        hard_state=st.hard,
        entries=st.entries,
        snapshot=st.snapshot,
    )
    rd = n2.ready()
    assert [e.data for e in rd.committed if e.kind == ENTRY_NORMAL] == [b"v0", b"v1", b"v2"]
    assert n2.term == ld.term


def test_candidate_role_after_timeout_without_prevote():
    c = Cluster(["n1", "n2", "n3"], pre_vote=False)
    c.isolate("n1")
    c.tick("n1", 30)
    assert c.nodes["n1"].role == CANDIDATE


def test_messages_survive_cbor_and_bad_ones_are_rejected():
    m = Message(
        "app",
        "n1",
        "n2",
        term=3,
        index=7,
        log_term=2,
        entries=[Entry(3, 8, 0, b"\x00data")],
        commit=6,
    )
    back = Message.from_wire(cbor2.loads(cbor2.dumps(m.to_wire())))
    assert back == m
    for bad in (
        {"type": "nope", "from": "a", "to": "b"},
        {"type": "app", "from": "a", "to": "b", "term": -1},
        {"type": "app", "from": "a", "to": "b", "entries": [[1, 2, 3]]},
        {"type": "app", "from": "a", "to": "b", "extra": 1},
        [],
    ):
        with pytest.raises(WireError):
            Message.from_wire(bad)


def test_not_leader_error_names_the_leader():
    c = Cluster(["n1", "n2", "n3"])
    c.elect("n1")
    with pytest.raises(NotLeader) as e:
        c.nodes["n2"].propose_conf_change(CONF_REMOVE, "n3")
    assert e.value.leader == "n1"


def test_leader_counts_its_own_copy_only_once_durable():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    ld.propose(b"x")
    rd = ld.ready()
    assert {m.to for m in rd.send_now if m.entries} == {"n2", "n3"}  # before persisting
    for m in rd.send_now:
        if m.to == "n2":
            c.nodes["n2"].step(m)
    for m in c.nodes["n2"].ready().messages:
        ld.step(m)  # n2's acknowledgement arrives before the leader's own write is durable
    assert ld.commit < ld.last_index
    c.storage["n1"].save(rd)
    ld.advance(rd)
    assert ld.commit == ld.last_index


def test_malformed_append_is_ignored():
    c = Cluster(["n1", "n2", "n3"])
    ld = c.elect("n1")
    n2 = c.nodes["n2"]
    before = n2.last_index
    bad = Message(
        "app",
        "n1",
        "n2",
        term=ld.term,
        index=n2.last_index,
        log_term=n2.last_term,
        entries=[Entry(ld.term, n2.last_index + 2, 0, b"gap")],
    )
    n2.step(bad)
    assert n2.last_index == before and not n2.ready().messages
