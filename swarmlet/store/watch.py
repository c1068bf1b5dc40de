"""Change events and subscriber queues (sans-I/O: the store appends, the caller drains)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

CREATE = "create"
UPDATE = "update"
REMOVE = "remove"
# Delivered to every subscriber when restore() replaced the whole state: re-read everything.
RESET = "reset"

ACTIONS = (CREATE, UPDATE, REMOVE)


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``object`` is the new object (the removed one for ``remove``)."""

    kind: str | None
    action: str
    object: dict | None
    old: dict | None
    index: int


class Subscription:
    """A filtered queue of events, in apply order. ``predicate(event)`` narrows further
    (e.g. the tasks of one node: compare ``event.object`` and ``event.old``).

    A subscriber that lets more than ``max_queue`` events pile up is marked ``overflowed`` and
    gets no more events until it calls ``resync()``, after re-reading what it follows from the
    store (as swarmkit drops slow watchers).
    """

    def __init__(
        self, kinds=None, ids=None, actions=None, max_queue: int = 100_000, predicate=None
    ):
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.ids = frozenset(ids) if ids is not None else None
        self.actions = frozenset(actions) if actions is not None else None
        self.predicate = predicate
        self.max_queue = max_queue
        self.overflowed = False
        self.closed = False
        self.error: Exception | None = None
        self._queue: deque[Event] = deque()

    def matches(self, event: Event) -> bool:
        if event.action == RESET:
            return True
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.actions is not None and event.action not in self.actions:
            return False
        if self.ids is not None and event.object["ID"] not in self.ids:
            return False
        return self.predicate is None or bool(self.predicate(event))

    def _offer(self, event: Event) -> None:
        if self.closed or self.overflowed:
            return
        try:
            wanted = self.matches(event)
        except Exception as exc:  # the subscriber's predicate failed: close it, not the store
            self.error = exc
            self.closed = True
            return
        if not wanted:
            return
        if len(self._queue) >= self.max_queue:
            self.overflowed = True
            self._queue.clear()
            return
        self._queue.append(event)

    def __len__(self) -> int:
        return len(self._queue)

    def drain(self) -> list[Event]:
        """All queued events, oldest first; the queue is empty afterwards."""
        events = list(self._queue)
        self._queue.clear()
        return events

    def resync(self) -> None:
        """Accept events again after an overflow (the caller re-read the store first)."""
        self.overflowed = False
