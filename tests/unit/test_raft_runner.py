"""The trio runner with real sqlite storage and an in-process transport (the core under it is
the same one the simulator checks)."""

import json
import random

import pytest
import trio

from swarmlet.raft.kv import KeyValueMachine
from swarmlet.raft.runner import RaftRunner, RaftUnavailable, Timing, wait_for
from swarmlet.raft.storage import RaftStorage

KEY = bytes(32)
FAST = Timing(tick=0.02, heartbeat_ticks=1, election_ticks=5, request_timeout=5)


class Hub:
    """In-process transport: a channel per node; partitions by cutting a node off."""

    def __init__(self):
        self.inboxes = {}
        self.cut = set()

    def transport(self, node_id):
        hub = self

        class T:
            def __init__(self):
                send, self.inbound = trio.open_memory_channel(10_000)
                hub.inboxes[node_id] = send

            def send(self, to, message):
                if node_id in hub.cut or to in hub.cut or to not in hub.inboxes:
                    return
                try:
                    hub.inboxes[to].send_nowait(message)
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            def set_peer(self, node, address):
                pass

        return T()


def put(k, v):
    return json.dumps({"op": "put", "k": k, "v": v}).encode()


class Group:
    def __init__(self, nursery, tmp_path, ids, founders=None):
        self.nursery, self.tmp, self.hub = nursery, tmp_path, Hub()
        self.founders = founders or ids
        self.runners, self.scopes = {}, {}

    async def start(self, node_id):
        st = RaftStorage(str(self.tmp / f"{node_id}.db"), KEY)
        r = RaftRunner(
            node_id,
            st,
            self.hub.transport(node_id),
            KeyValueMachine(),
            bootstrap=self.founders if node_id in self.founders else None,
            timing=FAST,
            rng=random.Random(node_id),
        )
        scope = trio.CancelScope()

        async def run(task_status=trio.TASK_STATUS_IGNORED):
            with scope:
                await r.run(task_status=task_status)
            st.close()

        await self.nursery.start(run)
        self.runners[node_id], self.scopes[node_id] = r, scope
        return r

    def stop(self, node_id):
        self.scopes.pop(node_id).cancel()
        self.hub.inboxes.pop(node_id)
        return self.runners.pop(node_id)

    async def leader(self):
        await wait_for(lambda: any(r.is_leader for r in self.runners.values()), timeout=10)
        return next(r for r in self.runners.values() if r.is_leader)


@pytest.mark.anyio
async def test_write_read_failover_and_restart(tmp_path):
    async with trio.open_nursery() as nursery:
        g = Group(nursery, tmp_path, ["n1", "n2", "n3"])
        for n in ("n1", "n2", "n3"):
            await g.start(n)
        ld = await g.leader()
        follower = next(r for r in g.runners.values() if not r.is_leader)
        assert await follower.propose(put("a", "1")) == {"ok": True}
        assert await ld.propose(put("b", "2")) == {"ok": True}
        assert await follower.read(lambda sm: sm.get("a")) == "1"
        # Kill the leader: the other two elect and keep every acknowledged write.
        g.stop(ld.id)
        new = await g.leader()
        assert new.id != ld.id
        assert await new.read(lambda sm: (sm.get("a"), sm.get("b"))) == ("1", "2")
        await new.propose(put("c", "3"))
        # The old leader restarts from its sqlite store and catches up.
        again = await g.start(ld.id)
        await wait_for(lambda: again.sm.get("c") == "3", timeout=10)
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_transfer_and_membership(tmp_path):
    async with trio.open_nursery() as nursery:
        g = Group(nursery, tmp_path, ["n1", "n2", "n3", "n4"], founders=["n1", "n2", "n3"])
        for n in ("n1", "n2", "n3", "n4"):
            await g.start(n)
        ld = await g.leader()
        for i in range(20):
            await ld.propose(put(f"k{i}", str(i)))
        await ld.add_member("n4", "addr-of-n4")
        assert ld.core.conf.voters == {"n1", "n2", "n3", "n4"}
        await wait_for(lambda: g.runners["n4"].sm.get("k19") == "19", timeout=10)
        to = next(n for n in ("n1", "n2", "n3", "n4") if n != ld.id)
        await ld.transfer_leadership(to)
        assert g.runners[to].is_leader or (await g.leader()).id == to
        await g.runners[to].remove_member(ld.id)
        assert ld.id not in g.runners[to].core.conf.members
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_proposal_without_quorum_times_out(tmp_path):
    async with trio.open_nursery() as nursery:
        g = Group(nursery, tmp_path, ["n1", "n2", "n3"])
        for n in ("n1", "n2", "n3"):
            await g.start(n)
        ld = await g.leader()
        g.hub.cut = {n for n in g.runners if n != ld.id}
        with pytest.raises(RaftUnavailable):
            await ld.propose(put("x", "1"), timeout=0.5)
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_force_new_cluster_after_quorum_loss(tmp_path):
    async with trio.open_nursery() as nursery:
        g = Group(nursery, tmp_path, ["n1", "n2", "n3"])
        for n in ("n1", "n2", "n3"):
            await g.start(n)
        ld = await g.leader()
        await ld.propose(put("kept", "yes"))
        survivor = ld.id
        for n in list(g.runners):
            if n != survivor:
                g.stop(n)
        r = g.runners[survivor]
        await wait_for(lambda: not r.is_leader, timeout=10)  # check quorum steps it down
        r.force_new_cluster()
        await wait_for(lambda: r.is_leader, timeout=5)
        await r.propose(put("after", "1"))
        assert await r.read(lambda sm: (sm.get("kept"), sm.get("after"))) == ("yes", "1")
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_members_added_at_once_both_join(tmp_path):
    """Two managers joining together: the second waits for the first membership change to
    commit instead of being refused."""
    async with trio.open_nursery() as nursery:
        ids = ["n1", "n2", "n3", "n4", "n5"]
        g = Group(nursery, tmp_path, ids, founders=["n1", "n2", "n3"])
        for n in ids:
            await g.start(n)
        ld = await g.leader()
        async with trio.open_nursery() as joins:
            joins.start_soon(ld.add_member, "n4", "addr-of-n4")
            joins.start_soon(ld.add_member, "n5", "addr-of-n5")
        assert ld.core.conf.voters == set(ids)
        nursery.cancel_scope.cancel()
