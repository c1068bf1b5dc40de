"""A plan: what one reconcile step wants changed, applied by the leader as one store batch.

Steps read tasks through the plan, so that a task shut down by an earlier step is no longer
seen as active by a later one within the same reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmlet.manager.orchestrator.tasks import is_active


@dataclass
class Plan:
    create: list[dict] = field(default_factory=list)
    update: dict[str, dict] = field(default_factory=dict)  # task ID -> fields to set
    delete: list[str] = field(default_factory=list)
    service: dict = field(default_factory=dict)  # service fields to set
    wake_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete or self.service)

    def set(self, task: dict, **fields) -> None:
        self.update.setdefault(task["ID"], {}).update(fields)

    def shutdown(self, task: dict) -> None:
        self.set(task, DesiredState="shutdown")

    def desired(self, task: dict) -> str:
        return (self.update.get(task["ID"]) or {}).get("DesiredState") or task.get(
            "DesiredState", "running"
        )

    def active(self, task: dict) -> bool:
        return is_active({"DesiredState": self.desired(task)})

    def wake(self, at: float) -> None:
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at
