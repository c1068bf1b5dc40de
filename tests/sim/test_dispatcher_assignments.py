"""Seeded random store histories against the dispatcher core: after every delivery, what a
worker rebuilt from the full and incremental messages is exactly its tasks in the store."""

import random

import pytest

from swarmlet.manager.dispatcher_core import DispatcherCore, is_assignment
from swarmlet.store import Store, commands
from swarmlet.store.commands import encode
from swarmlet.store.objects import TASK, TASK_STATES, edit, with_status

T0 = "2026-11-27T18:00:00.000000000Z"
NODES = ("n1", "n2", "n3")
STATES = [s for s in TASK_STATES if s not in ("remove",)]


class WorkerModel:
    """What a worker's session keeps: the tasks it was given, by ID."""

    def __init__(self):
        self.tasks: dict[str, dict] = {}
        self.next_seq = 1
        self._full: list[dict] | None = None

    def deliver(self, msg):
        assert msg["seq"] == self.next_seq, "sequence numbers have no gaps"
        self.next_seq += 1
        if msg["full"]:
            self._full = (self._full or []) + msg["updates"]
            if not msg["more"]:
                self.tasks = {t["ID"]: t for t in self._full}
                self._full = None
            return
        assert self._full is None, "an incremental message inside a full set"
        for t in msg["updates"]:
            self.tasks[t["ID"]] = t
        for task_id in msg["removals"]:
            assert task_id in self.tasks, "removal of a task the worker was never given"
            del self.tasks[task_id]


def _stable(task):
    return {k: v for k, v in task.items() if k not in ("Status", "Version", "UpdatedAt")}


def _random_task(rng, n):
    state = rng.choice(STATES)
    return {
        "ID": f"t{n}",
        "Version": {"Index": 0},
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Spec": {"ContainerSpec": {"Image": "busybox"}},
        "ServiceID": "svc1",
        "Slot": n,
        "NodeID": rng.choice(NODES + ("",)),
        "Status": {"Timestamp": T0, "State": state, "Message": ""},
        "DesiredState": "running",
    }


def _random_change(rng, store, counter):
    tasks = store.list(TASK)
    roll = rng.random()
    if not tasks or roll < 0.3:
        return commands.create(TASK, _random_task(rng, next(counter)))
    t = rng.choice(tasks)
    if roll < 0.45:
        return commands.delete(TASK, t["ID"])
    if roll < 0.65:
        later = [s for s in STATES if TASK_STATES[s] > TASK_STATES[t["Status"]["State"]]]
        if later:
            return commands.update(TASK, with_status(t, rng.choice(later), T0))
    changed = edit(t)
    if roll < 0.8:
        changed["DesiredState"] = rng.choice(["running", "shutdown", "remove", "ready"])
    elif roll < 0.9:
        changed["Spec"]["ContainerSpec"]["Image"] = f"busybox:{rng.randrange(5)}"
    else:
        changed["NodeID"] = rng.choice(NODES)
    return commands.update(TASK, changed)


@pytest.mark.parametrize("seed", range(20))
def test_workers_always_converge_to_their_store_assignments(seed):
    rng = random.Random(seed)
    store = Store()
    sub = store.watch(kinds={TASK})
    core = DispatcherCore(0.0, chunk=rng.choice([1, 3, 64]))
    workers: dict[str, WorkerModel] = {}
    counter = iter(range(1, 10**6))
    index = 0
    for step in range(400):
        roll = rng.random()
        if roll < 0.6:
            index += 1
            store.apply(index, encode(_random_change(rng, store, counter)))
        elif roll < 0.65:
            node_id = rng.choice(NODES)  # a worker (re)connects: a new session
            core.register(node_id, f"s{step}", now=0.0)
            workers[node_id] = WorkerModel()
        elif roll < 0.67 and workers:
            core.resync(rng.choice(sorted(workers)))
        core.on_events(sub.drain())  # the runner drains after every apply
        if roll > 0.8:
            for node_id, worker in workers.items():
                for msg in core.take(node_id, store):
                    worker.deliver(msg)
                expected = {
                    t["ID"]: _stable(t) for t in store.list(TASK) if is_assignment(t, node_id)
                }
                got = {tid: _stable({**t}) for tid, t in worker.tasks.items()}
                for t in got.values():
                    t.pop("ServiceAnnotations", None)
                assert got == expected, f"seed {seed} step {step} node {node_id}"
