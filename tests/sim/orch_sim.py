"""A deterministic model of a cluster's control loop for the orchestrators and the scheduler.

Virtual time, seeded randomness, a dict for a store, the real `Orchestrator` and
`Scheduler`, and model workers that move their tasks through the task states (with a
random start latency) or fail them when told to. Faults: container crashes, nodes going
down and coming back, drains, bad images.
"""

from __future__ import annotations

import copy
import random

from swarmlet.manager.orchestrator.reconcile import Orchestrator
from swarmlet.manager.orchestrator.tasks import has_ended, is_active, state, timestamp
from swarmlet.sched.scheduler import Scheduler
from swarmlet.store.objects import service_mode

GB = 1024**3


def make_node(node_id: str, role: str = "worker", labels: dict | None = None) -> dict:
    return {
        "ID": node_id,
        "Spec": {"Role": role, "Availability": "active", "Labels": labels or {}},
        "Description": {
            "Hostname": node_id,
            "Platform": {"OS": "linux", "Architecture": "x86_64"},
            "Resources": {"NanoCPUs": 4 * 10**9, "MemoryBytes": 8 * GB},
            "Engine": {"Labels": {}},
        },
        "Status": {"State": "ready", "Addr": "10.0.0.1"},
    }


def service_spec(name: str = "web", replicas: int | None = 3, **extra) -> dict:
    spec = {
        "Name": name,
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox:latest"},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * 10**9, "MaxAttempts": 0},
        },
        "Mode": {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}},
    }
    for key, value in extra.items():
        spec[key] = value
    return spec


class Cluster:
    def __init__(self, seed: int = 0, nodes: int = 3, history_limit: int = 5):
        self.rng = random.Random(seed)
        self.now = 1_700_000_000.0
        self.index = 0
        self._ids = 0
        self.nodes: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.sched = Scheduler()
        self.orch = Orchestrator(self.new_id, history_limit=history_limit)
        self.crash_next: set[str] = set()
        self.bad_images: set[str] = {"busybox:missing"}
        self.exit_codes: dict[str, int] = {}  # image -> exit code when it runs to completion
        self.wake_at: float | None = None
        for i in range(1, nodes + 1):
            self.add_node(f"node{i}")

    # -- store-ish -----------------------------------------------------------------------

    def new_id(self) -> str:
        self._ids += 1
        return f"t{self._ids:05}"

    def bump(self, obj: dict) -> None:
        self.index += 1
        obj["Version"] = {"Index": self.index}
        obj["UpdatedAt"] = timestamp(self.now)

    def add_node(self, node_id: str, **kw) -> None:
        node = make_node(node_id, **kw)
        self.bump(node)
        self.nodes[node_id] = node
        self.sched.upsert_node(node)

    def set_node(self, node_id: str, *, state: str | None = None, availability: str | None = None):
        node = self.nodes[node_id]
        if state:
            node["Status"]["State"] = state
        if availability:
            node["Spec"]["Availability"] = availability
        self.bump(node)
        self.sched.upsert_node(node)

    def create_service(self, spec: dict) -> str:
        sid = f"s{len(self.services) + 1}"
        svc = {"ID": sid, "Spec": copy.deepcopy(spec), "CreatedAt": timestamp(self.now)}
        self.bump(svc)
        svc["SpecVersion"] = dict(svc["Version"])
        self.services[sid] = svc
        return sid

    def update_service(self, sid: str, mutate) -> None:
        svc = self.services[sid]
        svc["PreviousSpec"] = copy.deepcopy(svc["Spec"])
        mutate(svc["Spec"])
        svc.pop("UpdateStatus", None)
        self.bump(svc)
        svc["SpecVersion"] = dict(svc["Version"])

    def rollback_service(self, sid: str) -> None:
        svc = self.services[sid]
        svc["Spec"], svc["PreviousSpec"] = svc["PreviousSpec"], svc["Spec"]
        svc["UpdateStatus"] = {
            "State": "rollback_started",
            "Message": "manually requested rollback",
        }
        self.bump(svc)
        svc["SpecVersion"] = dict(svc["Version"])

    def service_tasks(self, sid: str) -> list[dict]:
        return [t for t in self.tasks.values() if t["ServiceID"] == sid]

    def set_task(self, task: dict, **fields) -> None:
        task.update(fields)
        self.bump(task)
        self.sched.track_task(task)

    def set_state(self, task: dict, new_state: str, message: str = "", err: str = "") -> None:
        status = {"Timestamp": timestamp(self.now), "State": new_state, "Message": message}
        if err:
            status["Err"] = err
        self.set_task(task, Status=status)

    # -- the loop ------------------------------------------------------------------------

    def orchestrate(self) -> None:
        self.wake_at = None
        for sid in list(self.services):
            svc = self.services[sid]
            plan = self.orch.reconcile(svc, self.service_tasks(sid), self.nodes, self.now)
            for task in plan.create:
                self.bump(task)
                self.tasks[task["ID"]] = task
            for task_id, fields in plan.update.items():
                self.set_task(self.tasks[task_id], **fields)
            for task_id in plan.delete:
                self.sched.forget_task(task_id)
                del self.tasks[task_id]
            if plan.service:
                svc.update(copy.deepcopy(plan.service))
                self.bump(svc)
                if "Spec" in plan.service:
                    svc["SpecVersion"] = dict(svc["Version"])
            if plan.wake_at is not None:
                self.wake_at = min(self.wake_at or plan.wake_at, plan.wake_at)

    def allocate_and_schedule(self) -> None:
        for t in self.tasks.values():
            if state(t) == "new" and is_active(t):
                self.set_state(t, "pending", "pending task scheduling")
        pending = [
            t
            for t in self.tasks.values()
            if state(t) == "pending" and t["DesiredState"] != "remove"
        ]
        pending = [t for t in pending if is_active(t)]
        result = self.sched.schedule(sorted(pending, key=lambda t: t["ID"]))
        for task, node_id in result.assigned:
            task["NodeID"] = node_id
            self.set_state(task, "assigned", "scheduler assigned task to node")
        for task, reason in result.unassigned:
            task["Status"]["Err"] = reason

    def work(self) -> None:
        """Each up node's worker moves its tasks one state forward, at random speeds."""
        for t in sorted(self.tasks.values(), key=lambda t: t["ID"]):
            node = self.nodes.get(t.get("NodeID", ""))
            if node is None or node["Status"]["State"] != "ready" or has_ended(t):
                continue
            st = state(t)
            if t["DesiredState"] in ("shutdown", "remove"):
                if st in ("assigned", "accepted", "preparing", "ready", "starting", "running"):
                    self.set_state(t, "shutdown", "shutdown")
                continue
            if t["ID"] in self.crash_next and st == "running":
                self.crash_next.discard(t["ID"])
                self.set_state(t, "failed", "task: non-zero exit (1)", "task: non-zero exit (1)")
                continue
            image = t["Spec"]["ContainerSpec"]["Image"]
            if st == "assigned":
                self.set_state(t, "accepted", "accepted")
            elif st == "accepted" and image in self.bad_images:
                self.set_state(t, "rejected", "preparing", "No such image: " + image)
            elif st == "accepted" and t["DesiredState"] == "running" and self.rng.random() < 0.7:
                self.set_state(t, "running", "started")
            elif st == "running" and image in self.exit_codes and self.rng.random() < 0.5:
                code = self.exit_codes[image]
                if code == 0:
                    self.set_state(t, "complete", "finished")
                else:
                    self.set_state(t, "failed", "task: non-zero exit", f"non-zero exit ({code})")

    def step(self, dt: float = 0.5) -> None:
        self.orchestrate()
        self.allocate_and_schedule()
        self.work()
        self.now += dt

    def run(self, seconds: float, dt: float = 0.5, check=None) -> None:
        end = self.now + seconds
        while self.now < end:
            self.step(dt)
            if check is not None:
                check(self)

    # -- views ---------------------------------------------------------------------------

    def running(self, sid: str) -> list[dict]:
        return [t for t in self.service_tasks(sid) if state(t) == "running" and is_active(t)]

    def converged(self, sid: str) -> bool:
        svc = self.services[sid]
        mode = service_mode(svc)
        running = self.running(sid)
        if any(t["Spec"] != svc["Spec"]["TaskTemplate"] for t in running):
            return False
        if mode == "replicated":
            want = svc["Spec"]["Mode"]["Replicated"]["Replicas"]
            return sorted(t["Slot"] for t in running) == list(range(1, want + 1))
        if mode == "global":
            eligible = [
                n
                for n in self.nodes.values()
                if n["Status"]["State"] == "ready" and n["Spec"]["Availability"] == "active"
            ]
            return sorted(t["NodeID"] for t in running) == sorted(n["ID"] for n in eligible)
        return True
