"""Deterministic simulation of a raft group under faults, with safety checks after every step
and a linearizability check of the clients' history at the end.

One seed decides everything (network delays, drops, duplicates, partitions, crashes, which
writes were synced before a crash, membership changes, transfers, client operations), so a
failing seed replays exactly: ``python -m tests.sim.raft_sweep --seed N``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

from swarmlet.raft.core import (
    LEADER,
    ConfChangeRejected,
    NotLeader,
    ProposalDropped,
    RaftConfig,
    RaftNode,
    Ready,
)
from swarmlet.raft.kv import KeyValueMachine
from swarmlet.raft.messages import (
    CONF_ADD_LEARNER,
    CONF_PROMOTE,
    CONF_REMOVE,
    ENTRY_NORMAL,
    Entry,
    HardState,
    Snapshot,
)

from .linearizability import Op, check_history
from .simnet import NetFaults, SimNet

TICK = 10.0  # virtual time units per raft tick


class SafetyViolation(AssertionError):
    pass


@dataclass
class SimParams:
    nodes: int = 5
    founders: int = 3
    duration: float = 3000.0  # faulty phase
    settle: float = 1500.0  # healed phase at the end (liveness)
    clients: int = 3
    keys: int = 3
    fault_every: float = 250.0
    crash_prob: float = 0.25
    partition_prob: float = 0.25
    one_way_prob: float = 0.1
    membership_prob: float = 0.2
    transfer_prob: float = 0.1
    sync_delay: float = 4.0  # a batch becomes durable up to this long after it was written
    snapshot_every: int = 25  # compact when this many entries are applied past the snapshot
    raft: RaftConfig = field(
        default_factory=lambda: RaftConfig(
            heartbeat_ticks=2,
            election_ticks=10,
            max_entries_per_msg=8,
            max_inflight=4,
            snapshot_chunk=64,
            catch_up_margin=4,
        )
    )
    faults: NetFaults = field(
        default_factory=lambda: NetFaults(
            min_delay=1.0, max_delay=12.0, drop=0.03, duplicate=0.03, spike=0.02, spike_delay=150
        )
    )


def params_for_seed(seed: int) -> SimParams:
    """Vary the kind of trouble by seed: a third of the seeds crash nodes often (half of those
    on slow disks), some start with five voters instead of three."""
    rng = random.Random(f"profile-{seed}")
    p = SimParams()
    if seed % 3 == 1:
        p.crash_prob, p.partition_prob, p.fault_every = 0.5, 0.2, 120.0
        if rng.random() < 0.5:
            p.sync_delay = 30.0  # slow disks: crashes often lose written, unsynced batches
    if rng.random() < 0.25:
        p.founders = 5
    return p


class SimStorage:
    """What survives a crash: exactly the batches that were synced, applied like sqlite does."""

    def __init__(self):
        self.hard = HardState()
        self.entries: list[Entry] = []
        self.snapshot = Snapshot()

    def save(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.entries:
            first = rd.entries[0].index
            self.entries = [e for e in self.entries if e.index < first]
            if self.entries and self.entries[-1].index + 1 != first:
                raise SafetyViolation(f"gap in stored log before {first}")
            if not self.entries and first != self.snapshot.index + 1:
                raise SafetyViolation(
                    f"stored log starts at {first}, snapshot {self.snapshot.index}"
                )
            self.entries.extend(rd.entries)
        if rd.compaction is not None:
            self.snapshot = rd.compaction
            self.entries = [e for e in self.entries if e.index > rd.compaction.index]
        if rd.hard_state is not None:
            old, new = self.hard, rd.hard_state
            if new.term < old.term:
                raise SafetyViolation(f"stored term went back {old.term} -> {new.term}")
            if new.term == old.term and old.vote is not None and new.vote != old.vote:
                raise SafetyViolation(f"voted twice in term {new.term}: {old.vote}, {new.vote}")
            self.hard = new


class SimNode:
    def __init__(self, sim: RaftSim, node_id: str, founder: bool):
        self.sim = sim
        self.id = node_id
        self.founder = founder
        self.storage = SimStorage()
        self.alive = False
        self.incarnation = 0
        self.start()

    def start(self) -> None:
        st = self.storage
        self.core = RaftNode(
            self.id,
            rng=random.Random(self.sim.rng.random()),
            config=self.sim.params.raft,
            hard_state=st.hard,
            entries=list(st.entries),
            snapshot=st.snapshot,
            bootstrap=self.sim.founders if self.founder else None,
        )
        self.kv = KeyValueMachine()
        self.kv.restore(st.snapshot.data)
        self.applied = st.snapshot.index
        self.pending: list[Ready] = []
        self.sync_scheduled = False
        self.waiting_puts: dict[tuple[str, int], object] = {}
        self.waiting_reads: dict[bytes, object] = {}
        self.reads_at: list[tuple[int, object]] = []  # (index, callback) waiting for apply
        self.alive = True
        self.incarnation += 1
        self.sim.net.after(TICK * self.sim.rng.random(), self._tick, self.incarnation)
        self.drain()

    def crash(self) -> None:
        """Lose memory and every batch that was not synced yet."""
        self.alive = False
        self.pending = []

    # ------------------------------------------------------------ driving the core

    def _tick(self, incarnation: int) -> None:
        if not self.alive or incarnation != self.incarnation:
            return
        self.core.tick()
        self.drain()
        self.sim.net.after(TICK, self._tick, incarnation)

    def deliver(self, msg) -> None:
        if not self.alive:
            return
        self.core.step(msg)
        self.drain()

    def drain(self) -> None:
        while self.core.has_ready():
            rd = self.core.ready()
            self.sim.observe(self, rd)
            for m in rd.send_now:
                self.sim.net.send(m.frm, m.to, m, self.sim.deliver)
            self._apply_ready(rd)
            self.pending.append(rd)
        if self.pending and not self.sync_scheduled:
            self.sync_scheduled = True
            delay = self.sim.rng.uniform(0, self.sim.params.sync_delay)
            self.sim.net.after(delay, self._sync, self.incarnation)

    def _sync(self, incarnation: int) -> None:
        if incarnation != self.incarnation or not self.alive:
            return
        self.sync_scheduled = False
        batches, self.pending = self.pending, []
        for rd in batches:
            self.storage.save(rd)
        for rd in batches:
            self.core.advance(rd)
            for m in rd.messages:
                self.sim.net.send(m.frm, m.to, m, self.sim.deliver)
        self.drain()

    def _apply_ready(self, rd: Ready) -> None:
        """Like the runner: apply as soon as the batch is out, before it is durable here."""
        if rd.snapshot is not None:
            self.kv.restore(rd.snapshot.data)
            self.applied = rd.snapshot.index
        for e in rd.committed:
            self._apply(e)
        for rs in rd.read_states:
            cb = self.waiting_reads.pop(rs.context, None)
            if cb is not None:
                self.reads_at.append((rs.index, cb))
        self._serve_reads()
        if self.applied - self.core.snap.index >= self.sim.params.snapshot_every:
            self.core.snapshot(self.applied, self.kv.snapshot())

    def _apply(self, e: Entry) -> None:
        if e.index != self.applied + 1:
            raise SafetyViolation(f"{self.id} applies {e.index} after {self.applied}")
        self.sim.check_apply(self, e)
        self.applied = e.index
        if e.kind != ENTRY_NORMAL:
            self.kv.applied = e.index
            return
        result = self.kv.apply(e.index, e.data)
        cmd = json.loads(e.data)
        cb = self.waiting_puts.pop((cmd["c"], cmd["s"]), None)
        if cb is not None:
            cb("ok", result)

    def _serve_reads(self) -> None:
        keep = []
        for index, cb in self.reads_at:
            if self.applied >= index:
                cb("ok", None)
            else:
                keep.append((index, cb))
        self.reads_at = keep

    # ------------------------------------------------------------ client requests

    def put(self, client: str, seq: int, key: str, value: str, cb) -> None:
        cmd = json.dumps({"op": "put", "k": key, "v": value, "c": client, "s": seq}).encode()
        try:
            self.core.propose(cmd)
        except ProposalDropped:
            cb("fail", None)
            return
        self.waiting_puts[(client, seq)] = cb
        self.drain()

    def get(self, client: str, seq: int, cb) -> None:
        ctx = f"{client}:{seq}".encode()
        try:
            self.core.read_index(ctx)
        except ProposalDropped:
            cb("fail", None)
            return
        self.waiting_reads[ctx] = cb
        self.drain()


class RaftSim:
    def __init__(self, seed: int, params: SimParams | None = None):
        self.seed = seed
        self.params = p = params or params_for_seed(seed)
        self.rng = random.Random(seed)
        self.net = SimNet(self.rng, p.faults)
        ids = [f"n{i + 1}" for i in range(p.nodes)]
        self.founders = ids[: p.founders]
        self.leaders_by_term: dict[int, str] = {}
        self.entry_ids: dict[
            tuple[int, int], tuple
        ] = {}  # (index, term) -> (kind, data, prev term)
        self.committed: dict[int, tuple[int, bytes]] = {}  # index -> (term, data)
        self.history: list[Op] = []
        self.nodes = {i: SimNode(self, i, i in self.founders) for i in ids}
        self.log: list[str] = []

    # ------------------------------------------------------------ invariants

    def observe(self, node: SimNode, rd: Ready) -> None:
        core = node.core
        if rd.soft_state is not None and rd.soft_state.role == LEADER:
            term = rd.soft_state.term
            other = self.leaders_by_term.setdefault(term, node.id)
            if other != node.id:
                raise SafetyViolation(f"two leaders in term {term}: {other} and {node.id}")
            self._check_leader_complete(node)
        for e in rd.entries:
            ident = (e.kind, e.data, core.term_at(e.index - 1))
            seen = self.entry_ids.setdefault((e.index, e.term), ident)
            if seen[:2] != ident[:2] or None not in (seen[2], ident[2]) and seen[2] != ident[2]:
                raise SafetyViolation(f"log matching broken at index {e.index} term {e.term}")
        for e in rd.committed:
            self._record_committed(e)

    def _record_committed(self, e: Entry) -> None:
        seen = self.committed.setdefault(e.index, (e.term, e.data))
        if seen != (e.term, e.data):
            raise SafetyViolation(f"two different entries committed at index {e.index}")

    def check_apply(self, node: SimNode, e: Entry) -> None:
        self._record_committed(e)

    def _check_leader_complete(self, node: SimNode) -> None:
        core = node.core
        for index, (term, _) in self.committed.items():
            if index <= core.snap.index:
                continue
            if core.term_at(index) != term:
                raise SafetyViolation(
                    f"leader {node.id} (term {core.term}) lacks committed entry {index}"
                )

    # ------------------------------------------------------------ plumbing

    def deliver(self, dst: str, msg) -> None:
        self.nodes[dst].deliver(msg)

    def note(self, what: str) -> None:
        self.log.append(f"{self.net.now:8.1f} {what}")

    def leader(self) -> SimNode | None:
        best = None
        for n in self.nodes.values():
            if n.alive and n.core.role == LEADER and (best is None or n.core.term > best.core.term):
                best = n
        return best

    # ------------------------------------------------------------ faults

    def _fault(self) -> None:
        if self.net.now >= self.params.duration:
            return
        p, rng = self.params, self.rng
        ids = list(self.nodes)
        r = rng.random()
        if r < p.crash_prob:
            victim = self.nodes[rng.choice(ids)]
            ld = self.leader()
            if ld is not None and rng.random() < 0.5:
                victim = ld  # leaders' crashes are the interesting ones
            if victim.alive:
                self.note(f"crash {victim.id}")
                victim.crash()
                self.net.after(rng.uniform(50, 600), self._restart, victim.id)
        elif (r := r - p.crash_prob) < p.partition_prob:
            shuffled = ids[:]
            rng.shuffle(shuffled)
            cut = rng.randrange(1, len(ids))
            self.note(f"partition {shuffled[:cut]} | {shuffled[cut:]}")
            self.net.partition(shuffled[:cut], shuffled[cut:])
        elif (r := r - p.partition_prob) < p.one_way_prob:
            a, b = rng.sample(ids, 2)
            self.note(f"block {a} -> {b}")
            self.net.block_one_way(a, b)
        elif (r := r - p.one_way_prob) < p.membership_prob:
            self._membership_change()
        elif (r := r - p.membership_prob) < p.transfer_prob:
            ld = self.leader()
            if ld is not None:
                voters = sorted(ld.core.conf.voters - {ld.id})
                if voters:
                    to = rng.choice(voters)
                    self.note(f"transfer {ld.id} -> {to}")
                    ld.core.transfer_leadership(to)
                    ld.drain()
        else:
            self.note("heal")
            self.net.heal()
        self.net.after(rng.uniform(0.5, 1.5) * p.fault_every, self._fault)

    def _restart(self, node_id: str) -> None:
        n = self.nodes[node_id]
        if not n.alive:
            self.note(f"restart {node_id}")
            n.start()

    def _membership_change(self) -> None:
        ld = self.leader()
        if ld is None:
            return
        conf = ld.core.conf
        outsiders = sorted(set(self.nodes) - conf.members)
        choices = []
        if outsiders:
            choices.append((CONF_ADD_LEARNER, self.rng.choice(outsiders)))
        if conf.learners:
            choices.append((CONF_PROMOTE, self.rng.choice(sorted(conf.learners))))
        if len(conf.voters) > 3:
            choices.append((CONF_REMOVE, self.rng.choice(sorted(conf.voters))))
        if conf.learners and self.rng.random() < 0.2:
            choices.append((CONF_REMOVE, self.rng.choice(sorted(conf.learners))))
        if not choices:
            return
        op, node = self.rng.choice(choices)
        try:
            ld.core.propose_conf_change(op, node)
            self.note(f"{op} {node} via {ld.id}")
        except (ConfChangeRejected, NotLeader, ProposalDropped) as e:
            self.note(f"{op} {node} refused: {e}")
        ld.drain()

    # ------------------------------------------------------------ clients

    def _client_loop(self, client: str, seq: int) -> None:
        p, rng = self.params, self.rng
        if self.net.now >= p.duration + p.settle * 0.6:
            return
        key = f"k{rng.randrange(p.keys)}"
        alive = [n for n in self.nodes.values() if n.alive]
        if not alive:
            self.net.after(20, self._client_loop, client, seq)
            return
        node = rng.choice(alive)
        start = self.net.now
        state = {"done": False}
        is_put = rng.random() < 0.6
        value = f"{client}.{seq}" if is_put else None

        def finish(outcome: str, _result) -> None:
            if state["done"]:
                return
            state["done"] = True
            if outcome == "ok":
                v = value if is_put else node.kv.get(key)
                self.history.append(
                    Op(client, "put" if is_put else "get", key, v, start, self.net.now)
                )
            elif outcome == "timeout" and is_put:
                self.history.append(Op(client, "put", key, value, start, math.inf))
            # "fail": definitely not applied, nothing to record
            self.net.after(rng.uniform(1, 20), self._client_loop, client, seq + 1)

        self.net.after(p.raft.election_ticks * TICK * 4, finish, "timeout", None)
        if is_put:
            node.put(client, seq, key, value, finish)
        else:
            node.get(client, seq, finish)

    # ------------------------------------------------------------ run

    def run(self) -> None:
        p = self.params
        self.net.after(self.rng.uniform(0.5, 1.5) * p.fault_every, self._fault)
        for c in range(p.clients):
            self.net.after(self.rng.uniform(0, 50), self._client_loop, f"c{c}", 1)
        self.net.run_until(p.duration)
        # Heal everything and check the group makes progress again.
        self.note("final heal")
        self.net.heal()
        self.net.faults = NetFaults(min_delay=p.faults.min_delay, max_delay=p.faults.max_delay)
        for n in self.nodes.values():
            if not n.alive:
                n.start()
        end = p.duration + p.settle
        self.net.run_until(end)
        self._check_liveness()
        check_history(self.history)

    def _check_liveness(self) -> None:
        ld = self.leader()
        if ld is None:
            raise SafetyViolation("no leader after the network healed")
        # Every live member must have caught up with the leader's commit index.
        marker = json.dumps({"op": "put", "k": "final", "v": "x", "c": "final", "s": 1}).encode()
        ld.core.propose(marker)
        ld.drain()
        self.net.run_until(self.net.now + 40 * TICK)
        ld = self.leader()
        if ld is None:
            raise SafetyViolation("leader lost after the network healed")
        target = ld.core.commit
        for n in self.nodes.values():
            if n.id in ld.core.conf.members and n.applied < target:
                raise SafetyViolation(f"{n.id} applied {n.applied} < leader commit {target}")
