"""Restart policy: whether an ended task is replaced, and when its replacement may start.

Swarm counts restarts per slot (per node for global services) and forgets them when the
service's spec changes; so does this, in memory of the leader, from times passed in.
Records are kept per replaced task, so that planning the same restart again (after the
plan's proposal lost a race and is redone from fresh state) neither counts it twice nor
holds it against itself.
"""

from __future__ import annotations

from swarmlet.manager.orchestrator.tasks import NANOS, restart_policy, state, task_version


class RestartHistory:
    """Restarts made per instance, to enforce MaxAttempts within Window."""

    def __init__(self) -> None:
        # instance -> (spec version, [(restart time, ID of the task it replaced)])
        self._by_instance: dict[tuple, tuple[int, list[tuple[float, str]]]] = {}

    def should_restart(self, task: dict, instance: tuple, now: float) -> bool:
        policy = restart_policy(task.get("Spec") or {})
        condition = policy["Condition"]
        if condition == "none":
            return False
        if condition == "on-failure" and state(task) == "complete":
            return False
        max_attempts = int(policy["MaxAttempts"] or 0)
        if not max_attempts:
            return True
        version, times = self._by_instance.get(instance, (None, []))
        if version != task_version(task):
            return True
        times = [at for at, replaced in times if replaced != task["ID"]]
        window = int(policy["Window"] or 0) / NANOS
        if window:
            times = [at for at in times if at > now - window]
        return len(times) < max_attempts

    def record(self, task: dict, instance: tuple, now: float) -> None:
        version, times = self._by_instance.get(instance, (None, []))
        if version != task_version(task):
            times = []
        kept = [r for r in times if r[1] != task["ID"]]
        self._by_instance[instance] = (task_version(task), [*kept, (now, task["ID"])])

    def forget_service(self, service_id: str) -> None:
        for key in [k for k in self._by_instance if k[0] == service_id]:
            del self._by_instance[key]


def restart_delay(task: dict) -> float:
    return int(restart_policy(task.get("Spec") or {})["Delay"] or 0) / NANOS
