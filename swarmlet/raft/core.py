"""Raft as a pure state machine: no clock, no sleep, no sockets.

The runner feeds it ``step(message)``, ``tick()`` and requests (``propose``, ``read_index``,
``transfer_leadership``, membership changes, ``snapshot``), then drains ``ready()``. The
contract of a ``Ready`` batch:

- ``send_now`` messages may be sent at once (a leader's appends: it counts its own copy only
  after ``advance``);
- the state machine may be restored from ``snapshot`` (if any) and fed ``committed``, in
  order, at once too: those entries are durable on a quorum already;
- persist ``snapshot`` (a snapshot from the leader: replaces the whole log), then ``entries``
  (overwrite from ``entries[0].index`` on), then ``compaction`` (our own snapshot: drops
  entries up to its index), then ``hard_state``, all in one durable transaction;
- only then send ``messages`` (votes and acknowledgements promise what was persisted), and
  call ``advance(ready)``.

The core assumes a batch is persisted once ``ready()`` has returned it. If the process dies
before the batch is durable, none of its ``messages`` may have left.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from .messages import (
    CONF_ADD_LEARNER,
    CONF_PROMOTE,
    CONF_REMOVE,
    CONF_RESET,
    ENTRY_CONF,
    ENTRY_NOOP,
    ENTRY_NORMAL,
    MSG_APP,
    MSG_APP_RESP,
    MSG_HEARTBEAT,
    MSG_HEARTBEAT_RESP,
    MSG_PREVOTE,
    MSG_PREVOTE_RESP,
    MSG_PROP,
    MSG_READ_INDEX,
    MSG_READ_INDEX_RESP,
    MSG_SNAP,
    MSG_SNAP_RESP,
    MSG_TIMEOUT_NOW,
    MSG_TRANSFER,
    MSG_VOTE,
    MSG_VOTE_RESP,
    TERMLESS,
    ConfChange,
    Config,
    Entry,
    HardState,
    Message,
    Snapshot,
)

FOLLOWER = "follower"
PRE_CANDIDATE = "pre_candidate"
CANDIDATE = "candidate"
LEADER = "leader"

PROBE = "probe"
REPLICATE = "replicate"
SNAPSHOTTING = "snapshot"

TRANSFER_CONTEXT = b"transfer"

# A leader's appends and heartbeats promise nothing about its own disk: followers persist
# what they receive, and the leader counts itself only after advance(). Sending them before
# the leader's own write overlaps the two fsyncs.
_SEND_BEFORE_PERSIST = frozenset({MSG_APP, MSG_HEARTBEAT, MSG_SNAP})


class RaftError(Exception):
    """A request the core cannot take in its present state."""


class NotLeader(RaftError):
    """The request needs the leader and this node is not it (``leader`` says who is, if known)."""

    def __init__(self, leader: str | None):
        super().__init__(f"not the leader (leader: {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(RaftError):
    """The proposal was not appended (no leader known, or a leadership transfer is under way)."""


class ConfChangeRejected(RaftError):
    """A membership change cannot be made now (another pending, learner not caught up, ...)."""


@dataclass(slots=True)
class RaftConfig:
    heartbeat_ticks: int = 1
    election_ticks: int = 10  # randomized in [election_ticks, 2 * election_ticks)
    max_entries_per_msg: int = 256
    max_bytes_per_msg: int = 1 << 20
    max_inflight: int = 64  # messages in flight per follower while replicating
    snapshot_chunk: int = 512 * 1024
    check_quorum: bool = True
    pre_vote: bool = True
    catch_up_margin: int = 64  # a learner within this many entries of the leader may be promoted


@dataclass(frozen=True, slots=True)
class ReadState:
    context: bytes
    index: int


@dataclass(frozen=True, slots=True)
class SoftState:
    leader: str | None
    role: str
    term: int


@dataclass(slots=True)
class Ready:
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    compaction: Snapshot | None = None
    committed: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    send_now: list[Message] = field(default_factory=list)  # may leave before persisting
    read_states: list[ReadState] = field(default_factory=list)
    soft_state: SoftState | None = None


@dataclass(slots=True)
class Progress:
    """What the leader knows about one follower's log."""

    match: int = 0
    next: int = 1
    state: str = PROBE
    probe_sent: bool = False
    inflight: deque = field(default_factory=deque)  # last index of each append in flight
    recent_active: bool = False
    snap_index: int = 0
    snap_offset: int = 0


@dataclass(slots=True)
class _ReadRequest:
    context: bytes
    index: int
    origin: str
    acks: set[str]


class RaftNode:
    """One member of a raft group. Not thread-safe; the runner serialises calls."""

    def __init__(
        self,
        node_id: str,
        *,
        rng: random.Random,
        config: RaftConfig | None = None,
        hard_state: HardState | None = None,
        entries: list[Entry] | None = None,
        snapshot: Snapshot | None = None,
        bootstrap: list[str] | None = None,
    ):
        """Build from what storage holds. ``bootstrap`` (voter ids) starts a new group when
        storage is empty; every founding member must be given the same list. A node that
        joins later starts empty and learns everything from the leader."""
        self.id = node_id
        self.rng = rng
        self.cfg = config or RaftConfig()
        hs = hard_state or HardState()
        self.term = hs.term
        self.vote = hs.vote
        self.snap = snapshot or Snapshot()
        self.log: list[Entry] = list(entries or [])
        if self.log and self.log[0].index != self.snap.index + 1:
            raise ValueError("log does not start right after the snapshot")
        self._ready = Ready()
        self._broadcast_pending = False
        self._read_heartbeat_pending = False
        self._forward_pending: list[Entry] = []
        self.commit = max(self.snap.index, min(hs.commit, self.last_index))
        self.applied = self.snap.index
        self.conf = self.snap.config
        if bootstrap is not None and self.last_index == 0 and self.term == 0:
            cc = ConfChange(CONF_RESET, voters=tuple(sorted(bootstrap)))
            e = Entry(1, 1, ENTRY_CONF, cc.encode())
            self.log.append(e)
            self.term = 1
            self.commit = 1
            self._ready.entries.append(e)
        self.role = FOLLOWER
        self._apply_conf_up_to(self.snap.index, self.commit)
        self.leader: str | None = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = 0
        self._reset_randomized_timeout()
        self.votes: dict[str, bool] = {}
        self.progress: dict[str, Progress] = {}
        self.pending_conf_index = 0
        self.transferee: str | None = None
        self.transfer_elapsed = 0
        self.reads: list[_ReadRequest] = []
        self.reads_waiting_commit: list[tuple[bytes, str]] = []
        self.incoming_snap: tuple[int, int, bytearray] | None = None
        self._last_hard = HardState(self.term, self.vote, self.commit)
        if self._ready.entries:
            self._last_hard = HardState()
        self._last_soft = SoftState(None, FOLLOWER, self.term)

    # ---------------------------------------------------------------- log helpers

    @property
    def last_index(self) -> int:
        return self.log[-1].index if self.log else self.snap.index

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else self.snap.term

    def term_at(self, index: int) -> int | None:
        """Term of the entry at ``index``; None if compacted away or beyond the log."""
        if index == self.snap.index:
            return self.snap.term
        if index < self.snap.index or index > self.last_index:
            return None
        return self.log[index - self.snap.index - 1].term

    def entries_from(self, lo: int, hi: int) -> list[Entry]:
        """Entries with lo <= index < hi (all of them present)."""
        off = self.snap.index + 1
        return self.log[lo - off : hi - off]

    @property
    def promotable(self) -> bool:
        return self.id in self.conf.voters

    # ---------------------------------------------------------------- ready

    def has_ready(self) -> bool:
        r = self._ready
        return bool(
            self._broadcast_pending
            or self._read_heartbeat_pending
            or self._forward_pending
            or r.entries
            or r.snapshot
            or r.compaction
            or r.messages
            or r.send_now
            or r.read_states
            or self.commit > self.applied
            or self._hard() != self._last_hard
            or self._soft() != self._last_soft
        )

    def _flush_batched(self) -> None:
        if self._read_heartbeat_pending:
            self._read_heartbeat_pending = False
            if self.role == LEADER and self.reads:
                self._broadcast_heartbeat(self.reads[-1].context)
        if self._broadcast_pending:
            self._broadcast_pending = False
            if self.role == LEADER:
                self._broadcast_append()
        if self._forward_pending:
            entries, self._forward_pending = self._forward_pending, []
            if self.role != LEADER and self.leader is not None:
                self._send(Message(MSG_PROP, self.id, self.leader, entries=entries))
            # else: dropped, like a proposal lost on the way; the proposer times out

    def ready(self) -> Ready:
        """Everything to persist, send and apply since the last call (see module docstring)."""
        self._flush_batched()
        r = self._ready
        self._ready = Ready()
        hs = self._hard()
        if hs != self._last_hard:
            r.hard_state = hs
            self._last_hard = hs
        ss = self._soft()
        if ss != self._last_soft:
            r.soft_state = ss
            self._last_soft = ss
        if self.commit > self.applied:
            r.committed = self.entries_from(self.applied + 1, self.commit + 1)
            self.applied = self.commit
        return r

    def _hard(self) -> HardState:
        return HardState(self.term, self.vote, self.commit)

    def _soft(self) -> SoftState:
        return SoftState(self.leader, self.role, self.term)

    def _send(self, m: Message) -> None:
        if self.role == LEADER and m.type in _SEND_BEFORE_PERSIST:
            self._ready.send_now.append(m)
        else:
            self._ready.messages.append(m)

    def advance(self, rd: Ready) -> None:
        """The runner has persisted ``rd``: the leader's own copy of its entries now counts."""
        if self.role != LEADER or not rd.entries:
            return
        last = rd.entries[-1]
        if self.term_at(last.index) != last.term:
            return
        pr = self.progress[self.id]
        if last.index > pr.match:
            pr.match = last.index
            if self._maybe_commit():
                self._broadcast_append()

    # ---------------------------------------------------------------- roles

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.leader = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self.votes = {}
        self.transferee = None
        self.transfer_elapsed = 0
        self.reads = []
        self.reads_waiting_commit = []
        self.progress = {}

    def _reset_randomized_timeout(self) -> None:
        e = self.cfg.election_ticks
        self.randomized_timeout = e + self.rng.randrange(e)

    def _become_follower(self, term: int, leader: str | None) -> None:
        self._reset(term)
        self.role = FOLLOWER
        self.leader = leader

    def _become_pre_candidate(self) -> None:
        # The term and vote stay as they are: a pre-election changes nothing durable.
        self.role = PRE_CANDIDATE
        self.leader = None
        self.votes = {}
        self.election_elapsed = 0
        self._reset_randomized_timeout()

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.role = CANDIDATE
        self.vote = self.id

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = LEADER
        self.leader = self.id
        for peer in self.conf.members | {self.id}:
            self._add_progress(peer)
        # No membership change until an entry of this term commits (see Ongaro's fix).
        self.pending_conf_index = self.last_index
        self._append([Entry(self.term, 0, ENTRY_NOOP)])
        self._broadcast_append()

    def _add_progress(self, peer: str) -> None:
        if peer in self.progress:
            return
        pr = Progress(next=self.last_index + 1, recent_active=True)
        if peer == self.id:
            pr.match = self.last_index
        self.progress[peer] = pr

    # ---------------------------------------------------------------- tick

    def tick(self) -> None:
        """One logical clock tick."""
        if self.role == LEADER:
            self._tick_leader()
        else:
            self.election_elapsed += 1
            if self.promotable and self.election_elapsed >= self.randomized_timeout:
                self.election_elapsed = 0
                self._campaign(transfer=False)

    def ticks_until_due(self) -> int | None:
        """How many ticks from now until tick() next has something to do (send heartbeats,
        check the quorum, give up a transfer, campaign); None when ticks alone never will.

        A driver may sleep that long and apply the ticks in between later, as long as it
        applies every tick that came due before it feeds the node anything else."""
        cfg = self.cfg
        if self.role != LEADER:
            if not self.promotable:
                return None
            return max(1, self.randomized_timeout - self.election_elapsed)
        due = []
        if len(self.progress) > 1:
            due.append(cfg.heartbeat_ticks - self.heartbeat_elapsed)
        if cfg.check_quorum and len(self.conf.voters - {self.id}) > 0:
            due.append(cfg.election_ticks - self.election_elapsed)
        if self.transferee is not None:
            due.append(cfg.election_ticks - self.transfer_elapsed)
        return max(1, min(due)) if due else None

    def set_timeouts(self, heartbeat_ticks: int, election_ticks: int) -> None:
        """Adopt new heartbeat and election timeouts (in ticks) from now on."""
        for v in (heartbeat_ticks, election_ticks):
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError("raft timeouts are whole numbers of ticks")
        if heartbeat_ticks < 1:
            raise ValueError("the heartbeat interval must be at least one tick")
        if election_ticks <= heartbeat_ticks:
            raise ValueError("the election timeout must be greater than the heartbeat interval")
        self.cfg.heartbeat_ticks = heartbeat_ticks
        self.cfg.election_ticks = election_ticks
        self._reset_randomized_timeout()

    def _tick_leader(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.transferee is not None:
            self.transfer_elapsed += 1
            if self.transfer_elapsed >= self.cfg.election_ticks:
                self.transferee = None  # transfer timed out: take proposals again
        if self.election_elapsed >= self.cfg.election_ticks:
            self.election_elapsed = 0
            if self.cfg.check_quorum and not self._quorum_active():
                self._become_follower(self.term, None)
                return
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            ctx = self.reads[-1].context if self.reads else b""
            self._broadcast_heartbeat(ctx)
            for peer, pr in self.progress.items():
                if peer != self.id and pr.state == SNAPSHOTTING:
                    self._send_snapshot_chunk(peer, pr)

    def _quorum_active(self) -> bool:
        active = 0
        for peer, pr in self.progress.items():
            if (peer == self.id or pr.recent_active) and peer in self.conf.voters:
                active += 1
            pr.recent_active = False
        return active >= self.conf.quorum()

    # ---------------------------------------------------------------- elections

    def _campaign(self, transfer: bool) -> None:
        if self.cfg.pre_vote and not transfer:
            self._become_pre_candidate()
            kind, term = MSG_PREVOTE, self.term + 1
        else:
            self._become_candidate()
            kind, term = MSG_VOTE, self.term
        self.votes[self.id] = True
        if self._tally() == "won":
            if kind == MSG_PREVOTE:
                self._campaign(transfer=True)
            else:
                self._become_leader()
            return
        for peer in sorted(self.conf.voters):
            if peer == self.id:
                continue
            self._send(
                Message(
                    kind,
                    self.id,
                    peer,
                    term=term,
                    index=self.last_index,
                    log_term=self.last_term,
                    context=TRANSFER_CONTEXT if transfer else b"",
                )
            )

    def _tally(self) -> str:
        granted = sum(1 for p, v in self.votes.items() if v and p in self.conf.voters)
        rejected = sum(1 for p, v in self.votes.items() if not v and p in self.conf.voters)
        q = self.conf.quorum()
        if self.conf.voters and granted >= q:
            return "won"
        if rejected >= q or not self.conf.voters:
            return "lost"
        return "pending"

    def _log_up_to_date(self, index: int, term: int) -> bool:
        return term > self.last_term or (term == self.last_term and index >= self.last_index)

    # ---------------------------------------------------------------- step

    def step(self, m: Message) -> None:
        """Take one message from a peer."""
        if m.to != self.id:
            return
        if m.type in TERMLESS:
            self._step_termless(m)
            return
        if m.term > self.term:
            if m.type in (MSG_VOTE, MSG_PREVOTE):
                in_lease = (
                    self.cfg.check_quorum
                    and self.leader is not None
                    and self.election_elapsed < self.cfg.election_ticks
                )
                if in_lease and m.context != TRANSFER_CONTEXT:
                    return  # we heard from a live leader recently: ignore the disruption
            if m.type == MSG_PREVOTE or (m.type == MSG_PREVOTE_RESP and not m.reject):
                pass  # a pre-vote and its grant do not move terms
            elif m.type in (MSG_APP, MSG_HEARTBEAT, MSG_SNAP):
                self._become_follower(m.term, m.frm)
            else:
                self._become_follower(m.term, None)
        elif m.term < self.term:
            if m.type in (MSG_APP, MSG_HEARTBEAT) and (self.cfg.check_quorum or self.cfg.pre_vote):
                # A stale leader: answer so it learns the new term and steps down. Without
                # this, a partitioned old leader with check_quorum never hears a higher term.
                self._send(Message(MSG_APP_RESP, self.id, m.frm, term=self.term))
            elif m.type == MSG_PREVOTE:
                self._send(Message(MSG_PREVOTE_RESP, self.id, m.frm, term=self.term, reject=True))
            return

        if m.type in (MSG_VOTE, MSG_PREVOTE):
            self._handle_vote_request(m)
            return
        if self.role == LEADER:
            self._step_leader(m)
        elif self.role in (CANDIDATE, PRE_CANDIDATE):
            self._step_candidate(m)
        else:
            self._step_follower(m)

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (
            self.vote == m.frm
            or (self.vote is None and self.leader is None)
            or (m.type == MSG_PREVOTE and m.term > self.term)
        )
        resp = MSG_VOTE_RESP if m.type == MSG_VOTE else MSG_PREVOTE_RESP
        if can_vote and self._log_up_to_date(m.index, m.log_term):
            self._send(Message(resp, self.id, m.frm, term=m.term))
            if m.type == MSG_VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(Message(resp, self.id, m.frm, term=self.term, reject=True))

    def _step_candidate(self, m: Message) -> None:
        if m.type in (MSG_APP, MSG_HEARTBEAT, MSG_SNAP):
            self._become_follower(m.term, m.frm)
            self._step_follower(m)
            return
        want = MSG_PREVOTE_RESP if self.role == PRE_CANDIDATE else MSG_VOTE_RESP
        if m.type != want:
            return
        if self.role == PRE_CANDIDATE and not m.reject and m.term != self.term + 1:
            return  # a grant for an older pre-election
        self.votes.setdefault(m.frm, not m.reject)
        result = self._tally()
        if result == "won":
            if self.role == PRE_CANDIDATE:
                self._campaign(transfer=True)
            else:
                self._become_leader()
        elif result == "lost":
            self._become_follower(self.term, None)

    def _step_follower(self, m: Message) -> None:
        if m.type == MSG_APP:
            self.election_elapsed = 0
            self.leader = m.frm
            self._handle_append(m)
        elif m.type == MSG_HEARTBEAT:
            self.election_elapsed = 0
            self.leader = m.frm
            if m.commit > self.commit:
                self._commit_to(min(m.commit, self.last_index))
            self._send(
                Message(MSG_HEARTBEAT_RESP, self.id, m.frm, term=self.term, context=m.context)
            )
        elif m.type == MSG_SNAP:
            self.election_elapsed = 0
            self.leader = m.frm
            self._handle_snapshot_chunk(m)
        elif m.type == MSG_TIMEOUT_NOW and self.promotable:
            self._campaign(transfer=True)

    # ---------------------------------------------------------------- follower: log

    def _handle_append(self, m: Message) -> None:
        prev_index, prev_term = m.index, m.log_term
        for e in m.entries:
            if e.index != prev_index + 1 or e.term < prev_term or e.term > m.term:
                return  # malformed: entries must follow each other, terms never go back
            prev_index, prev_term = e.index, e.term
        if m.index < self.commit:
            self._send(Message(MSG_APP_RESP, self.id, m.frm, term=self.term, index=self.commit))
            return
        if self.term_at(m.index) == m.log_term:
            last_new = m.index + len(m.entries)
            self._append_from_leader(m.entries)
            self._commit_to(min(m.commit, last_new))
            self._send(Message(MSG_APP_RESP, self.id, m.frm, term=self.term, index=last_new))
            return
        # Reject with a hint: the last index whose term is at most the leader's previous
        # term, so the leader can skip a whole term of mismatching entries at once.
        hint = min(m.index, self.last_index)
        while hint > self.snap.index and (self.term_at(hint) or 0) > m.log_term:
            hint -= 1
        self._send(
            Message(
                MSG_APP_RESP,
                self.id,
                m.frm,
                term=self.term,
                index=m.index,
                reject=True,
                hint=hint,
                log_term=self.term_at(hint) or 0,
            )
        )

    def _append_from_leader(self, entries: list[Entry]) -> None:
        for i, e in enumerate(entries):
            if e.index <= self.snap.index:
                continue
            t = self.term_at(e.index)
            if t == e.term:
                continue
            if t is not None:
                if e.index <= self.commit:
                    raise AssertionError(f"{self.id}: conflict at committed index {e.index}")
                del self.log[e.index - self.snap.index - 1 :]
            rest = [x for x in entries[i:] if x.index > self.snap.index]
            self.log.extend(rest)
            self._persist_entries(rest)
            return

    def _persist_entries(self, new: list[Entry]) -> None:
        """Queue entries for storage; a later overwrite replaces queued ones at the same index."""
        if not new:
            return
        pending = self._ready.entries
        first = new[0].index
        while pending and pending[-1].index >= first:
            pending.pop()
        pending.extend(new)

    def _handle_snapshot_chunk(self, m: Message) -> None:
        if m.snap_index <= self.commit:
            # Already have everything it covers.
            self.incoming_snap = None
            self._send(Message(MSG_APP_RESP, self.id, m.frm, term=self.term, index=self.commit))
            return
        buf = self.incoming_snap
        if m.offset == 0:
            buf = self.incoming_snap = (m.snap_index, m.snap_term, bytearray())
        if buf is None or buf[:2] != (m.snap_index, m.snap_term) or len(buf[2]) != m.offset:
            have = len(buf[2]) if buf is not None and buf[:2] == (m.snap_index, m.snap_term) else 0
            self._send(
                Message(
                    MSG_SNAP_RESP,
                    self.id,
                    m.frm,
                    term=self.term,
                    snap_index=m.snap_index,
                    offset=have,
                )
            )
            return
        buf[2].extend(m.data)
        if not m.done:
            self._send(
                Message(
                    MSG_SNAP_RESP,
                    self.id,
                    m.frm,
                    term=self.term,
                    snap_index=m.snap_index,
                    offset=len(buf[2]),
                )
            )
            return
        self.incoming_snap = None
        snap = Snapshot(m.snap_index, m.snap_term, m.snap_config or Config(), bytes(buf[2]))
        self._restore(snap)
        self._send(Message(MSG_APP_RESP, self.id, m.frm, term=self.term, index=snap.index))

    def _restore(self, snap: Snapshot) -> None:
        if self.term_at(snap.index) == snap.term:
            # Our log already has it: just commit up to it.
            self._commit_to(snap.index)
            return
        self.snap = snap
        self.log = []
        self._ready.entries = []
        self._ready.compaction = None
        self._ready.snapshot = snap
        self.commit = snap.index
        self.applied = snap.index
        self.conf = snap.config

    # ---------------------------------------------------------------- commit

    def _commit_to(self, index: int) -> None:
        if index <= self.commit:
            return
        old = self.commit
        self.commit = index
        self._apply_conf_up_to(old, index)

    def _apply_conf_up_to(self, old: int, new: int) -> None:
        """Membership changes take effect when committed, in log order."""
        changed = False
        for e in self.entries_from(max(old, self.snap.index) + 1, new + 1):
            if e.kind == ENTRY_CONF:
                self.conf = ConfChange.decode(e.data).apply(self.conf)
                changed = True
        if changed and self.role == LEADER:
            self._leader_conf_changed()

    def _leader_conf_changed(self) -> None:
        for peer in self.conf.members:
            self._add_progress(peer)
        for peer in list(self.progress):
            if peer not in self.conf.members:
                del self.progress[peer]
        if self.transferee is not None and self.transferee not in self.conf.voters:
            self.transferee = None
        if self.id not in self.conf.voters:
            # Removed (or made a learner): hand over by stepping down; others elect.
            self._become_follower(self.term, None)
            return
        if self._maybe_commit():
            self._broadcast_append()

    def _maybe_commit(self) -> bool:
        matches = sorted(
            (self.progress[p].match for p in self.conf.voters if p in self.progress), reverse=True
        )
        q = self.conf.quorum()
        if len(matches) < q:
            return False
        idx = matches[q - 1]
        if idx > self.commit and self.term_at(idx) == self.term:
            self._commit_to(idx)
            if self.role == LEADER:
                self._release_reads_waiting_commit()
            return True
        return False

    # ---------------------------------------------------------------- leader: replication

    def _append(self, entries: list[Entry]) -> None:
        li = self.last_index
        stamped = [Entry(self.term, li + 1 + i, e.kind, e.data) for i, e in enumerate(entries)]
        self.log.extend(stamped)
        self._persist_entries(stamped)
        # Our own copy counts towards a commit only once it is durable: see advance().

    def _broadcast_append(self) -> None:
        for peer in sorted(self.progress):
            if peer != self.id:
                self._send_append(peer)

    def _broadcast_heartbeat(self, ctx: bytes) -> None:
        for peer in sorted(self.progress):
            if peer == self.id:
                continue
            pr = self.progress[peer]
            self._send(
                Message(
                    MSG_HEARTBEAT,
                    self.id,
                    peer,
                    term=self.term,
                    commit=min(pr.match, self.commit),
                    context=ctx,
                )
            )

    def _send_append(self, peer: str, send_empty: bool = True) -> bool:
        pr = self.progress[peer]
        if pr.state == SNAPSHOTTING:
            return False
        if pr.state == PROBE and pr.probe_sent:
            return False
        if pr.state == REPLICATE and len(pr.inflight) >= self.cfg.max_inflight:
            return False
        prev = pr.next - 1
        prev_term = self.term_at(prev)
        if prev_term is None:
            self._start_snapshot(peer, pr)
            return True
        entries = []
        size = 0
        hi = min(self.last_index + 1, pr.next + self.cfg.max_entries_per_msg)
        for e in self.entries_from(pr.next, hi):
            if entries and size + len(e.data) > self.cfg.max_bytes_per_msg:
                break
            entries.append(e)
            size += len(e.data)
        if not entries and not send_empty:
            return False
        self._send(
            Message(
                MSG_APP,
                self.id,
                peer,
                term=self.term,
                index=prev,
                log_term=prev_term,
                entries=entries,
                commit=self.commit,
            )
        )
        if pr.state == REPLICATE and entries:
            pr.next = entries[-1].index + 1
            pr.inflight.append(entries[-1].index)
        elif pr.state == PROBE:
            pr.probe_sent = True
        return True

    def _start_snapshot(self, peer: str, pr: Progress) -> None:
        pr.state = SNAPSHOTTING
        pr.snap_index = self.snap.index
        pr.snap_offset = 0
        pr.inflight.clear()
        self._send_snapshot_chunk(peer, pr)

    def _send_snapshot_chunk(self, peer: str, pr: Progress) -> None:
        """Send the chunk at the acknowledged offset (again on each heartbeat until answered)."""
        if pr.snap_index != self.snap.index:
            # Compacted again meanwhile: send the newer snapshot from its start.
            pr.snap_index = self.snap.index
            pr.snap_offset = 0
        data = self.snap.data
        end = min(len(data), pr.snap_offset + self.cfg.snapshot_chunk)
        done = end >= len(data)
        self._send(
            Message(
                MSG_SNAP,
                self.id,
                peer,
                term=self.term,
                snap_index=self.snap.index,
                snap_term=self.snap.term,
                snap_config=self.snap.config if done else None,
                offset=pr.snap_offset,
                data=data[pr.snap_offset : end],
                done=done,
            )
        )

    def _step_leader(self, m: Message) -> None:
        pr = self.progress.get(m.frm)
        if pr is None:
            return
        if m.type == MSG_APP_RESP:
            pr.recent_active = True
            self._handle_append_resp(m, pr)
        elif m.type == MSG_HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == REPLICATE and len(pr.inflight) >= self.cfg.max_inflight:
                pr.inflight.popleft()
            if pr.match < self.last_index:
                self._send_append(m.frm)
            if m.context:
                self._ack_read(m.context, m.frm)
        elif m.type == MSG_SNAP_RESP:
            pr.recent_active = True
            if pr.state != SNAPSHOTTING or m.snap_index != pr.snap_index:
                return
            pr.snap_offset = m.offset
            self._send_snapshot_chunk(m.frm, pr)

    def _handle_append_resp(self, m: Message, pr: Progress) -> None:
        if m.reject:
            if pr.state == REPLICATE:
                if m.index <= pr.match:
                    return  # stale
            elif m.index != pr.next - 1:
                return  # stale
            # Back off: find the last index of ours at or below the hint whose term is
            # at most the follower's term there.
            # Below our snapshot the terms are unknown: then the probe falls to the
            # snapshot, and the follower gets it.
            idx = min(m.hint, self.last_index)
            while (t := self.term_at(idx)) is not None and t > m.log_term:
                idx -= 1
            pr.next = max(pr.match + 1, idx + 1)
            pr.state = PROBE
            pr.probe_sent = False
            pr.inflight.clear()
            self._send_append(m.frm)
            return
        old_match = pr.match
        if m.index > pr.match:
            pr.match = m.index
        if pr.next < m.index + 1:
            pr.next = m.index + 1
        while pr.inflight and pr.inflight[0] <= m.index:
            pr.inflight.popleft()
        if pr.state == SNAPSHOTTING:
            if pr.match >= pr.snap_index:
                pr.state = PROBE
                pr.probe_sent = False
                pr.next = pr.match + 1
            else:
                return
        if pr.state == PROBE:
            pr.state = REPLICATE
            pr.probe_sent = False
            pr.next = pr.match + 1
            pr.inflight.clear()
        if pr.match > old_match and self._maybe_commit():
            self._broadcast_append()
        else:
            while self._send_append(m.frm, send_empty=False):
                if pr.state != REPLICATE:
                    break
        if m.frm == self.transferee and pr.match == self.last_index:
            self._send(Message(MSG_TIMEOUT_NOW, self.id, m.frm, term=self.term))

    # ---------------------------------------------------------------- requests

    def propose(self, data: bytes) -> None:
        """Propose a command; forwarded to the leader from a follower. Raises ProposalDropped."""
        self._propose_entries([data])

    def propose_batch(self, items: list[bytes]) -> None:
        self._propose_entries(items)

    def _propose_entries(self, items: list[bytes]) -> None:
        if self.role == LEADER:
            if self.transferee is not None:
                raise ProposalDropped("leadership transfer in progress")
            self._append([Entry(0, 0, ENTRY_NORMAL, d) for d in items])
            self._broadcast_pending = True  # one append per follower per Ready, not per call
            return
        if self.leader is None:
            raise ProposalDropped("no leader")
        self._forward_pending.extend(Entry(0, 0, ENTRY_NORMAL, d) for d in items)

    def propose_conf_change(self, op: str, node: str, context: bytes = b"") -> int:
        """Leader only: one membership change at a time. Returns the entry's index."""
        if self.role != LEADER:
            raise NotLeader(self.leader)
        if self.transferee is not None:
            raise ProposalDropped("leadership transfer in progress")
        if self.pending_conf_index > self.commit:
            raise ConfChangeRejected("another membership change is not committed yet")
        if op == CONF_ADD_LEARNER:
            if node in self.conf.members:
                raise ConfChangeRejected(f"{node} is already a member")
        elif op == CONF_PROMOTE:
            if node not in self.conf.learners:
                raise ConfChangeRejected(f"{node} is not a learner")
            pr = self.progress.get(node)
            if pr is None or pr.match + self.cfg.catch_up_margin < self.last_index:
                raise ConfChangeRejected(f"{node} has not caught up yet")
        elif op == CONF_REMOVE:
            if node not in self.conf.members:
                raise ConfChangeRejected(f"{node} is not a member")
            if node in self.conf.voters and len(self.conf.voters) == 1:
                raise ConfChangeRejected("cannot remove the last voter")
        else:
            raise ConfChangeRejected(f"unknown membership change {op!r}")
        cc = ConfChange(op, node, context=context)
        self._append([Entry(0, 0, ENTRY_CONF, cc.encode())])
        self.pending_conf_index = self.last_index
        self._broadcast_append()
        return self.last_index

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read point. The answer comes back as a ReadState with the
        same context; the read may be served once the state machine has applied its index."""
        if not context:
            raise ValueError("read context must not be empty")
        if self.role == LEADER:
            self._leader_read(context, self.id)
            return
        if self.leader is None:
            raise ProposalDropped("no leader")
        self._send(Message(MSG_READ_INDEX, self.id, self.leader, context=context))

    def _leader_read(self, ctx: bytes, origin: str) -> None:
        if self.term_at(self.commit) != self.term:
            # Our commit index may lag until an entry of our own term commits.
            self.reads_waiting_commit.append((ctx, origin))
            return
        if self.conf.voters == {self.id}:
            self._answer_read(ctx, self.commit, origin)
            return
        self.reads.append(_ReadRequest(ctx, self.commit, origin, {self.id}))
        # One heartbeat round per Ready confirms every read queued before it.
        self._read_heartbeat_pending = True

    def _release_reads_waiting_commit(self) -> None:
        if self.reads_waiting_commit and self.term_at(self.commit) == self.term:
            waiting, self.reads_waiting_commit = self.reads_waiting_commit, []
            for ctx, origin in waiting:
                self._leader_read(ctx, origin)

    def _ack_read(self, ctx: bytes, peer: str) -> None:
        for i, r in enumerate(self.reads):
            if r.context == ctx:
                r.acks.add(peer)
                if len(r.acks & self.conf.voters) >= self.conf.quorum():
                    done, self.reads = self.reads[: i + 1], self.reads[i + 1 :]
                    for d in done:
                        self._answer_read(d.context, d.index, d.origin)
                return

    def _answer_read(self, ctx: bytes, index: int, origin: str) -> None:
        if origin == self.id:
            self._ready.read_states.append(ReadState(ctx, index))
        else:
            self._send(Message(MSG_READ_INDEX_RESP, self.id, origin, index=index, context=ctx))

    def transfer_leadership(self, to: str) -> None:
        """Hand leadership to ``to`` (a voter): once it has our whole log, tell it to campaign."""
        if self.role != LEADER:
            if self.leader is None:
                raise NotLeader(None)
            self._send(Message(MSG_TRANSFER, self.id, self.leader, context=to.encode()))
            return
        self._start_transfer(to)

    def _start_transfer(self, to: str) -> None:
        if to == self.id or to not in self.conf.voters or to not in self.progress:
            return
        self.transferee = to
        self.transfer_elapsed = 0  # the transfer must finish within an election timeout
        pr = self.progress[to]
        if pr.match == self.last_index:
            self._send(Message(MSG_TIMEOUT_NOW, self.id, to, term=self.term))
        else:
            self._send_append(to)

    def _step_termless(self, m: Message) -> None:
        if m.type == MSG_PROP:
            if self.role == LEADER and self.transferee is None:
                self._append([Entry(0, 0, ENTRY_NORMAL, e.data) for e in m.entries])
                self._broadcast_pending = True
            # Otherwise dropped: the proposer times out (it cannot know if it was applied).
        elif m.type == MSG_READ_INDEX:
            if self.role == LEADER and m.context:
                self._leader_read(m.context, m.frm)
        elif m.type == MSG_READ_INDEX_RESP:
            self._ready.read_states.append(ReadState(m.context, m.index))
        elif m.type == MSG_TRANSFER and self.role == LEADER:
            try:
                to = m.context.decode()
            except UnicodeDecodeError:
                return
            self._start_transfer(to)

    # ---------------------------------------------------------------- snapshots

    def snapshot(self, index: int, data: bytes) -> None:
        """The state machine's image at ``index`` (applied); compacts the log up to it."""
        if index <= self.snap.index:
            return
        if index > self.applied:
            raise RaftError(f"snapshot index {index} is beyond applied {self.applied}")
        snap = Snapshot(index, self.term_at(index), self._conf_at(index), data)
        del self.log[: index - self.snap.index]
        self.snap = snap
        self._ready.compaction = snap

    def _conf_at(self, index: int) -> Config:
        cfg = self.snap.config
        for e in self.entries_from(self.snap.index + 1, index + 1):
            if e.kind == ENTRY_CONF:
                cfg = ConfChange.decode(e.data).apply(cfg)
        return cfg

    # ---------------------------------------------------------------- recovery

    def force_new_cluster(self) -> None:
        """Recover from permanent loss of quorum: keep our log and become the only voter.

        Everything we hold, committed or not, becomes committed under a new term, followed by
        a membership reset to ourselves alone (so a restart replays to the same membership)."""
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = LEADER
        self.leader = self.id
        self.conf = Config(frozenset({self.id}))
        self._add_progress(self.id)
        cc = ConfChange(CONF_RESET, voters=(self.id,))
        self._append([Entry(0, 0, ENTRY_NOOP), Entry(0, 0, ENTRY_CONF, cc.encode())])
        self.pending_conf_index = self.last_index

    # ---------------------------------------------------------------- status

    def status(self) -> dict:
        return {
            "id": self.id,
            "role": self.role,
            "term": self.term,
            "leader": self.leader,
            "commit": self.commit,
            "applied": self.applied,
            "last_index": self.last_index,
            "snapshot_index": self.snap.index,
            "voters": sorted(self.conf.voters),
            "learners": sorted(self.conf.learners),
            "progress": {
                p: {"match": pr.match, "next": pr.next, "state": pr.state}
                for p, pr in sorted(self.progress.items())
            },
        }
