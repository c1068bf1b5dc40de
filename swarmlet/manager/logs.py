"""The manager's end of `service logs`: the logs of a service's tasks (or of one task), merged
as they arrive from the nodes that run them, in Docker's log stream format.

Any manager answers: it looks the tasks up in its store, and opens one `logs.task` wire stream
per task to the task's node (reusing a live session with it, in either direction, or dialing
its address; a task on this manager is read in-process). A node that is down, unreachable, or
that goes down while followed gives one "Error grabbing logs" line on stderr for its tasks,
never a hang; the other tasks go on. When following, tasks that start later (a scale-up, a
restarted task) join the stream. Leaving the stream (the client hung up) cancels every wire
stream, which closes the engine connections on the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from swarmlet.api.logstream import (
    NODE_KEY,
    SERVICE_KEY,
    STDERR,
    TASK_KEY,
    LogOptions,
    frame,
    line_writer,
)
from swarmlet.store.objects import NODE, SERVICE, TASK_STATES, dig, task_name
from swarmlet.wire.mux import RemoteError
from swarmlet.worker.logs import ROUTE, chunk_entries

log = logging.getLogger(__name__)

RESCAN_SECONDS = 1.0  # how often a followed selection looks for new tasks and lost nodes
ERROR_PREFIX = "Error grabbing logs: "
RUNNING = TASK_STATES["running"]


def has_run(task: dict) -> bool:
    """A task whose container may hold a log: placed on a node and started at some point."""
    state = dig(task, "Status.State", "new") or "new"
    return bool(task.get("NodeID")) and TASK_STATES.get(state, 0) >= RUNNING


def task_request(task: dict, opts: LogOptions) -> dict:
    return {
        "task": task["ID"],
        "follow": opts.follow,
        "tail": opts.tail,
        "since": opts.since,
        "stdout": opts.stdout,
        "stderr": opts.stderr,
    }


def context_attrs(task: dict) -> dict[str, str]:
    return {
        NODE_KEY: task.get("NodeID", ""),
        SERVICE_KEY: task.get("ServiceID", ""),
        TASK_KEY: task["ID"],
    }


def node_problem(node: dict | None) -> str | None:
    """Why a node cannot serve logs now, or None when it may."""
    if node is None:
        return "it is no longer part of the swarm"
    if dig(node, "Status.State") == "down":
        return "it is down"
    return None


class LogMerger:
    """One `service logs` request: the selected tasks' lines, as bytes for the response."""

    def __init__(
        self,
        store,
        open_stream: Callable,
        opts: LogOptions,
        select: Callable[[], list[dict]],
        *,
        tty: bool = False,
    ):
        self.store = store
        self.open_stream = open_stream  # (node_id, route, body) -> async context manager
        self.opts = opts
        self.select = select
        self.tty = tty
        self._started: set[str] = set()

    def _encode(self, stream: int, data: bytes) -> bytes:
        return data if self.tty else frame(stream, data)

    def error(self, text: str) -> bytes:
        return self._encode(STDERR, (ERROR_PREFIX + text + "\n").encode())

    def _describe(self, task: dict) -> str:
        service = self.store.get(SERVICE, task.get("ServiceID", ""))
        name = task_name(task, dig(service, "Spec.Name", "") or task.get("ServiceID", ""))
        node = self.store.get(NODE, task.get("NodeID", ""))
        host = dig(node, "Description.Hostname", "") or task.get("NodeID", "")
        return f"task {name} on node {host}"

    async def run(self, send: trio.MemorySendChannel) -> None:
        """Send every selected task's lines; in follow mode, until cancelled."""
        async with send, trio.open_nursery() as nursery:
            while True:
                for task in self.select():
                    if task["ID"] not in self._started and has_run(task):
                        self._started.add(task["ID"])
                        nursery.start_soon(self._read_task, task, send.clone())
                if not self.opts.follow:
                    return
                await trio.sleep(RESCAN_SECONDS)

    async def _read_task(self, task: dict, send: trio.MemorySendChannel) -> None:
        async with send:
            problem = await self._read_or_problem(task, send)
            if problem is not None:
                try:
                    await send.send(
                        self.error(f"{self._describe(task)} is not available: {problem}")
                    )
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

    async def _read_or_problem(self, task: dict, send: trio.MemorySendChannel) -> str | None:
        """Relay one task's lines; what went wrong (for the error line), or None."""
        node_id = task["NodeID"]
        problem = node_problem(self.store.get(NODE, node_id))
        if problem is not None:
            return problem
        lost: list[str] = []
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_node, node_id, scope, lost)
                try:
                    await self._relay(task, send)
                except RemoteError as exc:
                    lost.append(exc.message or exc.code)
                except ValueError as exc:  # a chunk that is not what a worker sends
                    lost.append(f"bad log data: {exc}")
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the response is over
                except Exception as exc:
                    log.exception("reading the logs of task %s failed", task["ID"])
                    lost.append(f"internal error: {type(exc).__name__}: {exc}")
                nursery.cancel_scope.cancel()
        return lost[0] if lost else None

    async def _relay(self, task: dict, send: trio.MemorySendChannel) -> None:
        opts = self.opts
        write = line_writer(context_attrs(task), timestamps=opts.timestamps, details=opts.details)
        encode = self._encode
        async with self.open_stream(task["NodeID"], ROUTE, task_request(task, opts)) as chunks:
            async for chunk in chunks:  # one write of the response per chunk, not per line
                await send.send(
                    b"".join(
                        encode(stream, write(text, stamp))
                        for stream, stamp, text in chunk_entries(chunk)
                    )
                )

    async def _watch_node(self, node_id: str, scope: trio.CancelScope, lost: list[str]) -> None:
        """A task's node that goes down ends its stream with an error line (a partitioned
        node's session may take longer to end than the swarm takes to mark it down)."""
        while True:
            await trio.sleep(RESCAN_SECONDS)
            problem = node_problem(self.store.get(NODE, node_id))
            if problem is not None:
                lost.append(problem)
                scope.cancel()
                return
