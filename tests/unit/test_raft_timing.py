"""Raft timings: the core says when a tick next matters (so an idle runner can sleep until
then), and heartbeat/election timeouts can change while the group runs."""

import random

import pytest
import trio

from swarmlet.raft.core import LEADER, RaftConfig, RaftNode
from swarmlet.raft.messages import MSG_HEARTBEAT
from swarmlet.raft.runner import wait_for
from tests.unit.test_raft_core import Cluster
from tests.unit.test_raft_runner import Group


def ticks_until_something_happens(node: RaftNode, limit: int = 1000) -> int:
    """Tick one at a time; the number of the first tick after which the node has output or
    a new role."""
    role = node.role
    for n in range(1, limit):
        node.tick()
        if node.has_ready() or node.role != role:
            return n
    raise AssertionError("no tick did anything")


@pytest.mark.parametrize("heartbeat,election", [(1, 10), (3, 7)])
def test_no_tick_before_the_due_one_does_anything(heartbeat, election):
    c = Cluster(["a", "b", "c"])
    for node in c.nodes.values():
        node.set_timeouts(heartbeat, election)
    follower = c.nodes["b"]
    due = follower.ticks_until_due()
    assert due == follower.randomized_timeout - follower.election_elapsed
    assert ticks_until_something_happens(follower) == due  # it campaigns then
    c.settle()
    leader = next(n for n in c.nodes.values() if n.role == LEADER)
    for _ in range(5):
        # Nothing happens before the due tick (it may be a quorum check that finds the
        # quorum and does nothing visible), and a heartbeat round comes within the interval.
        due = leader.ticks_until_due()
        assert 1 <= due <= heartbeat
        assert due <= ticks_until_something_happens(leader) <= heartbeat
        c.settle()


def test_a_lone_leader_has_nothing_to_do_on_ticks():
    c = Cluster(["a"])
    leader = c.elect("a")
    assert leader.ticks_until_due() is None
    for _ in range(100):
        leader.tick()
    assert leader.role == LEADER and not leader.has_ready()


@pytest.mark.parametrize(
    "heartbeat,election",
    [(0, 5), (-1, 5), (3, 3), (4, 2), (1, 0), (1.5, 5), (True, 5)],
)
def test_bad_timeouts_are_refused_and_nothing_changes(heartbeat, election):
    node = RaftNode("a", rng=random.Random(1), config=RaftConfig(2, 10), bootstrap=["a"])
    before = (node.cfg.heartbeat_ticks, node.cfg.election_ticks, node.randomized_timeout)
    with pytest.raises(ValueError):
        node.set_timeouts(heartbeat, election)
    assert (node.cfg.heartbeat_ticks, node.cfg.election_ticks, node.randomized_timeout) == before


def test_new_timeouts_apply_to_the_election_timer_at_once():
    node = RaftNode("a", rng=random.Random(1), config=RaftConfig(1, 10), bootstrap=["a", "b"])
    node.set_timeouts(2, 4)
    assert (node.cfg.heartbeat_ticks, node.cfg.election_ticks) == (2, 4)
    assert 4 <= node.randomized_timeout < 8


@pytest.mark.anyio
async def test_running_group_adopts_a_slower_heartbeat(tmp_path):
    """After set_timeouts(3, 9) on every runner, the leader sends a heartbeat every third
    tick instead of every tick (counted per tick the leader applied, not per second)."""
    async with trio.open_nursery() as nursery:
        g = Group(nursery, tmp_path, ["n1", "n2", "n3"])
        for n in ("n1", "n2", "n3"):
            await g.start(n)
        ld = await g.leader()
        follower = next(n for n in g.runners if n != ld.id)
        sent = []
        send = ld.transport.send

        def counting_send(to, message):
            if message.get("type") == MSG_HEARTBEAT and to == follower:
                sent.append(ld._ticks_done)
            send(to, message)

        ld.transport.send = counting_send

        async def heartbeats_per_tick(ticks: int) -> float:
            sent.clear()
            start = ld._ticks_done
            await wait_for(lambda: ld._ticks_done >= start + ticks, timeout=30)
            return len([t for t in sent if t > start]) / (ld._ticks_done - start)

        assert await heartbeats_per_tick(30) > 0.8
        for r in g.runners.values():
            r.set_timeouts(3, 9)
        assert (ld.timing.heartbeat_ticks, ld.timing.election_ticks) == (3, 9)
        assert ld.core.cfg.heartbeat_ticks == 3
        rate = await heartbeats_per_tick(60)
        assert 0.25 <= rate <= 0.4
        # Still one group with one leader, and it takes writes.
        assert sum(r.is_leader for r in g.runners.values()) == 1
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_runner_refuses_a_bad_pair_and_keeps_its_timing(tmp_path):
    async with trio.open_nursery() as nursery:
        g = Group(nursery, tmp_path, ["n1"])
        r = await g.start("n1")
        before = (r.timing.heartbeat_ticks, r.timing.election_ticks)
        with pytest.raises(ValueError, match="greater than the heartbeat"):
            r.set_timeouts(5, 5)
        assert (r.timing.heartbeat_ticks, r.timing.election_ticks) == before
        assert (r.core.cfg.heartbeat_ticks, r.core.cfg.election_ticks) == before
        nursery.cancel_scope.cancel()
