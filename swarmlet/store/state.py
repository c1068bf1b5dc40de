"""The store: the deterministic state machine raft applies committed commands to.

Commands are CBOR maps (see ``commands``). ``apply`` reads no clock and draws no random
numbers: IDs and timestamps come inside the command, so every manager that applies the same
log ends with the same state and byte-equal snapshots. Objects are never changed in place:
an update replaces the stored dict, so a dict handed to a reader stays valid forever.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from . import codec
from .errors import (
    NAME_CONFLICT,
    AlreadyExists,
    Ambiguous,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfSequence,
    StoreError,
)
from .objects import KINDS, TASK, TASK_STATES, UNIQUE_NAME_KINDS, dig, name_of
from .watch import CREATE, REMOVE, RESET, UPDATE, Event, Subscription

SNAPSHOT_FORMAT = 1


@dataclass(slots=True)
class ApplyResult:
    """What one committed command did: the objects per op, or the error that undid it all."""

    index: int
    objects: list = field(default_factory=list)
    error: StoreError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self):
        """The single op's object (or the list for a batch); raises the command's error."""
        if self.error is not None:
            raise self.error
        return self.objects[0] if len(self.objects) == 1 else self.objects

    def to_wire(self) -> dict:
        """A CBOR/JSON-friendly form, for a write a follower forwarded to the leader."""
        error = self.error.to_dict() if self.error is not None else None
        return {"index": self.index, "objects": self.objects, "error": error}

    @classmethod
    def from_wire(cls, data: dict) -> ApplyResult:
        error = data.get("error")
        return cls(
            data["index"],
            list(data.get("objects") or []),
            StoreError.from_dict(error) if error else None,
        )


class _SortedIds:
    """IDs of one kind kept sorted for prefix lookups and listings. Writes are noted and
    merged at the next read; after many writes the next read re-sorts once instead."""

    __slots__ = ("_ids", "_pending", "_stale")
    _FULL_SORT_AFTER = 32

    def __init__(self, ids=()):
        self._ids = sorted(ids)
        self._pending: list[tuple[bool, str]] = []
        self._stale = False

    def note(self, added: bool, obj_id: str) -> None:
        if self._stale:
            return
        self._pending.append((added, obj_id))
        if len(self._pending) > self._FULL_SORT_AFTER:
            self._stale = True
            self._pending.clear()

    def sorted(self, table: dict) -> list[str]:
        if self._stale:
            self._ids = sorted(table)
            self._stale = False
        elif self._pending:
            ids = self._ids
            for added, obj_id in self._pending:
                pos = bisect.bisect_left(ids, obj_id)
                present = pos < len(ids) and ids[pos] == obj_id
                if added and not present:
                    ids.insert(pos, obj_id)
                elif not added and present:
                    del ids[pos]
            self._pending.clear()
        return self._ids

    def copy(self, table: dict) -> _SortedIds:
        clone = _SortedIds()
        clone._ids = list(self.sorted(table))
        return clone


def _task_keys(task: dict) -> tuple:
    service_id = task.get("ServiceID", "")
    status = task.get("Status")
    state = (status.get("State") if isinstance(status, dict) else None) or "new"
    return (
        service_id,
        task.get("NodeID", ""),
        state,
        task.get("DesiredState", ""),
        (service_id, task.get("Slot", 0) or 0),
    )


class ReadView:
    """Queries over one consistent state; the ``Store`` is itself a live ReadView."""

    def __init__(self):
        self._tables: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        self._applied_index = 0
        self._reset_indexes()

    # -- index maintenance ------------------------------------------------------------
    def _reset_indexes(self) -> None:
        self._by_name: dict[str, dict[str, set[str]]] = {k: {} for k in KINDS}
        self._ids = {k: _SortedIds(self._tables[k]) for k in KINDS}
        # Five task indexes: service, node, actual state, desired state, (service, slot).
        self._task_idx: tuple[dict, ...] = ({}, {}, {}, {}, {})
        for kind in KINDS:
            for obj in self._tables[kind].values():
                self._index_add(kind, obj, note_id=False)

    def _index_add(self, kind: str, obj: dict, note_id: bool = True) -> None:
        obj_id = obj["ID"]
        if note_id:
            self._ids[kind].note(True, obj_id)
        if kind == TASK:
            for idx, key in zip(self._task_idx, _task_keys(obj), strict=True):
                ids = idx.get(key)
                if ids is None:
                    idx[key] = {obj_id}
                else:
                    ids.add(obj_id)
            return
        name = name_of(kind, obj)
        if name:
            self._by_name[kind].setdefault(name.lower(), set()).add(obj_id)

    def _index_remove(self, kind: str, obj: dict) -> None:
        obj_id = obj["ID"]
        self._ids[kind].note(False, obj_id)
        if kind == TASK:
            for idx, key in zip(self._task_idx, _task_keys(obj), strict=True):
                _discard(idx, key, obj_id)
            return
        name = name_of(kind, obj)
        if name:
            _discard(self._by_name[kind], name.lower(), obj_id)

    # -- reads ------------------------------------------------------------------------
    @property
    def applied_index(self) -> int:
        """Raft index of the last applied command (0 for an empty store)."""
        return self._applied_index

    def get(self, kind: str, obj_id: str) -> dict | None:
        return self._table(kind).get(obj_id)

    def count(self, kind: str) -> int:
        return len(self._table(kind))

    def list(self, kind: str) -> list[dict]:
        """Every object of a kind, by ID."""
        table = self._table(kind)
        return [table[i] for i in self._ids[kind].sorted(table)]

    def cluster(self) -> dict | None:
        """The cluster object (there is one once the swarm is initialised)."""
        clusters = self.list("cluster")
        return clusters[0] if clusters else None

    def find_by_name(self, kind: str, name: str) -> list[dict]:
        """Objects named exactly ``name`` (names are unique regardless of case, as in
        swarmkit, but a lookup matches the exact name, as Docker's does)."""
        self._table(kind)
        found = self._objects(kind, self._by_name[kind].get(name.lower(), ()))
        return [obj for obj in found if name_of(kind, obj) == name]

    def find_by_id_prefix(self, kind: str, prefix: str) -> list[dict]:
        table = self._table(kind)
        ids = self._ids[kind].sorted(table)
        found = []
        for pos in range(bisect.bisect_left(ids, prefix), len(ids)):
            if not ids[pos].startswith(prefix):
                break
            found.append(table[ids[pos]])
        return found

    def resolve(self, kind: str, ref: str) -> dict:
        """Find an object as Docker resolves ``inspect X``: full ID, then name, then ID prefix.

        Raises NotFound ("service X not found") or Ambiguous ("... is ambiguous (N matches
        found)"), with Docker's wording.
        """
        table = self._table(kind)
        if not ref:
            raise NotFound(f"{kind} {ref} not found")
        if ref in table:
            return table[ref]
        found = self.find_by_name(kind, ref) or self.find_by_id_prefix(kind, ref)
        if not found:
            raise NotFound(f"{kind} {ref} not found")
        if len(found) > 1:
            raise Ambiguous(f"{kind} {ref} is ambiguous ({len(found)} matches found)")
        return found[0]

    def tasks_by_service(self, service_id: str) -> list[dict]:
        return self._objects(TASK, self._task_idx[0].get(service_id, ()))

    def tasks_by_node(self, node_id: str) -> list[dict]:
        """Tasks assigned to a node (``""`` gives the unassigned ones)."""
        return self._objects(TASK, self._task_idx[1].get(node_id, ()))

    def tasks_by_state(self, state: str) -> list[dict]:
        """Tasks whose Status.State is ``state``."""
        return self._objects(TASK, self._task_idx[2].get(state, ()))

    def tasks_by_desired_state(self, state: str) -> list[dict]:
        return self._objects(TASK, self._task_idx[3].get(state, ()))

    def tasks_by_slot(self, service_id: str, slot: int) -> list[dict]:
        """Tasks of one replicated slot, old and new (slot 0 holds global tasks)."""
        return self._objects(TASK, self._task_idx[4].get((service_id, slot), ()))

    def view(self) -> ReadView:
        """A frozen copy of the current state, for reads that span awaits (O(n) pointers)."""
        frozen = ReadView.__new__(ReadView)
        frozen._tables = {k: dict(t) for k, t in self._tables.items()}
        frozen._applied_index = self._applied_index
        frozen._by_name = {k: {n: set(s) for n, s in d.items()} for k, d in self._by_name.items()}
        frozen._ids = {k: self._ids[k].copy(self._tables[k]) for k in KINDS}
        frozen._task_idx = tuple({key: set(s) for key, s in idx.items()} for idx in self._task_idx)
        return frozen

    def index_dump(self) -> dict:
        """Every index as plain sorted data (for tests and debugging)."""
        return {
            "names": {
                k: {n: sorted(s) for n, s in sorted(d.items()) if s}
                for k, d in self._by_name.items()
            },
            "ids": {k: list(self._ids[k].sorted(self._tables[k])) for k in KINDS},
            "tasks": [
                sorted((repr(key), sorted(s)) for key, s in idx.items() if s)
                for idx in self._task_idx
            ],
        }

    def _table(self, kind: str) -> dict:
        try:
            return self._tables[kind]
        except KeyError:
            raise InvalidArgument(f"unknown object kind {kind!r}") from None

    def _objects(self, kind: str, ids) -> list[dict]:
        table = self._tables[kind]
        return [table[i] for i in sorted(ids)]


def _discard(index: dict, key, obj_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(obj_id)
        if not ids:
            del index[key]


class Store(ReadView):
    """The replicated state: apply committed commands, answer queries, feed watchers."""

    def __init__(self):
        super().__init__()
        self._subscriptions: list[Subscription] = []

    # -- applying -----------------------------------------------------------------------
    def apply(self, index: int, data: bytes) -> ApplyResult:
        """Apply the command of raft entry ``index``. Never raises for a bad command: the
        result carries the error, and the state is as before (the index still advances).
        Empty data is a no-op entry (raft's own, after an election)."""
        stale = self._stale_index(index)
        if stale is not None:
            return stale
        if not data:
            self._applied_index = index
            return ApplyResult(index)
        try:
            command = codec.decode(data)
        except codec.DecodeError as exc:
            return self._skip(index, InvalidArgument(f"undecodable command: {exc}"))
        return self.apply_command(index, command)

    def _stale_index(self, index) -> ApplyResult | None:
        if isinstance(index, int) and not isinstance(index, bool) and index > self._applied_index:
            return None
        return ApplyResult(
            index,
            error=FailedPrecondition(
                f"entry {index} already applied (applied index {self._applied_index})"
            ),
        )

    def apply_command(self, index: int, command) -> ApplyResult:
        """Apply an already decoded command (what ``apply`` does after decoding)."""
        stale = self._stale_index(index)
        if stale is not None:
            return stale
        if not isinstance(command, dict):
            return self._skip(index, InvalidArgument("command must be a map"))
        if command.get("op") == "batch":
            ops = command.get("ops")
            if not isinstance(ops, list) or not ops:
                return self._skip(index, InvalidArgument("batch needs a non-empty list of ops"))
        else:
            ops = [command]
        undo: list[tuple[str, str, dict | None]] = []
        events: list[Event] = []
        results = []
        try:
            for op in ops:
                results.append(self._apply_op(index, op, undo, events))
        except StoreError as exc:
            for kind, obj_id, old in reversed(undo):
                self._put(kind, obj_id, old)
            return self._skip(index, exc)
        except Exception as exc:  # a bug, not bad input: undo, rebuild indexes, carry on
            for kind, obj_id, old in reversed(undo):
                self._tables[kind].pop(obj_id, None)
                if old is not None:
                    self._tables[kind][obj_id] = old
            self._reset_indexes()
            return self._skip(index, StoreError(f"internal error applying command: {exc!r}"))
        self._applied_index = index
        for event in events:
            for sub in self._subscriptions:
                sub._offer(event)
        return ApplyResult(index, results)

    def _skip(self, index: int, error: StoreError) -> ApplyResult:
        self._applied_index = index
        return ApplyResult(index, error=error)

    def _apply_op(self, index: int, op, undo: list, events: list) -> dict:
        if not isinstance(op, dict):
            raise InvalidArgument("op must be a map")
        action = op.get("op")
        kind = op.get("kind")
        if kind not in self._tables:
            raise InvalidArgument(f"unknown object kind {kind!r}")
        table = self._tables[kind]
        if action == "delete":
            obj_id = op.get("id")
            old = table.get(obj_id) if isinstance(obj_id, str) else None
            if old is None:
                raise NotFound(f"{kind} {obj_id} not found")
            version = op.get("version")
            if version is not None and version != dig(old, "Version.Index"):
                raise OutOfSequence()
            self._put(kind, obj_id, None)
            undo.append((kind, obj_id, old))
            events.append(Event(kind, REMOVE, old, old, index))
            return old
        if action not in ("create", "update"):
            raise InvalidArgument(f"unknown op {action!r}")
        obj = op.get("object")
        if not isinstance(obj, dict) or not isinstance(obj.get("ID"), str) or not obj["ID"]:
            raise InvalidArgument("object must be a map with a non-empty string ID")
        obj_id = obj["ID"]
        old = table.get(obj_id)
        if action == "create":
            if old is not None:
                raise AlreadyExists("object already exists")
        else:
            if old is None:
                raise NotFound(f"{kind} {obj_id} not found")
            if dig(obj, "Version.Index") != dig(old, "Version.Index"):
                raise OutOfSequence()
        _check_object(kind, obj, old)
        if kind in UNIQUE_NAME_KINDS:
            name = name_of(kind, obj)
            renamed = old is None or name.lower() != name_of(kind, old).lower()
            if name and renamed and self._by_name[kind].get(name.lower()):
                raise AlreadyExists(NAME_CONFLICT)
        new = dict(obj)
        new["Version"] = {"Index": index}
        self._put(kind, obj_id, new)
        undo.append((kind, obj_id, old))
        events.append(Event(kind, CREATE if old is None else UPDATE, new, old, index))
        return new

    def _put(self, kind: str, obj_id: str, new: dict | None) -> None:
        table = self._tables[kind]
        old = table.get(obj_id)
        if old is not None:
            self._index_remove(kind, old)
        if new is None:
            table.pop(obj_id, None)
        else:
            table[obj_id] = new
            self._index_add(kind, new)

    # -- watches ------------------------------------------------------------------------
    def watch(
        self, kinds=None, ids=None, actions=None, max_queue: int = 100_000, predicate=None
    ) -> Subscription:
        """Subscribe to changes (filters: kinds, object IDs, actions create/update/remove,
        and a predicate on the event)."""
        sub = Subscription(kinds, ids, actions, max_queue, predicate)
        self._subscriptions.append(sub)
        return sub

    def unwatch(self, sub: Subscription) -> None:
        sub.closed = True
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    # -- snapshots ----------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The whole state as deterministic CBOR (objects sorted by ID, key order kept)."""
        with codec.gc_paused():
            return codec.encode(
                {
                    "format": SNAPSHOT_FORMAT,
                    "index": self._applied_index,
                    "objects": {kind: self.list(kind) for kind in KINDS},
                }
            )

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot's; a bad snapshot changes nothing.

        Every subscriber gets one ``reset`` event: what it followed must be re-read.
        """
        with codec.gc_paused():
            self._restore(data)

    def _restore(self, data: bytes) -> None:
        try:
            snap = codec.decode(data)
        except codec.DecodeError as exc:
            raise InvalidArgument(f"bad snapshot: {exc}") from None
        if not isinstance(snap, dict) or snap.get("format") != SNAPSHOT_FORMAT:
            raise InvalidArgument("bad snapshot: unknown format")
        index = snap.get("index")
        objects = snap.get("objects")
        if not isinstance(index, int) or index < 0 or not isinstance(objects, dict):
            raise InvalidArgument("bad snapshot: missing index or objects")
        tables: dict[str, dict[str, dict]] = {}
        for kind in KINDS:
            items = objects.get(kind, [])
            if not isinstance(items, list):
                raise InvalidArgument(f"bad snapshot: {kind} objects must be a list")
            table: dict[str, dict] = {}
            for obj in items:
                if not isinstance(obj, dict) or not isinstance(obj.get("ID"), str):
                    raise InvalidArgument(f"bad snapshot: {kind} object without ID")
                table[obj["ID"]] = obj
            tables[kind] = table
        self._tables = tables
        self._applied_index = index
        self._reset_indexes()
        for sub in self._subscriptions:
            sub._offer(Event(None, RESET, None, None, index))


_TASK_STRING_FIELDS = ("ServiceID", "NodeID", "DesiredState")


def _check_object(kind: str, obj: dict, old: dict | None) -> None:
    """The few rules the state machine itself guards, whoever proposed the command: field
    types the indexes rely on, and task states that only move forward."""
    spec = obj.get("Spec")
    if spec is not None and not isinstance(spec, dict):
        raise InvalidArgument("Spec must be a map")
    if spec is not None and not isinstance(spec.get("Name", ""), str):
        raise InvalidArgument("Spec.Name must be a string")
    if kind != TASK:
        return
    for key in _TASK_STRING_FIELDS:
        if not isinstance(obj.get(key, ""), str):
            raise InvalidArgument(f"{key} must be a string")
    slot = obj.get("Slot", 0)
    if slot is not None and (not isinstance(slot, int) or isinstance(slot, bool)):
        raise InvalidArgument("Slot must be an integer")
    status = obj.get("Status")
    if status is not None and not isinstance(status, dict):
        raise InvalidArgument("Status must be a map")
    for state in (dig(obj, "Status.State"), obj.get("DesiredState")):
        if state is not None and not (isinstance(state, str) and state in TASK_STATES):
            raise InvalidArgument(f"invalid task state {state!r}")
    if old is not None:
        before = dig(old, "Status.State") or "new"
        after = dig(obj, "Status.State") or "new"
        if TASK_STATES[after] < TASK_STATES[before]:
            raise InvalidArgument(f"invalid task state transition from {before} to {after}")


__all__ = ["ApplyResult", "ReadView", "Store"]
