"""The agent's controller loop on an in-memory engine: what it asks the engine on the way
from an assignment to a running task."""

from __future__ import annotations

import collections

import pytest
import trio

from swarmlet.worker.agent import Agent
from swarmlet.worker.controller import Container

from .dispatcher_fixtures import MemoryExecutor


class CountingExecutor(MemoryExecutor):
    """Counts the engine calls; `prepare` returns the container it made, as docker's does."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter = collections.Counter()

    async def observe(self, task):
        self.calls["observe"] += 1
        return await super().observe(task)

    async def prepare(self, task):
        self.calls["prepare"] += 1
        await super().prepare(task)
        return Container(id=self.containers[task["ID"]]["id"])

    async def start(self, task):
        self.calls["start"] += 1
        await super().start(task)


def _task(task_id: str) -> dict:
    return {
        "ID": task_id,
        "ServiceID": "s1",
        "Slot": 1,
        "DesiredState": "running",
        "Status": {"State": "assigned"},
        "Spec": {"ContainerSpec": {"Image": "busybox:latest"}},
    }


@pytest.mark.anyio
async def test_a_new_task_runs_with_one_look_at_its_started_container():
    executor = CountingExecutor()
    reports: list[tuple[str, dict]] = []
    agent = Agent(executor, lambda tid, status: reports.append((tid, status)), lambda: "now")
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        agent.assign([_task("t1")])
        with trio.fail_after(10):
            while not any(s["State"] == "running" for _, s in reports):
                await trio.sleep(0.01)
        await trio.sleep(0.05)  # the controller settles (it looks once more, then waits)
        nursery.cancel_scope.cancel()
    for stream in executor.streams:
        stream.close()
    states = [s["State"] for _, s in reports]
    assert states == ["accepted", "preparing", "ready", "starting", "running"]
    ready = next(s for _, s in reports if s["State"] == "ready")
    assert ready["ContainerStatus"]["ContainerID"] == "c-t1"  # from prepare, not a look
    assert executor.calls["prepare"] == 1 and executor.calls["start"] == 1
    # one look after the start (it shows the container running), none before
    assert executor.calls["observe"] == 1
