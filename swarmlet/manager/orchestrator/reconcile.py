"""The orchestrators' reconcile step: from one service, its tasks and the nodes, the changes
that move the service toward its spec. Pure and level-triggered: the leader calls it after
any change that concerns the service (and at `Plan.wake_at`), applies the plan as one store
batch, and calling it again on the same state plans nothing new.

Replicated services keep slots 1..N filled; global services keep one task on each eligible
node; jobs run their tasks to completion. Everywhere: an ended task is replaced under its
restart policy (after the restart delay); a task whose node is down or drained is replaced at
once (its host is gone, it did not crash, so there is no crash-loop to slow down); old tasks
beyond the history limit are deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from swarmlet.manager.orchestrator.plan import Plan
from swarmlet.manager.orchestrator.restart import RestartHistory, restart_delay
from swarmlet.manager.orchestrator.tasks import (
    DEFAULT_HISTORY_LIMIT,
    has_ended,
    holds_node,
    new_task,
    parse_timestamp,
    spec_version,
    state,
    task_version,
)
from swarmlet.manager.orchestrator.update import UpdateTracker, rolling_update
from swarmlet.sched.constraints import parse_constraints
from swarmlet.store.objects import service_mode

# An old task that does not report its end within this time no longer holds back its
# replacement (its node may never answer again).
OLD_TASK_TIMEOUT = 60.0
_RETIRING_STATES = ("complete", "failed", "rejected")


def node_lost(node: dict | None) -> bool:
    """The node is gone or down: its tasks must run elsewhere."""
    return node is None or (node.get("Status") or {}).get("State") == "down"


def node_drained(node: dict | None) -> bool:
    return node is not None and (node.get("Spec") or {}).get("Availability") == "drain"


def _created(task: dict) -> float:
    return parse_timestamp(task.get("CreatedAt"))


class Orchestrator:
    """Reconciles services; keeps only the restart and rollout memory Swarm's leader keeps."""

    def __init__(
        self, new_id: Callable[[], str], history_limit: int = DEFAULT_HISTORY_LIMIT
    ) -> None:
        self.new_id = new_id
        self.history_limit = history_limit
        self.restarts = RestartHistory()
        self.updates = UpdateTracker()

    def reconcile(self, service: dict, tasks: list[dict], nodes: dict, now: float) -> Plan:
        plan = Plan()
        mode = service_mode(service)
        if mode in ("replicated", "replicated-job"):
            instances = defaultdict(list)
            for t in tasks:
                instances[t.get("Slot", 0)].append(t)
        else:
            instances = defaultdict(list)
            for t in tasks:
                instances[t.get("NodeID", "")].append(t)
        job = mode.endswith("-job")
        self._handle_ended_and_lost(service, instances, nodes, now, plan, job)
        if mode == "replicated":
            self._scale(service, instances, now, plan)
        elif mode == "global":
            self._cover_nodes(service, instances, nodes, now, plan)
        elif mode == "replicated-job":
            self._run_replicated_job(service, instances, now, plan)
        else:
            self._cover_nodes(service, instances, nodes, now, plan, job=True)
        if not job:
            rolling_update(
                service,
                instances,
                plan,
                now,
                self.updates,
                lambda key, old, desired: self._replacement(service, old, now, desired),
            )
        self._delayed_starts(instances, nodes, now, plan)
        by_node = mode.startswith("global")
        for t in plan.create:
            instances[t.get("NodeID", "") if by_node else t.get("Slot", 0)].append(t)
        self._trim_history(instances, plan)
        return plan

    def remove_service(self, service_id: str, tasks: list[dict], nodes: dict) -> Plan:
        """The service is gone: its tasks are to be removed, and deleted once stopped."""
        plan = Plan()
        for t in tasks:
            if t.get("DesiredState") != "remove":
                plan.set(t, DesiredState="remove")
            if has_ended(t) or not holds_node(t) or node_lost(nodes.get(t.get("NodeID"))):
                plan.delete.append(t["ID"])
        self.restarts.forget_service(service_id)
        self.updates.forget_service(service_id)
        return plan

    # -- steps ------------------------------------------------------------------------

    def _replacement(
        self, service: dict, old: dict, now: float, desired: str, start_after: float | None = None
    ) -> dict:
        if desired == "ready" and start_after is None:
            start_after = now
        return new_task(
            service,
            task_id=self.new_id(),
            now=now,
            slot=old.get("Slot", 0),
            node_id=old.get("NodeID", "") if service_mode(service).startswith("global") else "",
            desired=desired,
            start_after=start_after,
            job_iteration=(old.get("JobIteration") or {}).get("Index"),
        )

    def _instance(self, service: dict, task: dict) -> tuple:
        if service_mode(service).startswith("global"):
            return (service["ID"], task.get("NodeID", ""))
        return (service["ID"], task.get("Slot", 0))

    def _handle_ended_and_lost(self, service, instances, nodes, now, plan, job) -> None:
        replicas = _replicas(service)
        is_global = service_mode(service).startswith("global")
        for key, tasks in instances.items():
            for t in tasks:
                if not plan.active(t):
                    continue
                node_id = t.get("NodeID")
                node = nodes.get(node_id) if node_id else None
                lost = bool(node_id) and (node_lost(node) or node_drained(node))
                if not (has_ended(t) or lost):
                    continue
                if job and state(t) == "complete":
                    continue  # a finished job task stays as the record of its completion
                plan.shutdown(t)
                if is_global and lost:
                    continue  # global tasks belong to their node; _cover_nodes decides
                if not is_global and replicas is not None and key > replicas:
                    continue  # scaled away
                if lost and not has_ended(t):
                    plan.create.append(self._replacement(service, t, now, "running"))
                    continue
                instance = self._instance(service, t)
                if not self.restarts.should_restart(t, instance, now):
                    continue
                self.restarts.record(t, instance, now)
                delay = restart_delay(t)
                if delay:
                    plan.create.append(self._replacement(service, t, now, "ready", now + delay))
                    plan.wake(now + delay)
                else:
                    plan.create.append(self._replacement(service, t, now, "running"))

    def _retired(self, service: dict, tasks: list[dict], now: float) -> bool:
        """The instance's last task ended for good under its restart policy."""
        if not tasks:
            return False
        last = max(tasks, key=_created)
        return (
            state(last) in _RETIRING_STATES
            and task_version(last) == spec_version(service)
            and not self.restarts.should_restart(last, self._instance(service, last), now)
        )

    def _scale(self, service, instances, now, plan) -> None:
        replicas = _replicas(service) or 0
        pending_slots = {c.get("Slot") for c in plan.create}
        for slot in sorted(instances, reverse=True):
            if slot > replicas:
                for t in instances[slot]:
                    if plan.active(t):
                        plan.shutdown(t)
        for slot in range(1, replicas + 1):
            tasks = instances.get(slot, [])
            if slot in pending_slots or any(plan.active(t) for t in tasks):
                continue
            if self._retired(service, tasks, now):
                continue
            plan.create.append(new_task(service, task_id=self.new_id(), now=now, slot=slot))

    def _cover_nodes(self, service, instances, nodes, now, plan, job: bool = False) -> None:
        placement = service["Spec"].get("TaskTemplate", {}).get("Placement") or {}
        constraints = parse_constraints(placement.get("Constraints"))
        pending_nodes = {c.get("NodeID") for c in plan.create}
        iteration = _job_iteration(service)
        for node_id, node in sorted(nodes.items()):
            tasks = instances.get(node_id, [])
            eligible = (
                not node_drained(node)
                and (node.get("Spec") or {}).get("Membership") != "pending"  # 1.12: not accepted
                and all(c.matches(node) for c in constraints)
            )
            if not eligible:
                for t in tasks:
                    if plan.active(t):
                        plan.shutdown(t)
                continue
            if node_lost(node) or (node.get("Spec") or {}).get("Availability") == "pause":
                continue
            if node_id in pending_nodes or any(plan.active(t) for t in tasks):
                continue
            if job and any(
                state(t) == "complete" and _task_iteration(t) == iteration for t in tasks
            ):
                continue
            if self._retired(service, tasks, now):
                continue
            plan.create.append(
                new_task(
                    service,
                    task_id=self.new_id(),
                    now=now,
                    node_id=node_id,
                    job_iteration=iteration if job else None,
                )
            )
        for node_id, tasks in instances.items():
            if node_id not in nodes:
                for t in tasks:
                    if plan.active(t):
                        plan.shutdown(t)

    def _run_replicated_job(self, service, instances, now, plan) -> None:
        job = service["Spec"]["Mode"]["ReplicatedJob"] or {}
        concurrent = int(job.get("MaxConcurrent") or 1)
        total = int(job.get("TotalCompletions") or concurrent)
        iteration = _job_iteration(service)
        running = sum(
            1 for ts in instances.values() for t in ts if plan.active(t) and not has_ended(t)
        ) + len(plan.create)
        for slot in range(1, total + 1):
            if running >= concurrent:
                break
            tasks = [t for t in instances.get(slot, []) if _task_iteration(t) == iteration]
            if any(plan.active(t) for t in tasks) or any(
                c.get("Slot") == slot for c in plan.create
            ):
                continue
            if any(state(t) == "complete" for t in tasks) or self._retired(service, tasks, now):
                continue
            plan.create.append(
                new_task(
                    service, task_id=self.new_id(), now=now, slot=slot, job_iteration=iteration
                )
            )
            running += 1

    def _delayed_starts(self, instances, nodes, now, plan) -> None:
        """Start a replacement once its delay is over and the task it replaces has stopped."""
        for tasks in instances.values():
            for t in tasks:
                if plan.desired(t) != "ready" or has_ended(t):
                    continue
                start_after = parse_timestamp(t.get("StartAfter")) or _created(t)
                if now < start_after:
                    plan.wake(start_after)
                    continue
                blocking = [
                    o
                    for o in tasks
                    if o is not t
                    and not plan.active(o)
                    and holds_node(o)
                    and not node_lost(nodes.get(o.get("NodeID")))
                ]
                if blocking and now < start_after + OLD_TASK_TIMEOUT:
                    plan.wake(start_after + OLD_TASK_TIMEOUT)
                    continue
                plan.set(t, DesiredState="running")

    def _trim_history(self, instances, plan) -> None:
        limit = max(self.history_limit, 0)
        for tasks in instances.values():
            if len(tasks) <= limit:
                continue
            removable = sorted(
                (t for t in tasks if not plan.active(t) and (has_ended(t) or not holds_node(t))),
                key=_created,
            )
            excess = len(tasks) - limit
            plan.delete.extend(t["ID"] for t in removable[:excess])


def _replicas(service: dict) -> int | None:
    replicated = (service["Spec"].get("Mode") or {}).get("Replicated")
    if replicated is None:
        return None
    return int(replicated.get("Replicas", 1) if replicated else 1)


def _job_iteration(service: dict) -> int:
    return int(((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index") or 0)


def _task_iteration(task: dict) -> int:
    return int((task.get("JobIteration") or {}).get("Index") or 0)
