"""What the manager's services see of the cluster: the replicated store and a way to change it.

On a real manager `propose` goes through raft (a follower forwards it to the leader) and
`store` is the state machine raft applies to; in tests `LocalCluster` applies commands at
once. The API routes, the leader's orchestration loop and the dispatcher are written against
`ClusterContext` only, so they run the same on both.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from swarmlet.store import Store
from swarmlet.store.commands import encode
from swarmlet.store.state import ApplyResult

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_object_id() -> str:
    """A 25-character lowercase base36 ID, like Docker's object IDs."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(25))


def rfc3339(now: float) -> str:
    """Docker's timestamp form (nanosecond digits, UTC)."""
    whole = int(now)
    nanos = int(round((now - whole) * 1e9))
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"


class NotLeaderError(Exception):
    """Raised by `propose` when no leader can take the write (no quorum): the API answers
    503 with this message."""


@dataclass
class ClusterContext:
    """The cluster as one manager's services use it."""

    store: Store
    # Replicate a command (a dict from swarmlet.store.commands) and return its result once
    # it is applied here; raises NotLeaderError when no leader is reachable.
    propose: Callable[[dict], Awaitable[ApplyResult]]
    # Wait until this manager has applied everything committed before the call (ReadIndex),
    # so that a read after a write, through any manager, sees the write.
    read_barrier: Callable[[], Awaitable[None]]
    node_id: str
    is_leader: Callable[[], bool]
    now: Callable[[], float] = time.time
    new_id: Callable[[], str] = new_object_id
    # What raft knows now, for `node ls`: the leader's node ID, and whether this manager
    # has a live session with another manager (None: not known here).
    leader_id: Callable[[], str | None] | None = None
    reachable: Callable[[str], bool] | None = None
    # Autolock, when this manager has it: the swarm's unlock key ("" when off), and a new
    # key's fields to store with a cluster update (see swarmlet.api.routes_swarm).
    unlock_key: Callable[[], str] | None = None
    rotate_unlock_key: Callable[[dict], dict | None] | None = None
    # Open a wire stream on a node of the swarm: `node_stream(node_id, type, body)` is an
    # async context manager giving the stream's chunks (None: this manager reaches no node).
    node_stream: Callable[[str, str, dict], AbstractAsyncContextManager] | None = None

    def timestamp(self) -> str:
        return rfc3339(self.now())


@dataclass
class LocalCluster:
    """A one-process stand-in for raft: commands apply at once, in order. For tests of the
    parts above the store, and for tools that work on a store file directly."""

    node_id: str = "local"
    store: Store = field(default_factory=Store)
    clock: Callable[[], float] = time.time
    _index: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def propose(self, command: dict) -> ApplyResult:
        return self.store.apply(next(self._index), encode(command))

    async def read_barrier(self) -> None:
        return None

    def context(self) -> ClusterContext:
        return ClusterContext(
            store=self.store,
            propose=self.propose,
            read_barrier=self.read_barrier,
            node_id=self.node_id,
            is_leader=lambda: True,
            now=self.clock,
        )
