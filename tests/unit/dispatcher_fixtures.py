"""Pieces for the dispatcher tests over real secure sessions on loopback: managers with a
dispatcher on a `LocalCluster` store, and workers with a real `Agent` on an in-memory executor."""

from __future__ import annotations

import dataclasses
import queue
import time

import trio

from swarmlet.manager.context import LocalCluster, rfc3339
from swarmlet.manager.dispatcher import Dispatcher
from swarmlet.store import commands
from swarmlet.store.objects import TASK
from swarmlet.wire.mux import Router
from swarmlet.wire.peers import Transport
from swarmlet.worker.agent import Agent
from swarmlet.worker.controller import Container
from swarmlet.worker.docker_executor import LABEL_TASK_ID
from swarmlet.worker.session import WorkerSession

from .store_fixtures import node, service, task

PERIOD_NS = 1_000_000_000  # Swarmlet's default; generous on a loaded machine
FAST_PERIOD_NS = 200_000_000  # where heartbeat expiry is what a test is about


class _EventStream:
    """Engine events as the agent reads them: a blocking iterator that ends when closed."""

    def __init__(self) -> None:
        self.items: queue.Queue = queue.Queue()

    def __iter__(self):
        while (item := self.items.get()) is not None:
            yield item

    def close(self) -> None:
        self.items.put(None)


class MemoryExecutor:
    """The executor interface of DockerExecutor, on containers that are dicts."""

    def __init__(self) -> None:
        self.containers: dict[str, dict] = {}
        self.streams: list[_EventStream] = []

    async def observe(self, task: dict) -> Container | None:
        c = self.containers.get(task["ID"])
        if c is None:
            return None
        return Container(running=c["running"], exit_code=c["exit_code"], id=c["id"], pid=c["pid"])

    async def prepare(self, task: dict) -> None:
        self.containers.setdefault(
            task["ID"], {"running": False, "exit_code": None, "id": "c-" + task["ID"], "pid": 0}
        )

    async def start(self, task: dict) -> None:
        self.containers[task["ID"]].update(running=True, pid=4242)

    async def stop(self, task: dict) -> None:
        c = self.containers.get(task["ID"])
        if c is not None and c["running"]:
            c.update(running=False, exit_code=137, pid=0)

    async def remove(self, task_or_name) -> None:
        task_id = task_or_name if isinstance(task_or_name, str) else task_or_name["ID"]
        self.containers.pop(task_id, None)

    async def remove_task_container(self, task_id: str) -> None:
        self.containers.pop(task_id, None)

    async def task_containers(self) -> dict[str, str]:
        return {task_id: task_id for task_id in self.containers}

    def events(self):
        stream = _EventStream()
        self.streams.append(stream)
        return stream, stream

    def exit(self, task_id: str, code: int) -> None:
        """The container's process ends by itself, and the engine says so."""
        self.containers[task_id].update(running=False, exit_code=code, pid=0)
        for stream in self.streams:
            stream.items.put({"Actor": {"Attributes": {LABEL_TASK_ID: task_id}}})


class ManagerNode:
    def __init__(self, creds, cluster: LocalCluster, leader=None) -> None:
        self.creds = creds
        self.node_id = creds.identity.node_id
        self.router = Router()
        # a follower knows the leader's ManagerNode; the leader has None here
        self.leader = leader
        ctx = dataclasses.replace(cluster.context(), is_leader=lambda: self.leader is None)
        self.dispatcher = Dispatcher(
            ctx, leader_address=lambda: self.leader.address if self.leader else None
        )
        self.dispatcher.register_routes(self.router)
        self.transport = Transport(creds, self.router, listen=("127.0.0.1", 0))
        self.address = ""
        self._scope: trio.CancelScope | None = None
        self._node_scope: trio.CancelScope | None = None

    async def start(self, nursery: trio.Nursery, dispatcher: bool = True) -> None:
        self._node_scope = await nursery.start(_cancellable, self._serve, dispatcher)

    async def _serve(self, dispatcher: bool, *, task_status=trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(self.transport.run)
            self.address = f"127.0.0.1:{port}"
            if dispatcher:
                await self.start_dispatcher(nursery)
            task_status.started()

    def stop(self) -> None:
        """The whole manager goes away (its port stops answering)."""
        self._node_scope.cancel()

    async def start_dispatcher(self, nursery: trio.Nursery) -> None:
        self._scope = await nursery.start(_cancellable, self.dispatcher.run)

    def stop_dispatcher(self) -> None:
        """Leadership lost: the dispatcher stops (the routes stay, answering not_leader)."""
        self._scope.cancel()


async def _cancellable(fn, *args, task_status=trio.TASK_STATUS_IGNORED):
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(fn, *args)
            task_status.started(scope)


class WorkerNode:
    def __init__(self, creds, managers, transport: Transport | None = None) -> None:
        self.creds = creds
        self.node_id = creds.identity.node_id
        self.own_transport = transport is None
        self.transport = transport or Transport(creds, Router())
        self.session = WorkerSession(self.transport, managers)
        self.executor = MemoryExecutor()
        self.agent = Agent(self.executor, self.session.report, lambda: rfc3339(time.time()))
        self._scope: trio.CancelScope | None = None

    async def start(self, nursery: trio.Nursery) -> None:
        if self.own_transport:
            await nursery.start(self.transport.run)
        await nursery.start(self.agent.run)
        await self.start_session(nursery)

    async def start_session(self, nursery: trio.Nursery) -> None:
        self._scope = await nursery.start(_cancellable, self._run_session)

    async def _run_session(self, *, task_status=trio.TASK_STATUS_IGNORED):
        await self.session.run(self.agent, task_status=task_status)

    def stop_session(self) -> None:
        """The worker goes silent (its agent keeps running its tasks)."""
        self._scope.cancel()


async def setup_store(cluster: LocalCluster, worker_ids, period_ns: int = PERIOD_NS) -> None:
    spec = {"Name": "default", "Dispatcher": {"HeartbeatPeriod": period_ns}}
    cl = {"ID": "cluster1", "Version": {"Index": 0}, "Spec": spec}
    await cluster.propose(commands.create("cluster", cl))
    await cluster.propose(commands.create("service", service("svc1", "web")))
    for n in worker_ids:
        fresh = node(n, f"host-{n[:6]}")
        fresh["Status"] = {"State": "unknown", "Addr": "127.0.0.1"}
        await cluster.propose(commands.create("node", fresh))


async def add_task(cluster: LocalCluster, task_id: str, node_id: str, slot: int = 1) -> None:
    result = await cluster.propose(
        commands.create(TASK, task(task_id, "svc1", slot, node_id, state="assigned"))
    )
    assert result.ok, result.error


async def eventually(predicate, timeout: float = 15.0, what: str = "condition"):
    """Wait until `predicate()` is true (a deadline, not a timing assertion)."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"{what} did not happen within {timeout} s")
