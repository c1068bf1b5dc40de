"""The dispatcher's decisions, without I/O: worker sessions and heartbeats, the tasks each
node is given, and the status reports workers send back.

`dispatcher.py` runs it: it passes the time (`now`, a monotonic clock in seconds), the store
(a read view, for assignments and validation) and the store's change events, and carries out
what comes back (node state writes, assignment messages, one batch command per flush).

- Heartbeats: a node whose session misses `missed` periods is expired (marked down by the
  runner). When the dispatcher starts (a new leader), every node that is not already down gets
  `leader_grace` times the usual expiry to find it, as Swarm does, so that a change of leader
  does not take a healthy cluster down.
- Assignments: a node is given its tasks whose status is at least ASSIGNED, as long as they
  exist (a task the orchestrator wants shut down or removed is still sent, so that the worker
  stops it). A session starts with the full set; afterwards it gets incremental messages
  (updates and removals), each with the next sequence number. A task changed only in its
  status (what the worker itself reported) is not sent again.
- Status reports: a worker may move only its own tasks, only forward, and only to the states
  a worker owns (ACCEPTED up to REJECTED); stale and duplicate reports are dropped. Accepted
  reports wait in a batch that `flush` turns into one store command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from swarmlet.store import codec, commands
from swarmlet.store.objects import TASK, TASK_STATES, can_transition, dig
from swarmlet.store.watch import REMOVE, RESET, Event

NANOS = 1_000_000_000
DEFAULT_PERIOD = 1.0
MISSED_HEARTBEATS = 3
LEADER_GRACE = 2.0  # after a leader change, nodes get this many times the usual expiry
ASSIGNMENT_CHUNK = 64  # tasks per assignment message
ASSIGNMENT_BYTES = 256 * 1024  # and about this many bytes (wire messages are capped at 1 MiB)
MAX_BATCH = 200  # status updates per store command
BATCH_BYTES = 256 * 1024  # and about this many bytes (a raft entry travels in one message)

# The states a worker reports: the ones after ASSIGNED that a worker reaches itself.
WORKER_STATES = frozenset(
    s for s, v in TASK_STATES.items() if TASK_STATES["assigned"] < v <= TASK_STATES["rejected"]
)
# Task status fields a report may carry (anything else a worker sends is left out).
STATUS_FIELDS = ("Timestamp", "State", "Message", "Err", "ContainerStatus", "PortStatus")
# Task fields that change without the worker needing to hear about it.
_VOLATILE = frozenset({"Status", "Version", "UpdatedAt"})


def heartbeat_period(cluster: dict | None) -> float:
    """The cluster's heartbeat period in seconds (`Spec.Dispatcher.HeartbeatPeriod`, ns)."""
    value = dig(cluster, "Spec.Dispatcher.HeartbeatPeriod")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value / NANOS
    return DEFAULT_PERIOD


def is_assignment(task: dict, node_id: str) -> bool:
    """True when `task` belongs on `node_id`'s worker."""
    state = dig(task, "Status.State") or "new"
    return task.get("NodeID") == node_id and TASK_STATES.get(state, 0) >= TASK_STATES["assigned"]


def worker_task(task: dict, view) -> dict:
    """The task as the worker gets it: the stored task plus what the worker needs to run it
    that lives elsewhere (the service's name, for container names and labels)."""
    out = dict(task)
    service = view.get("service", task.get("ServiceID", "")) if task.get("ServiceID") else None
    name = dig(service, "Spec.Name")
    if name:
        out["ServiceAnnotations"] = {"Name": name}
    return out


def _stable(task: dict | None) -> dict | None:
    if task is None:
        return None
    return {k: v for k, v in task.items() if k not in _VOLATILE}


def _worth_sending(event: Event, task_id: str, node_id: str, session) -> bool:
    """A change the worker must hear of: a task new to it, gone, or changed in more than
    its status (the worker's own reports are not echoed back)."""
    if event.action == REMOVE or task_id not in session.sent:
        return True
    return _stable(event.object) != _stable(event.old) or not is_assignment(event.object, node_id)


@dataclass
class _Session:
    session_id: str
    seq: int = 0
    sent: set[str] = field(default_factory=set)  # task IDs the worker has been given
    changed: set[str] = field(default_factory=set)  # task IDs to look at again
    full: bool = True  # the next message is a full set


@dataclass(frozen=True)
class Rejected:
    """A status report that was refused (not merely stale): the reason is for the log."""

    task_id: str
    reason: str


class DispatcherCore:
    def __init__(
        self,
        now: float,
        *,
        period: float = DEFAULT_PERIOD,
        missed: int = MISSED_HEARTBEATS,
        leader_grace: float = LEADER_GRACE,
        chunk: int = ASSIGNMENT_CHUNK,
        chunk_bytes: int = ASSIGNMENT_BYTES,
        max_batch: int = MAX_BATCH,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.started = now
        self.period = period
        self.missed = missed
        self.leader_grace = leader_grace
        self.chunk = chunk
        self.chunk_bytes = chunk_bytes
        self.max_batch = max_batch
        self.batch_bytes = batch_bytes
        self.sessions: dict[str, _Session] = {}  # node ID -> its current session
        self.deadlines: dict[str, float] = {}  # node ID -> when it is down without a heartbeat
        self._status: dict[str, tuple[str, dict]] = {}  # task ID -> (node ID, status)

    # -- heartbeats ---------------------------------------------------------------------------

    @property
    def expiry(self) -> float:
        return self.period * self.missed

    def set_period(self, period: float) -> None:
        self.period = period

    def adopt_nodes(self, nodes: Iterable[dict], now: float) -> None:
        """Give every node that is not down the leader-change grace (call once at start)."""
        for node in nodes:
            if dig(node, "Status.State") != "down" and node["ID"] not in self.deadlines:
                self.deadlines[node["ID"]] = now + self.expiry * self.leader_grace

    def register(self, node_id: str, session_id: str, now: float) -> str | None:
        """A worker's new session (replacing any earlier one, whose ID is returned)."""
        old = self.sessions.get(node_id)
        self.sessions[node_id] = _Session(session_id)
        self.deadlines[node_id] = now + self.expiry
        return old.session_id if old is not None else None

    def is_current(self, node_id: str, session_id: str) -> bool:
        session = self.sessions.get(node_id)
        return session is not None and session.session_id == session_id

    def heartbeat(self, node_id: str, session_id: str, now: float) -> bool:
        """False when the session is not the node's current one (the worker must register)."""
        if not self.is_current(node_id, session_id):
            return False
        self.deadlines[node_id] = now + self.expiry
        return True

    def tick(self, now: float) -> list[str]:
        """Nodes whose heartbeats stopped: their sessions end, and they are to be marked down."""
        expired = sorted(n for n, at in self.deadlines.items() if at <= now)
        for node_id in expired:
            self.drop(node_id)
        return expired

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values(), default=None)

    def drop(self, node_id: str) -> str | None:
        """Forget a node's session and deadline (it is down, dead by gossip, or removed)."""
        self.deadlines.pop(node_id, None)
        session = self.sessions.pop(node_id, None)
        return session.session_id if session is not None else None

    # -- assignments --------------------------------------------------------------------------

    def on_events(self, events: Iterable[Event]) -> set[str]:
        """Note store changes; returns the nodes that now have something to be sent."""
        touched: set[str] = set()
        for event in events:
            if event.action == RESET:
                touched |= self.resync_all()
                continue
            if event.kind != TASK:
                continue
            for obj in (event.object, event.old):
                node_id = (obj or {}).get("NodeID")
                session = self.sessions.get(node_id) if node_id else None
                if session is None or session.full:
                    continue
                if _worth_sending(event, obj["ID"], node_id, session):
                    session.changed.add(obj["ID"])
                    touched.add(node_id)
        return touched

    def resync(self, node_id: str) -> bool:
        """The node's next message is a full set (a lost event stream, a store restore)."""
        session = self.sessions.get(node_id)
        if session is None:
            return False
        session.full = True
        session.changed.clear()
        return True

    def resync_all(self) -> set[str]:
        return {n for n in list(self.sessions) if self.resync(n)}

    def has_messages(self, node_id: str) -> bool:
        session = self.sessions.get(node_id)
        return session is not None and (session.full or bool(session.changed))

    def take(self, node_id: str, view) -> list[dict]:
        """The assignment messages due to `node_id`, read from `view` (the current store):
        ``{"seq", "full", "more", "updates": [task...], "removals": [task ID...]}``. A full
        set may span several messages; all but its last have ``more`` set."""
        session = self.sessions.get(node_id)
        if session is None:
            return []
        if session.full:
            tasks = [t for t in view.tasks_by_node(node_id) if is_assignment(t, node_id)]
            session.full = False
            session.changed.clear()
            session.sent = {t["ID"] for t in tasks}
            parts = self._chunks(tasks, view) or [[]]
            return [
                self._message(session, part, [], full=True, more=i < len(parts) - 1)
                for i, part in enumerate(parts)
            ]
        updates, removals = [], []
        for task_id in sorted(session.changed):
            task = view.get(TASK, task_id)
            if task is not None and is_assignment(task, node_id):
                updates.append(task)
                session.sent.add(task_id)
            elif task_id in session.sent:
                removals.append(task_id)
                session.sent.discard(task_id)
        session.changed.clear()
        parts = self._chunks(updates, view)
        if removals and not parts:
            parts = [[]]
        return [
            self._message(session, part, removals if i == 0 else [], full=False, more=False)
            for i, part in enumerate(parts)
        ]

    def _chunks(self, tasks: list[dict], view) -> list[list[dict]]:
        """The tasks as the worker gets them, in messages of at most `chunk` tasks and about
        `chunk_bytes` (a wire message is capped at 1 MiB)."""
        parts: list[list[dict]] = []
        size = 0
        for task in tasks:
            out = worker_task(task, view)
            n = len(codec.encode(out))
            if not parts or len(parts[-1]) >= self.chunk or size + n > self.chunk_bytes:
                parts.append([])
                size = 0
            parts[-1].append(out)
            size += n
        return parts

    def _message(self, session, tasks, removals, *, full, more) -> dict:
        session.seq += 1
        return {
            "seq": session.seq,
            "full": full,
            "more": more,
            "updates": tasks,
            "removals": removals,
        }

    # -- status reports -----------------------------------------------------------------------

    def report(
        self, node_id: str, session_id: str, updates: Iterable[tuple[str, dict]], view
    ) -> list[Rejected] | None:
        """Take a worker's status reports (task ID, status). None when the session is not the
        node's current one (nothing is taken); else the refused reports. Stale and duplicate
        reports are dropped silently."""
        if not self.is_current(node_id, session_id):
            return None
        rejected = []
        for task_id, status in updates:
            reason = self._check(node_id, task_id, status, view)
            if reason:
                rejected.append(Rejected(task_id, reason))
        return rejected

    def _check(self, node_id: str, task_id: str, status: dict, view) -> str:
        state = status.get("State")
        if state not in WORKER_STATES:
            return f"a worker cannot set state {state!r}"
        task = view.get(TASK, task_id)
        if task is None:
            return ""  # deleted meanwhile: stale
        if task.get("NodeID") != node_id:
            return f"task {task_id} is not assigned to node {node_id}"
        base = dig(task, "Status.State") or "new"
        queued = self._status.get(task_id)
        if queued is not None and can_transition(base, queued[1]["State"]):
            base = queued[1]["State"]
        if can_transition(base, state):
            self._status[task_id] = (node_id, {k: status[k] for k in STATUS_FIELDS if k in status})
        return ""

    @property
    def pending(self) -> int:
        """Status reports waiting for `flush`."""
        return len(self._status)

    def flush(
        self, view, now: str, limit: int | None = None
    ) -> tuple[dict | None, dict[str, tuple[str, dict]]]:
        """One store command for up to `max_batch` (or `limit`) waiting reports and about
        `batch_bytes`, built against `view` (so that each update carries the task's current
        version); and the reports it holds, to hand back to `retry` if the command fails."""
        taken: dict[str, tuple[str, dict]] = {}
        ops: list[dict] = []
        size = 0
        while self._status and len(taken) < (limit or self.max_batch) and size < self.batch_bytes:
            task_id = next(iter(self._status))
            node_id, status = taken[task_id] = self._status.pop(task_id)
            task = view.get(TASK, task_id)
            if task is None or task.get("NodeID") != node_id:
                continue
            if not can_transition(dig(task, "Status.State") or "new", status["State"]):
                continue
            updated = dict(task)
            updated["Status"] = status
            updated["UpdatedAt"] = now
            ops.append(commands.update(TASK, updated))
            size += len(codec.encode(updated))
        if not ops:
            return None, taken
        return (ops[0] if len(ops) == 1 else commands.batch(*ops)), taken

    def retry(self, taken: dict[str, tuple[str, dict]]) -> None:
        """Put back reports whose command failed, unless newer ones arrived meanwhile."""
        for task_id, (node_id, status) in taken.items():
            queued = self._status.get(task_id)
            if queued is None or can_transition(queued[1]["State"], status["State"]):
                self._status[task_id] = (node_id, status)
