"""SWIM membership with Lifeguard, as a sans-I/O state machine.

The core never reads a clock, sleeps or touches a socket. Its driver (the trio runner, or the
simulator) passes the current time into every call and then collects what the core wants done:

    core = Swim("n1", "10.0.0.1:2377", {"role": "manager"}, profile, random.Random(seed), now)
    core.join(["10.0.0.2:2377"], now)
    core.receive(msg, now)          # a message from the network
    core.tick(now)                  # timers due at or before `now` fire
    core.report_lag(0.3, now)       # the driver's event loop was 300 ms late
    core.update_meta({"overlay": {...}}, now)
    core.leave(now)
    for send in core.take_sends(): transport.send(send.to, send.addr, send.msg)
    for ev in core.take_events(): ...   # MemberEvent(kind, node_id, addr, meta, incarnation)
    core.next_deadline()            # when to call tick() next

Messages are dicts of CBOR-friendly values. Updates about members (alive / suspect / dead)
ride piggybacked on every probe, ack and gossip message; a dead update whose sender is the
member itself means the member left gracefully.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from itertools import count

from .awareness import Awareness
from .broadcast import BroadcastQueue
from .config import (
    Profile,
    push_pull_period,
    retransmit_limit,
    suspicion_max,
    suspicion_min,
)
from .suspicion import Suspicion

ALIVE, SUSPECT, DEAD, LEFT = "alive", "suspect", "dead", "left"
LIVE_STATES = (ALIVE, SUSPECT)

# Event kinds handed to the rest of the daemon.
EV_JOIN = "join"  # first time this member is known (alive)
EV_ALIVE = "alive"  # back to alive after suspect, dead or left (refuted or rejoined)
EV_SUSPECT = "suspect"
EV_DEAD = "dead"
EV_LEFT = "left"
EV_UPDATE = "update"  # address or metadata changed


@dataclass(frozen=True, slots=True)
class MemberEvent:
    kind: str
    node_id: str
    addr: str
    meta: dict
    incarnation: int


@dataclass(frozen=True, slots=True)
class Send:
    """A message to send. `to` is the member id (None when only the address is known)."""

    to: str | None
    addr: str
    msg: dict


@dataclass(slots=True)
class MemberView:
    node_id: str
    addr: str
    meta: dict
    incarnation: int
    state: str
    since: float


class _Member:
    __slots__ = ("id", "addr", "meta", "inc", "state", "since", "suspicion")

    def __init__(self, node_id, addr, meta, inc, state, since):
        self.id = node_id
        self.addr = addr
        self.meta = meta
        self.inc = inc
        self.state = state
        self.since = since
        self.suspicion: Suspicion | None = None


@dataclass(slots=True)
class _Probe:
    seq: int
    target: str
    timeout_at: float
    end_at: float  # no ack by then (direct or indirect): the target is suspected
    acked: bool = False
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0


@dataclass(slots=True)
class _Relay:
    requester: str
    addr: str
    seq: int
    nack: bool
    deadline: float
    done: bool = False


@dataclass
class Stats:
    """Counters the simulator and the daemon's metrics read."""

    suspicions_raised: int = 0  # this member started suspecting someone (own failed probe)
    refutations: int = 0
    dead_declared: int = 0  # this member's suspicion timer declared someone dead
    dropped: int = 0  # malformed messages or updates ignored


class Swim:
    """One member's view of the cluster and its part of the protocol."""

    def __init__(
        self,
        node_id: str,
        addr: str,
        meta: dict | None,
        profile: Profile,
        rng: random.Random,
        now: float,
    ):
        self.id = node_id
        self.addr = addr
        self.meta = dict(meta or {})
        self.inc = 0
        self.profile = profile
        self.rng = rng
        self.now = now
        self.leaving = False
        self.awareness = Awareness(profile.awareness_max, profile.lifeguard)
        self.stats = Stats()
        self._members: dict[str, _Member] = {}
        self._ids: list[str] = []  # every known member but self, for random picks
        self._probe_order: list[str] = []
        self._probe_index = 0
        self._probe: _Probe | None = None
        self._relays: dict[int, _Relay] = {}
        self._grace_until = -math.inf  # after a stall, suspicion verdicts wait until then
        self._n_live = 1  # alive + suspect, self included
        self._limit = retransmit_limit(profile, 1)
        self._queue = BroadcastQueue()
        self._seq = count(1)
        self._timer_seq = count()
        self._timers: list[tuple] = []
        self._sends: list[Send] = []
        self._events: list[MemberEvent] = []
        # Gossip rounds keep a fixed phase but run only while there is something to send.
        self._gossip_phase = now + rng.random() * profile.gossip_interval
        self._gossip_armed = False
        self._enqueue(self._alive_update())
        p = profile
        self._at(now + rng.random() * p.probe_interval, "probe", None)
        self._at(now + rng.random() * p.push_pull_interval, "pushpull", None)

    # ------------------------------------------------------------------ driver API

    def join(self, seeds: list[str], now: float) -> None:
        """Ask each seed address for its full state (it learns ours in return)."""
        self.now = now
        for addr in seeds:
            if addr != self.addr:
                self._sends.append(Send(None, addr, self._sync_msg(join=True, reply=False)))

    def seed_state(self, state: list[dict], now: float) -> None:
        """Learn members from a full state list (as in a sync) without re-gossiping it.

        For bootstrapping from a known member list (the simulator, a restored daemon).
        """
        self.now = now
        for e in state:
            if e["id"] != self.id and e["id"] not in self._members and e["st"] in LIVE_STATES:
                self._add_member(e)

    def leave(self, now: float) -> None:
        """Announce a graceful leave; keep calling tick() until `leave_announced`."""
        self.now = now
        if self.leaving:
            return
        self.leaving = True
        self._enqueue({"k": "dead", "id": self.id, "inc": self.inc, "from": self.id})
        self._gossip()

    @property
    def leave_announced(self) -> bool:
        """True once the leave update has used up its retransmissions."""
        return self.leaving and self._queue.pending(self.id) is None

    def update_meta(self, changes: dict, now: float, addr: str | None = None) -> None:
        """Change this member's metadata (and address); the new version spreads by gossip."""
        self.now = now
        self.meta = {**self.meta, **changes}
        if addr is not None:
            self.addr = addr
        self.inc += 1
        self._enqueue(self._alive_update())

    def report_lag(self, lag: float, now: float) -> None:
        """The driver's loop was `lag` seconds late: this member is the slow one.

        Lifeguard counts it against local health. Beyond that, a late process must not judge
        others on stale information: a probe in flight gets a fresh wait (its ack may sit
        unread in the backlog) and suspicion timeouts wait one probe timeout, so that
        refutations already received are read first.
        """
        self.now = now
        p = self.profile
        if not p.lifeguard or lag < p.lag_threshold:
            return
        self.awareness.apply(1)
        wait = self.awareness.scale(p.probe_timeout)
        self._grace_until = max(self._grace_until, now + wait)
        probe = self._probe
        if probe is not None and not probe.acked:
            if not probe.indirect_sent:
                probe.timeout_at = max(probe.timeout_at, now + wait)
            probe.end_at = max(probe.end_at, now + wait)

    def receive(self, msg: dict, now: float) -> None:
        self.now = now
        try:
            kind = msg["t"]
            for upd in msg.get("pb", ()):
                self._apply(upd)
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise ValueError(kind)
            handler(self, msg)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.stats.dropped += 1

    def tick(self, now: float) -> None:
        self.now = now
        timers = self._timers
        if timers and now - timers[0][0] >= self.profile.lag_threshold:
            # Timers this late mean the process was frozen or starved: this is lag too.
            self.report_lag(now - timers[0][0], now)
        while timers and timers[0][0] <= now:
            _, _, kind, arg = heapq.heappop(timers)
            _TIMERS[kind](self, arg)

    def next_deadline(self) -> float | None:
        """When tick() has work to do next. Timers that would fire as no-ops (a probe already
        acknowledged, a relay already answered, a suspicion already settled) are dropped
        here, so that an idle member is woken only for real work."""
        timers = self._timers
        while timers and self._settled(timers[0][2], timers[0][3]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def take_sends(self) -> list[Send]:
        out, self._sends = self._sends, []
        return out

    def take_events(self) -> list[MemberEvent]:
        out, self._events = self._events, []
        return out

    # ------------------------------------------------------------------ queries

    def members(self) -> list[MemberView]:
        """Every known member, self included."""
        me = MemberView(
            self.id, self.addr, dict(self.meta), self.inc, LEFT if self.leaving else ALIVE, 0.0
        )
        return [me] + [
            MemberView(m.id, m.addr, dict(m.meta), m.inc, m.state, m.since)
            for m in self._members.values()
        ]

    def state_of(self, node_id: str) -> str | None:
        if node_id == self.id:
            return LEFT if self.leaving else ALIVE
        m = self._members.get(node_id)
        return m.state if m else None

    def incarnation_of(self, node_id: str) -> int | None:
        if node_id == self.id:
            return self.inc
        m = self._members.get(node_id)
        return m.inc if m else None

    def meta_of(self, node_id: str) -> dict | None:
        if node_id == self.id:
            return self.meta
        m = self._members.get(node_id)
        return m.meta if m else None

    @property
    def live_count(self) -> int:
        return self._n_live

    # ------------------------------------------------------------------ internals

    def _at(self, when, kind, arg):
        heapq.heappush(self._timers, (when, next(self._timer_seq), kind, arg))

    def _settled(self, kind, arg) -> bool:
        """True for a timer whose handler would return at once, whenever it fires."""
        if kind == "probe_timeout":
            return arg is not self._probe or arg.acked or arg.indirect_sent
        if kind == "probe_end":
            return arg is not self._probe or arg.acked
        if kind == "relay_timeout":
            return arg not in self._relays
        if kind == "suspicion":
            m = self._members.get(arg[0])
            return m is None or m.suspicion is not arg[1] or m.state != SUSPECT
        return False

    def _enqueue(self, update: dict) -> None:
        """Queue an update for piggybacking, and make sure a gossip round will carry it."""
        self._queue.push(update)
        if not self._gossip_armed:
            self._arm_gossip()

    def _arm_gossip(self) -> None:
        """The next gossip round on the fixed phase, strictly after now."""
        interval = self.profile.gossip_interval
        rounds = max(0, math.floor((self.now - self._gossip_phase) / interval) + 1)
        when = self._gossip_phase + rounds * interval
        if when <= self.now:  # rounding put it on now: the round after
            when += interval
        self._gossip_armed = True
        self._at(when, "gossip", None)

    def _alive_update(self) -> dict:
        return {"k": "alive", "id": self.id, "inc": self.inc, "addr": self.addr, "meta": self.meta}

    def _send(self, to, addr, msg, piggyback=True):
        if piggyback and self._queue:
            pb = self._queue.take(self._limit, self.profile.max_piggyback)
            if pb:
                msg["pb"] = pb
        self._sends.append(Send(to, addr, msg))

    def _set_live_count(self, delta):
        self._n_live += delta
        self._limit = retransmit_limit(self.profile, self._n_live)

    def _event(self, kind, m):
        self._events.append(MemberEvent(kind, m.id, m.addr, m.meta, m.inc))

    def _random_members(self, k, exclude=(), include_dead=False):
        """Up to k distinct random members that are live (or recently dead, if asked)."""
        ids = self._ids
        if not ids or k <= 0:
            return []
        chosen: list[_Member] = []
        seen = set()
        horizon = self.now - self.profile.gossip_to_dead
        rnd = self.rng.randrange
        for _ in range(3 * len(ids)):
            if len(chosen) >= k:
                break
            mid = ids[rnd(len(ids))]
            if mid in seen or mid in exclude:
                continue
            seen.add(mid)
            m = self._members[mid]
            if m.state in LIVE_STATES or (include_dead and m.since >= horizon):
                chosen.append(m)
        return chosen

    def _add_member(self, upd) -> _Member:
        m = _Member(upd["id"], upd["addr"], upd["meta"], upd["inc"], ALIVE, self.now)
        self._members[m.id] = m
        self._ids.append(m.id)
        self._probe_order.insert(self.rng.randrange(len(self._probe_order) + 1), m.id)
        self._set_live_count(+1)
        return m

    # updates ---------------------------------------------------------------

    def _apply(self, upd):
        k = upd["k"]
        if not isinstance(upd["id"], str) or not isinstance(upd["inc"], int):
            raise ValueError("bad update")
        if k == "alive":
            if not isinstance(upd["addr"], str) or not isinstance(upd["meta"], dict):
                raise ValueError("bad alive update")
            self._on_alive(upd)
        elif k == "suspect":
            self._on_suspect(upd)
        elif k == "dead":
            self._on_dead(upd)
        else:
            raise ValueError(k)

    def _refute(self, inc):
        self.inc = max(self.inc, inc) + 1
        self.stats.refutations += 1
        self.awareness.apply(1)
        self._enqueue(self._alive_update())

    def _on_alive(self, upd):
        mid = upd["id"]
        if mid == self.id:
            # An older life of ours (we restarted) or a conflicting claim: reassert.
            if upd["inc"] > self.inc and not self.leaving:
                self._refute(upd["inc"])
            return
        m = self._members.get(mid)
        if m is None:
            m = self._add_member(upd)
            self._event(EV_JOIN, m)
            self._enqueue(upd)
            return
        if upd["inc"] <= m.inc:
            return
        changed = upd["addr"] != m.addr or upd["meta"] != m.meta
        old = m.state
        m.inc, m.addr, m.meta = upd["inc"], upd["addr"], upd["meta"]
        m.suspicion = None
        if old != ALIVE:
            m.state, m.since = ALIVE, self.now
            if old not in LIVE_STATES:
                self._set_live_count(+1)
                if m.id not in self._probe_order:
                    self._probe_order.insert(self.rng.randrange(len(self._probe_order) + 1), m.id)
            self._event(EV_ALIVE, m)
        if changed:
            self._event(EV_UPDATE, m)
        self._enqueue(upd)

    def _live_target(self, upd):
        """The live member a suspect or dead update applies to, else None: an update about
        this node is refuted instead, and a stale one or one about a gone member ignored."""
        mid = upd["id"]
        if mid == self.id:
            if upd["inc"] >= self.inc and not self.leaving:
                self._refute(upd["inc"])
            return None
        m = self._members.get(mid)
        if m is None or upd["inc"] < m.inc or m.state not in LIVE_STATES:
            return None
        return m

    def _on_suspect(self, upd):
        m = self._live_target(upd)
        if m is None:
            return
        mid = m.id
        sender = upd["from"]
        if m.state == SUSPECT and upd["inc"] == m.inc:
            s = m.suspicion
            if s is not None and s.confirm(sender):
                self._enqueue(upd)
                self._at(s.deadline(), "suspicion", (mid, s))
            return
        # Alive, or suspect at an older incarnation: a suspicion at a newer one means the
        # member refuted the old suspicion (an update we may have missed), so start afresh.
        p = self.profile
        n = self._n_live
        k = p.expected_confirmations if p.lifeguard else 0
        if n - 2 < k:
            k = 0
        s = Suspicion(self.now, sender, upd["inc"], k, suspicion_min(p, n), suspicion_max(p, n))
        fresh = m.state == ALIVE
        m.inc, m.state, m.since, m.suspicion = upd["inc"], SUSPECT, self.now, s
        if fresh:
            self._event(EV_SUSPECT, m)
        self._enqueue(upd)
        self._at(s.deadline(), "suspicion", (mid, s))

    def _on_dead(self, upd):
        m = self._live_target(upd)
        if m is None:
            return
        mid = m.id
        m.inc, m.since, m.suspicion = upd["inc"], self.now, None
        m.state = LEFT if upd["from"] == mid else DEAD
        self._set_live_count(-1)
        self._event(EV_LEFT if m.state == LEFT else EV_DEAD, m)
        self._enqueue(upd)

    # timers ----------------------------------------------------------------

    def _t_probe(self, _):
        p = self.profile
        interval = self.awareness.scale(p.probe_interval)
        if self.leaving:
            return
        prev = self._probe
        if prev is not None and not prev.acked:
            if self.now < prev.end_at:  # its window was stretched (lag): its verdict first
                self._at(prev.end_at, "probe", None)
                return
            self._conclude(prev)
        target = self._next_probe_target()
        if target is None:
            self._at(self.now + interval, "probe", None)
            return
        seq = next(self._seq)
        window = self.awareness.scale(min(p.probe_window or p.probe_interval, p.probe_interval))
        probe = _Probe(
            seq,
            target.id,
            self.now + self.awareness.scale(p.probe_timeout),
            self.now + window,
        )
        self._probe = probe
        msg = {"t": "ping", "seq": seq, "from": self.id, "fa": self.addr, "to": target.id}
        if target.state == SUSPECT and p.lifeguard:
            # Buddy system: tell the suspect directly so it can refute at once.
            msg["pb"] = [{"k": "suspect", "id": target.id, "inc": target.inc, "from": self.id}]
            self._sends.append(Send(target.id, target.addr, msg))
        else:
            self._send(target.id, target.addr, msg)
        self._at(probe.timeout_at, "probe_timeout", probe)
        self._at(probe.end_at, "probe_end", probe)
        self._at(self.now + interval, "probe", None)

    def _next_probe_target(self) -> _Member | None:
        order = self._probe_order
        for _ in range(2):
            while self._probe_index < len(order):
                mid = order[self._probe_index]
                self._probe_index += 1
                m = self._members.get(mid)
                if m is not None and m.state in LIVE_STATES:
                    return m
            # End of the round: reshuffle the live members and start over.
            order[:] = [mid for mid in order if self._members[mid].state in LIVE_STATES]
            self.rng.shuffle(order)
            self._probe_index = 0
            if not order:
                return None
        return None

    def _t_probe_timeout(self, probe: _Probe):
        if probe is not self._probe or probe.acked or probe.indirect_sent:
            return
        if self.now < probe.timeout_at:  # pushed back by report_lag
            self._at(probe.timeout_at, "probe_timeout", probe)
            return
        target = self._members[probe.target]
        probe.indirect_sent = True
        helpers = self._random_members(self.profile.indirect_checks, exclude=(target.id,))
        nack = self.profile.lifeguard
        # Helpers must nack before this probe ends, or every nack looks missed.
        wait = round(0.8 * (probe.end_at - self.now), 3)
        for h in helpers:
            msg = {
                "t": "preq",
                "seq": probe.seq,
                "from": self.id,
                "fa": self.addr,
                "target": target.id,
                "taddr": target.addr,
                "nack": nack,
                "wait": wait,
            }
            self._send(h.id, h.addr, msg)
        probe.expected_nacks = len(helpers) if nack else 0

    def _t_probe_end(self, probe: _Probe):
        if probe is not self._probe or probe.acked:
            return
        if self.now < probe.end_at:
            self._at(probe.end_at, "probe_end", probe)
            return
        self._conclude(probe)

    def _conclude(self, probe: _Probe):
        """The probe's window is over: no ack at all makes its target a suspect."""
        self._probe = None
        if not probe.acked:
            if probe.expected_nacks > 0:
                self.awareness.apply(max(0, probe.expected_nacks - probe.nacks))
            else:
                self.awareness.apply(1)
            m = self._members.get(probe.target)
            if m is not None and m.state in LIVE_STATES:
                if m.state == ALIVE:
                    self.stats.suspicions_raised += 1
                self._on_suspect({"k": "suspect", "id": m.id, "inc": m.inc, "from": self.id})

    def _t_relay_timeout(self, seq):
        relay = self._relays.pop(seq, None)
        if relay is not None and relay.nack:
            self._sends.append(
                Send(relay.requester, relay.addr, {"t": "nack", "seq": relay.seq, "from": self.id})
            )

    def _t_suspicion(self, arg):
        mid, s = arg
        m = self._members.get(mid)
        if m is None or m.suspicion is not s or m.state != SUSPECT:
            return
        if self.now < s.deadline():
            return  # a later timer for the same suspicion is already queued
        # A member in poor health (Lifeguard score > 0) reads its messages late, refutations
        # included: it stretches its own verdicts as it stretches its probes. Healthy members'
        # verdicts still reach it by gossip.
        due = max(self._grace_until, s.start + self.awareness.scale(s.deadline() - s.start))
        if self.now < due:
            self._at(due, "suspicion", arg)
            return
        self.stats.dead_declared += 1
        self._on_dead({"k": "dead", "id": mid, "inc": m.inc, "from": self.id})

    def _t_gossip(self, _):
        self._gossip_armed = False
        self._gossip()
        if self._queue:
            self._arm_gossip()

    def _gossip(self):
        if not self._queue:
            return
        for m in self._random_members(self.profile.gossip_nodes, include_dead=True):
            if not self._queue:
                break
            self._send(m.id, m.addr, {"t": "gossip", "from": self.id})

    def _t_pushpull(self, _):
        self._at(self.now + push_pull_period(self.profile, self._n_live), "pushpull", None)
        if self.leaving:
            return
        targets = self._random_members(1)
        # Also try one member we hold dead, so that the two sides of a healed partition
        # (or a restarted member nobody probes any more) find each other again.
        dead = [self._members[mid] for mid in self._sample_ids(3)]
        targets += [m for m in dead if m.state == DEAD][:1]
        for m in targets:
            self._sends.append(Send(m.id, m.addr, self._sync_msg(join=False, reply=False)))

    def _sample_ids(self, k):
        ids = self._ids
        return [ids[self.rng.randrange(len(ids))] for _ in range(k)] if ids else []

    # messages --------------------------------------------------------------

    def _sync_msg(self, join, reply):
        state = [
            {"id": self.id, "addr": self.addr, "meta": self.meta, "inc": self.inc, "st": ALIVE}
        ]
        state.extend(
            {"id": m.id, "addr": m.addr, "meta": m.meta, "inc": m.inc, "st": m.state}
            for m in self._members.values()
        )
        return {
            "t": "sync",
            "from": self.id,
            "fa": self.addr,
            "join": join,
            "reply": reply,
            "state": state,
        }

    def _m_ping(self, msg):
        if msg["to"] != self.id:
            return  # meant for an earlier owner of this address
        self._send(msg["from"], msg["fa"], {"t": "ack", "seq": msg["seq"], "from": self.id})

    def _m_ack(self, msg):
        seq = msg["seq"]
        probe = self._probe
        if probe is not None and probe.seq == seq:
            if not probe.acked:
                probe.acked = True
                if msg["from"] == probe.target and not probe.indirect_sent:
                    self.awareness.apply(-1)
            return
        relay = self._relays.pop(seq, None)
        if relay is not None:
            self._send(relay.requester, relay.addr, {"t": "ack", "seq": relay.seq, "from": self.id})

    def _m_nack(self, msg):
        probe = self._probe
        if probe is not None and probe.seq == msg["seq"]:
            probe.nacks += 1

    def _m_preq(self, msg):
        seq = next(self._seq)
        wait = msg.get("wait", self.profile.probe_timeout)
        if not isinstance(wait, int | float) or not 0 < wait <= 60:
            raise ValueError("bad wait")
        deadline = self.now + wait
        self._relays[seq] = _Relay(
            msg["from"], msg["fa"], msg["seq"], bool(msg.get("nack")), deadline
        )
        ping = {"t": "ping", "seq": seq, "from": self.id, "fa": self.addr, "to": msg["target"]}
        self._send(msg["target"], msg["taddr"], ping)
        self._at(deadline, "relay_timeout", seq)

    def _m_gossip(self, msg):
        pass  # the piggybacked updates were the payload

    def _m_sync(self, msg):
        sender = msg["from"]
        for e in msg["state"]:
            st = e["st"]
            if st == ALIVE:
                self._apply(
                    {
                        "k": "alive",
                        "id": e["id"],
                        "inc": e["inc"],
                        "addr": e["addr"],
                        "meta": e["meta"],
                    }
                )
            elif st in (SUSPECT, DEAD):
                # A remote verdict is only a suspicion here: the member gets its chance to refute.
                self._apply({"k": "suspect", "id": e["id"], "inc": e["inc"], "from": sender})
            elif st == LEFT:
                self._apply({"k": "dead", "id": e["id"], "inc": e["inc"], "from": e["id"]})
        if not msg["reply"] and not self.leaving:
            self._sends.append(Send(sender, msg["fa"], self._sync_msg(join=False, reply=True)))


_HANDLERS = {
    "ping": Swim._m_ping,
    "ack": Swim._m_ack,
    "nack": Swim._m_nack,
    "preq": Swim._m_preq,
    "gossip": Swim._m_gossip,
    "sync": Swim._m_sync,
}

_TIMERS = {
    "probe": Swim._t_probe,
    "probe_timeout": Swim._t_probe_timeout,
    "probe_end": Swim._t_probe_end,
    "relay_timeout": Swim._t_relay_timeout,
    "suspicion": Swim._t_suspicion,
    "gossip": Swim._t_gossip,
    "pushpull": Swim._t_pushpull,
}
