"""The task controller's decisions: from a task (its reported state, its desired state) and
what the engine shows of its container, the next thing to do and the status to report.

Pure, so that every transition is tested without an engine; `agent.py` runs it. The worker
owns the states after ASSIGNED and moves them only forward; a failure before STARTING is
REJECTED, after it FAILED, as in Swarm. The messages are the ones `docker service ps` users
see.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmlet.store.objects import TASK_STATES

STATE_VALUES = TASK_STATES
MESSAGES = {
    "accepted": "accepted",
    "preparing": "preparing",
    "ready": "prepared",
    "starting": "starting",
    "running": "started",
    "complete": "finished",
    "shutdown": "shutdown",
}

# Actions the runner performs against the engine.
PREPARE = "prepare"  # pull the image if needed, create the container
START = "start"
STOP = "stop"
REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class Container:
    """What the engine shows of a task's container."""

    running: bool = False
    exit_code: int | None = None  # set once it has exited
    health: str | None = None  # None without a healthcheck, else starting|healthy|unhealthy
    error: str = ""
    id: str = ""
    pid: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    state: str
    message: str
    err: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """Report `report` now (if any), then perform `action` (if any); after a successful
    action report `then` (if any)."""

    report: Status | None = None
    action: str | None = None
    then: Status | None = None


IDLE = Step()


def value(state: str) -> int:
    return STATE_VALUES[state]


def reached(state: str) -> Status:
    return Status(state, MESSAGES[state])


def failure(current: str, err: str) -> Status:
    """A failure before the container starts rejects the task; after, it fails it."""
    state = "rejected" if value(current) < value("starting") else "failed"
    return Status(state, MESSAGES.get(current, current), err)


def _exited(c: Container) -> Status:
    if c.exit_code == 0:
        return reached("complete")
    return Status("failed", "started", c.error or f"task: non-zero exit ({c.exit_code})")


def needs_container(current: str, desired: str) -> bool:
    """Whether `decide` looks at the container: not while a task that should run has not
    been prepared yet (the runner then skips asking the engine)."""
    return value(desired) > value("running") or value(current) > value("accepted")


def decide(current: str, desired: str, container: Container | None) -> Step:
    """The next step for a task reported in `current`, wanted in `desired`."""
    ended = value(current) > value("running")
    if value(desired) > value("running"):  # shutdown or remove
        if container is not None and container.running:
            return Step(action=STOP, then=None if ended else reached("shutdown"))
        if not ended:
            return Step(report=reached("shutdown"))
        if desired == "remove" and container is not None:
            return Step(action=REMOVE)
        return IDLE
    if ended:
        return IDLE
    if current in ("new", "pending", "assigned"):
        return Step(report=reached("accepted"))
    if current == "accepted":
        return Step(report=reached("preparing"), action=PREPARE, then=reached("ready"))
    if current == "preparing":  # a restart caught us mid-prepare: prepare again
        return Step(action=PREPARE, then=reached("ready"))
    if container is None:
        return Step(report=failure(current, "task: container is gone"))
    if current == "ready":
        if desired != "running":
            return IDLE  # a delayed restart: prepared, waiting to be told to start
        if container.exit_code is not None or container.running:
            # started before a restart of the worker: observe it from STARTING
            return Step(report=reached("starting"))
        return Step(report=reached("starting"), action=START)
    # starting or running
    if container.health == "unhealthy":
        return Step(action=STOP, then=Status("failed", "started", "task: container unhealthy"))
    if not container.running:
        if container.exit_code is None:
            if current == "starting":
                return Step(action=START)
            return Step(report=failure(current, "task: container stopped"))
        return Step(report=_exited(container))
    if current == "starting" and container.health in (None, "healthy"):
        return Step(report=reached("running"))
    return IDLE
