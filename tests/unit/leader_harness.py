"""A store-backed cluster for tests of the leader's services loop.

`LocalCluster` stands in for raft; `FakeWorkers` plays the workers' part through the store
(as the dispatcher would write their status reports): a task assigned to a ready node moves
to running, a task told to stop moves to shutdown, a task of a missing image is rejected,
and a task can be crashed on demand.
"""

from __future__ import annotations

import contextlib
import itertools
import random

import trio

from swarmlet.manager import controlapi
from swarmlet.manager.context import LocalCluster
from swarmlet.manager.leader import LeaderServices
from swarmlet.manager.orchestrator.tasks import has_ended, is_active, state
from swarmlet.store import OutOfSequence, commands
from swarmlet.store.objects import dig, edit, with_status

EVENTUALLY = 15.0  # a deadline for "eventually", never a measure


class FakeWorkers:
    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self.crash: set[str] = set()
        self.missing_images = {"busybox:missing"}
        self.finishing_images = {"busybox:job"}  # their containers exit 0 once running

    async def run(self) -> None:
        while True:
            await self.step()
            await trio.sleep(0.003)

    async def step(self) -> None:
        store = self.cluster.store
        now = self.cluster.context().timestamp()
        for task in store.list("task"):
            node = store.get("node", task.get("NodeID") or "")
            if node is None or dig(node, "Status.State") != "ready" or has_ended(task):
                continue
            current = state(task)
            if current in ("new", "pending"):
                continue
            image = dig(task, "Spec.ContainerSpec.Image")
            extra = {}
            if not is_active(task):
                new, message = "shutdown", "shutdown"
            elif task["ID"] in self.crash and current == "running":
                self.crash.discard(task["ID"])
                new, message = "failed", "task: non-zero exit (1)"
                extra["Err"] = "task: non-zero exit (1)"
            elif current == "running" and image in self.finishing_images:
                new, message = "complete", "finished"
            elif current == "assigned":
                new, message = "accepted", "accepted"
            elif current == "accepted" and image in self.missing_images:
                new, message = "rejected", "preparing"
                extra["Err"] = f"No such image: {image}"
            elif current == "accepted" and task["DesiredState"] == "running":
                new, message = "running", "started"
            else:
                continue
            # A lost race with the leader's own write is fine: the next step tries again.
            await self.cluster.propose(
                commands.update("task", with_status(task, new, now, message, **extra))
            )


class SlowRaft(LocalCluster):
    """Commands apply after a random delay, as through raft: other writes (the workers')
    land between a proposer's read and its write, and some of its writes lose the race."""

    def __init__(self, latency: float, seed: int):
        super().__init__()
        self.latency = latency
        self.rng = random.Random(seed)

    async def propose(self, command: dict):
        await trio.sleep(self.rng.uniform(0, self.latency))
        return await super().propose(command)


class Harness:
    """A cluster of ready nodes, the leader's loop and the workers, in one trio nursery."""

    def __init__(self, cluster: LocalCluster, nursery: trio.Nursery):
        self.cluster = cluster
        self.ctx = cluster.context()
        ids = itertools.count(1)
        self.ctx.new_id = lambda: f"id{next(ids):05}"
        self.store = cluster.store
        self.nursery = nursery
        self.workers = FakeWorkers(cluster)
        self.leader: LeaderServices | None = None
        self.leader_scope: trio.CancelScope | None = None

    # -- the leader -------------------------------------------------------------------------

    async def start_leader(self, **options) -> LeaderServices:
        leader = LeaderServices(self.ctx, **options)
        scope = trio.CancelScope()

        async def lead():
            with scope:
                await leader.run()

        self.nursery.start_soon(lead)
        self.leader, self.leader_scope = leader, scope
        await trio.sleep(0)
        return leader

    def stop_leader(self) -> None:
        self.leader_scope.cancel()

    # -- writes, as the API and the dispatcher make them -----------------------------------

    async def propose(self, command: dict):
        return (await self.cluster.propose(command)).unwrap()

    async def add_node(self, node_id: str, **kw) -> dict:
        cmd = controlapi.new_node(
            node_id, self.ctx.timestamp(), node_id, "worker", "10.0.0.1", **kw
        )
        cmd["object"]["Status"]["State"] = "ready"
        return await self.propose(cmd)

    async def read_modify_write(self, make_command) -> dict:
        """Propose `make_command()` until it does not lose a race (as a client retries)."""
        while True:
            result = await self.cluster.propose(make_command())
            if not isinstance(result.error, OutOfSequence):
                return result.unwrap()

    async def set_node_state(self, node_id: str, value: str) -> None:
        def command():
            node = edit(self.store.get("node", node_id))
            node["Status"]["State"] = value
            return commands.update("node", node)

        await self.read_modify_write(command)

    async def set_availability(self, node_id: str, availability: str) -> None:
        def command():
            node = self.store.get("node", node_id)
            return controlapi.update_node(
                node, {"Availability": availability}, node["Version"]["Index"], self.ctx.timestamp()
            )

        await self.read_modify_write(command)

    async def create_service(self, spec: dict) -> str:
        cmd = controlapi.create_service(spec, self.ctx.timestamp(), self.ctx.new_id(), self.store)
        return (await self.propose(cmd))["ID"]

    async def update_service(self, sid: str, mutate) -> None:
        def command():
            current = self.store.get("service", sid)
            spec = edit(current["Spec"])
            mutate(spec)
            return controlapi.update_service(
                current, spec, current["Version"]["Index"], self.ctx.timestamp(), self.store
            )

        await self.read_modify_write(command)

    async def remove_service(self, sid: str) -> None:
        await self.propose(controlapi.remove_service(self.store.get("service", sid)))

    # -- reads -------------------------------------------------------------------------------

    def running(self, sid: str) -> list[dict]:
        return [
            t for t in self.store.tasks_by_service(sid) if state(t) == "running" and is_active(t)
        ]

    def converged(self, sid: str, replicas: int) -> bool:
        service = self.store.get("service", sid)
        running = self.running(sid)
        template = service["Spec"]["TaskTemplate"]
        return (
            sorted(t.get("Slot") for t in running) == list(range(1, replicas + 1))
            and all(t["Spec"] == template for t in running)
            and not any(is_active(t) and t not in running for t in self.store.tasks_by_service(sid))
        )

    def all_in_state(self, task_ids: list[str], value: str) -> bool:
        return all(state(self.store.get("task", i) or {}) == value for i in task_ids)

    async def eventually(self, check, what: str = "condition") -> None:
        with trio.move_on_after(EVENTUALLY) as scope:
            while not check():
                await trio.sleep(0.005)
        assert not scope.cancelled_caught, f"{what} did not happen"


@contextlib.asynccontextmanager
async def harness(
    nodes: int = 3, workers: bool = True, leader: bool = True, latency: float = 0.0, seed: int = 0
):
    cluster = SlowRaft(latency, seed) if latency else LocalCluster()
    async with trio.open_nursery() as nursery:
        h = Harness(cluster, nursery)
        for i in range(1, nodes + 1):
            await h.add_node(f"node{i}")
        if workers:
            nursery.start_soon(h.workers.run)
        if leader:
            await h.start_leader()
        try:
            yield h
        finally:
            nursery.cancel_scope.cancel()


def spec(name: str = "web", replicas: int | None = 3, image: str = "busybox:latest", **extra):
    s = {
        "Name": name,
        "TaskTemplate": {
            "ContainerSpec": {"Image": image},
            "RestartPolicy": {"Condition": "any", "Delay": 0},
        },
        "Mode": {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}},
    }
    s.update(extra)
    return s
