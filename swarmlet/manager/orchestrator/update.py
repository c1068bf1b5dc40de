"""Rolling updates and rollbacks, as one reconcile step over a service's instances.

An instance is a slot (replicated) or a node (global). It is dirty while an active task of
it runs an older spec version. The step starts new tasks for at most `Parallelism` dirty
instances at a time (stop-first: the old task stops, then the new one starts; start-first:
the old one stops once the new one runs), waits `Delay` between batches, counts new tasks
that fail within `Monitor` of starting, and pauses, rolls back or carries on once the
failures exceed `MaxFailureRatio`.
"""

from __future__ import annotations

from collections.abc import Callable

from swarmlet.manager.orchestrator.plan import Plan
from swarmlet.manager.orchestrator.tasks import (
    NANOS,
    has_ended,
    parse_timestamp,
    spec_version,
    state,
    state_value,
    task_version,
    timestamp,
)

UPDATE_DEFAULTS = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5 * NANOS,
    "MaxFailureRatio": 0.0,
    "Order": "stop-first",
}
_RUNNING = state_value("running")
_IN_PROGRESS = ("updating", "rollback_started")


def update_config(service: dict, rollback: bool) -> dict:
    key = "RollbackConfig" if rollback else "UpdateConfig"
    config = dict(UPDATE_DEFAULTS)
    config.update({k: v for k, v in (service["Spec"].get(key) or {}).items() if v is not None})
    return config


def host_ports(ports) -> frozenset:
    """Host-mode published ports: a task publishes them on its own node, so changing them
    needs new tasks (ingress ports are the routing mesh's business)."""
    return frozenset(
        (p.get("Protocol") or "tcp", p.get("TargetPort"), int(p.get("PublishedPort") or 0))
        for p in ports or ()
        if p.get("PublishMode") == "host"
    )


def is_dirty(task: dict, template: dict, ports: frozenset = frozenset()) -> bool:
    """The task runs another spec than the service's, or publishes other host-mode ports
    (a scale change leaves tasks clean)."""
    return task.get("Spec") != template or (
        host_ports((task.get("Endpoint") or {}).get("Ports")) != ports
    )


class UpdateTracker:
    """What the updater has seen of new tasks: when each started running, which failed."""

    def __init__(self) -> None:
        self._running_since: dict[str, float] = {}
        self._failed: dict[tuple[str, int], set[str]] = {}

    def observe(self, service_id: str, version: int, task: dict, now: float, monitor: float):
        if task_version(task) != version:
            return  # not made by this rollout: its failures are the restart policy's business
        if state(task) == "running":
            self._running_since.setdefault(task["ID"], now)
        elif state(task) in ("failed", "rejected"):
            since = self._running_since.get(task["ID"])
            ended = parse_timestamp((task.get("Status") or {}).get("Timestamp")) or now
            if since is None or ended - since <= monitor:
                self._failed.setdefault((service_id, version), set()).add(task["ID"])

    def running_since(self, task_id: str, default: float) -> float:
        return self._running_since.get(task_id, default)

    def failures(self, service_id: str, version: int) -> set[str]:
        return self._failed.get((service_id, version), set())

    def forget_service(self, service_id: str) -> None:
        for key in [k for k in self._failed if k[0] == service_id]:
            del self._failed[key]


def rolling_update(
    service: dict,
    instances: dict,
    plan: Plan,
    now: float,
    tracker: UpdateTracker,
    replace: Callable[[object, dict, str], dict],
) -> None:
    """Advance the service's rollout by one step, recording changes in `plan`.

    `instances` maps an instance key to its tasks; `replace(key, old_task, desired)` makes
    the new task for an instance (the caller knows slots and nodes).
    """
    sid, version = service["ID"], spec_version(service)
    status = dict(service.get("UpdateStatus") or {})
    rollback = (status.get("State") or "").startswith("rollback")
    config = update_config(service, rollback)
    monitor = int(config["Monitor"] or 0) / NANOS
    template = service["Spec"].get("TaskTemplate") or {}
    ports = host_ports((service["Spec"].get("EndpointSpec") or {}).get("Ports"))

    dirty, in_flight, total_new = [], 0, 0
    last_started = 0.0
    for key, tasks in instances.items():
        old = [t for t in tasks if plan.active(t) and is_dirty(t, template, ports)]
        new = [t for t in tasks if not is_dirty(t, template, ports)]
        for t in new:
            tracker.observe(sid, version, t, now, monitor)
        total_new += len(new)
        live_new = [t for t in new if plan.active(t) and not has_ended(t)]
        if any(state_value(state(t)) < _RUNNING for t in live_new):
            in_flight += 1
        running_new = [t for t in live_new if state(t) == "running"]
        for t in running_new:
            last_started = max(last_started, tracker.running_since(t["ID"], now))
        if running_new:
            for t in old:  # start-first: the new task runs, the old one may go
                plan.shutdown(t)
        elif old and not live_new:
            dirty.append((key, old))

    if not dirty and not in_flight:
        if status.get("State") in _IN_PROGRESS:
            done = "rollback_completed" if rollback else "completed"
            message = "rollback completed" if rollback else "update completed"
            plan.service["UpdateStatus"] = {
                **status,
                "State": done,
                "CompletedAt": timestamp(now),
                "Message": message,
            }
        return
    if status.get("State") in ("paused", "rollback_paused"):
        return
    if status.get("State") not in _IN_PROGRESS:
        if not dirty:
            return  # new tasks starting, none to replace: not an update
        status = {"State": "updating", "StartedAt": timestamp(now), "Message": "update in progress"}
        plan.service["UpdateStatus"] = status

    failed = tracker.failures(sid, version)
    ratio = float(config["MaxFailureRatio"] or 0)
    if failed and len(failed) > ratio * max(total_new, 1) and config["FailureAction"] != "continue":
        culprit = sorted(failed)[0]
        if config["FailureAction"] == "rollback" and not rollback and service.get("PreviousSpec"):
            plan.service["Spec"] = service["PreviousSpec"]
            plan.service["PreviousSpec"] = service["Spec"]
            plan.service["UpdateStatus"] = {
                "State": "rollback_started",
                "StartedAt": timestamp(now),
                "Message": f"update rolled back due to failure or early termination of task {culprit}",
            }
        else:
            plan.service["UpdateStatus"] = {
                **status,
                "State": "rollback_paused" if rollback else "paused",
                "Message": f"{'rollback' if rollback else 'update'} paused due to failure or "
                f"early termination of task {culprit}",
            }
        return

    delay = int(config["Delay"] or 0) / NANOS
    if delay and last_started:
        if in_flight:
            return
        if now < last_started + delay:
            plan.wake(last_started + delay)
            return
    parallelism = int(config["Parallelism"] or 0)
    room = len(dirty) if parallelism == 0 else max(parallelism - in_flight, 0)
    start_first = config["Order"] == "start-first"
    for key, old in dirty[:room]:
        if start_first:
            plan.create.append(replace(key, old[0], "running"))
        else:
            for t in old:
                plan.shutdown(t)
            plan.create.append(replace(key, old[0], "ready"))
