"""The worker's session with the leader's dispatcher (see swarmlet/manager/dispatcher.py).

    session = WorkerSession(transport, managers)        # managers: list or () -> list of addresses
                                                        # description=: Node.Description fields
    agent = Agent(executor, session.report, clock)
    nursery.start_soon(agent.run)
    nursery.start_soon(session.run, agent)

It registers with a manager, follows ``not_leader`` answers to the leader, heartbeats at the
period the dispatcher gives, hands assignments to the agent (the full set when a session
starts, changes after) and sends the agent's status reports in batches: whatever piled up while
the previous batch was on its way goes in the next one. With no manager reachable it keeps
trying, with backoff, while the agent keeps its tasks running; a new session starts by sending
the latest status of every task, so the manager learns what happened meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from swarmlet import trace
from swarmlet.manager.dispatcher_protocol import (
    ASSIGNMENTS,
    HEARTBEAT_REPLY,
    HEARTBEAT_ROUTE,
    HELLO,
    SESSION_ROUTE,
    STATUS_ROUTE,
    worker_status,
)
from swarmlet.wire.mux import RemoteError
from swarmlet.wire.peers import Backoff
from swarmlet.wire.schema import SchemaError

log = logging.getLogger(__name__)

MAX_STATUS_BATCH = 500
MAX_BATCH_BYTES = 256 * 1024
MAX_REDIRECTS = 3
STEADY_SESSION = 1.0  # a session that lasted this long resets the backoff


class _SessionOver(Exception):
    """The session ended; `leader` is where the manager said to go, if it said."""

    def __init__(self, reason: str, leader: str | None = None) -> None:
        super().__init__(reason)
        self.leader = leader


def _leader_of(exc: RemoteError) -> str | None:
    return (exc.message or None) if exc.code == "not_leader" else None


class WorkerSession:
    def __init__(
        self,
        transport,
        managers: list[str] | Callable[[], list[str]],
        *,
        description: dict | Callable[[], dict] | None = None,
        dial_timeout: float = 2.0,
        hello_timeout: float = 5.0,
        backoff: Callable[[], Backoff] = lambda: Backoff(base=0.1, cap=5.0),
    ) -> None:
        self.transport = transport
        self.managers = managers if callable(managers) else (lambda: list(managers))
        self.description = description
        self.dial_timeout = dial_timeout
        self.hello_timeout = hello_timeout
        self._new_backoff = backoff
        self.agent = None
        self.assigned: dict[str, dict] = {}  # the manager's view of this node's tasks
        self.leader: str | None = None  # the manager that served the last session
        self.session_id: str | None = None
        self.registrations = 0
        self._pending: dict[str, dict] = {}  # task ID -> latest status not yet sent
        self._wake = trio.Event()

    def report(self, task_id: str, status: dict) -> None:
        """The agent's report callback: keep the latest status of each task for the next batch."""
        status = worker_status(status)
        if status is not None:
            self._pending[task_id] = status
            self._wake.set()

    async def run(self, agent, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.agent = agent
        task_status.started()
        backoff = self._new_backoff()
        while True:
            started = trio.current_time()
            if await self._connect_once() and trio.current_time() - started > STEADY_SESSION:
                backoff.reset()
                continue
            # nothing reachable, or sessions that end at once (say, two daemons with one
            # identity taking turns): wait before the next round
            await trio.sleep(backoff.next_delay())

    async def _connect_once(self) -> bool:
        """Try the last leader, then every known manager, following redirects; True when a
        session was made (it has ended by now)."""
        known = [a for a in self.managers() if a]
        queue = ([self.leader] if self.leader else []) + [a for a in known if a != self.leader]
        tried: set[str] = set()
        redirects = 0
        while queue:
            address = queue.pop(0)
            if address in tried:
                continue
            tried.add(address)
            try:
                await self._session(address)
            except _SessionOver as over:
                if address == self.leader:
                    self.leader = None  # gone or demoted: ask the others
                if over.leader and over.leader not in tried and redirects < MAX_REDIRECTS:
                    redirects += 1
                    queue.insert(0, over.leader)
                log.debug("no session with %s: %s", address, over)
                continue
            return True
        return False

    async def _session(self, address: str) -> None:
        """One session; returns once it has been made and has ended, raises _SessionOver when
        it could not be made."""
        try:
            conn = await self.transport.connection(address, timeout=self.dial_timeout)
            if conn.peer.role != "manager":
                raise _SessionOver(f"{address} is not a manager")
            request = {}
            description = self.description() if callable(self.description) else self.description
            if description:
                request["description"] = description
            async with conn.stream(SESSION_ROUTE, request) as reader:
                # A manager cut off by the network never answers: try the next one.
                first = None
                with trio.move_on_after(self.hello_timeout):
                    first = await reader.__anext__()
                if first is None:
                    raise _SessionOver(f"{address} did not answer within {self.hello_timeout:g} s")
                hello = HELLO.validate(first, "dispatcher hello")
                self.session_id = hello["session_id"]
                self.leader = address
                self.registrations += 1
                log.info("session %s with manager %s", self.session_id, address)
                await self._serve(conn, reader, hello)
        except RemoteError as exc:
            raise _SessionOver(str(exc), _leader_of(exc)) from None
        except (StopAsyncIteration, SchemaError) as exc:
            raise _SessionOver(f"bad session start from {address}: {exc}") from None

    async def _serve(self, conn, reader, hello: dict) -> None:
        """Run the session until it ends (any error ends it; the caller reconnects)."""
        # what happened while no manager heard from us: the latest status of every task
        for task_id, status in self.agent.statuses().items():
            status = worker_status(status)
            if status is not None:
                self._pending[task_id] = status
        self._wake.set()
        ended = None

        async def guard(fn, *args):
            nonlocal ended
            try:
                await fn(*args)
                ended = ended or "the dispatcher ended the session"
            except (RemoteError, SchemaError, _SessionOver) as exc:
                ended = ended or exc
            except Exception as exc:  # a surprise ends this session, never the worker
                log.exception("session %s failed", self.session_id)
                ended = ended or exc
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(guard, self._heartbeats, conn, hello["period"])
            nursery.start_soon(guard, self._send_statuses, conn)
            nursery.start_soon(guard, self._receive_assignments, reader)
        log.info("session %s ended: %s", self.session_id, ended)
        self.session_id = None
        if isinstance(ended, RemoteError) and _leader_of(ended):
            self.leader = _leader_of(ended)

    async def _heartbeats(self, conn, period: float) -> None:
        session_id = self.session_id
        while True:
            await trio.sleep(period)
            reply = await conn.request(
                HEARTBEAT_ROUTE, {"session_id": session_id}, timeout=max(2 * period, 0.5)
            )
            period = HEARTBEAT_REPLY.validate(reply, "heartbeat reply")["period"]

    async def _send_statuses(self, conn) -> None:
        session_id = self.session_id
        while True:
            if not self._pending:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            batch = self._take_batch()
            updates = [{"task_id": t, "status": s} for t, s in batch.items()]
            if trace.ENABLED:
                running = [t for t, s in batch.items() if s.get("State") == "running"]
                trace.mark("statuses.sending", n=len(batch), running=running)
            try:
                await conn.request(STATUS_ROUTE, {"session_id": session_id, "updates": updates})
            except BaseException:
                for task_id, status in batch.items():
                    self._pending.setdefault(task_id, status)  # newer reports win
                raise

    def _take_batch(self) -> dict[str, dict]:
        """The next reports to send: up to MAX_STATUS_BATCH, and well under a wire message."""
        batch, size = {}, 0
        for task_id, status in self._pending.items():
            size += 200 + len(status.get("Message") or "") + len(status.get("Err") or "")
            if batch and (len(batch) >= MAX_STATUS_BATCH or size > MAX_BATCH_BYTES):
                break
            batch[task_id] = status
        for task_id in batch:
            del self._pending[task_id]
        return batch

    async def _receive_assignments(self, reader) -> None:
        expected = 1
        full: list[dict] = []
        async for chunk in reader:
            msg = ASSIGNMENTS.validate(chunk, "assignments")
            if trace.ENABLED:
                trace.mark("assignments.received", tasks=[t.get("ID") for t in msg["updates"]])
            if msg["seq"] != expected:
                raise _SessionOver(f"assignment {msg['seq']} arrived, {expected} expected")
            expected += 1
            for task in msg["updates"]:
                if not isinstance(task.get("ID"), str):
                    raise _SessionOver("an assigned task has no ID")
            if msg["full"]:
                full.extend(msg["updates"])
                if msg["more"]:
                    continue
                self.assigned = {t["ID"]: t for t in full}
                full = []
                self.agent.assign(list(self.assigned.values()), complete=True)
                continue
            for task in msg["updates"]:
                self.assigned[task["ID"]] = task
            for task_id in msg["removals"]:
                self.assigned.pop(task_id, None)
            if msg["removals"]:
                self.agent.assign(list(self.assigned.values()), complete=True)
            else:
                self.agent.assign(msg["updates"], complete=False)
