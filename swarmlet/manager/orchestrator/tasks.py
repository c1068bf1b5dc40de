"""Task objects as the orchestrators make and read them (Docker's JSON shape).

Times are passed in as seconds since the epoch and stored as RFC 3339 strings, like
Docker's API shows them; nothing here reads the clock.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from swarmlet.store import objects
from swarmlet.store.objects import TASK_STATES

# Docker's task states and their order: a task only ever moves to a higher one.
STATE_VALUES = TASK_STATES
RUNNING = STATE_VALUES["running"]
ASSIGNED = STATE_VALUES["assigned"]

NANOS = 1_000_000_000
DEFAULT_RESTART_DELAY = 5 * NANOS
DEFAULT_HISTORY_LIMIT = 5


def state(task: dict) -> str:
    return (task.get("Status") or {}).get("State") or "new"


def state_value(name: str) -> int:
    return STATE_VALUES[name]


def is_active(task: dict) -> bool:
    """Wanted alive: its desired state is at most running."""
    return STATE_VALUES[task.get("DesiredState") or "running"] <= RUNNING


def has_ended(task: dict) -> bool:
    return STATE_VALUES[state(task)] > RUNNING


def holds_node(task: dict) -> bool:
    """Between assigned and running: a container exists or is being made."""
    return ASSIGNED <= STATE_VALUES[state(task)] <= RUNNING


def timestamp(now: float) -> str:
    dt = datetime.fromtimestamp(now, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(round(now % 1 * 1e9)) % NANOS:09d}Z"


def parse_timestamp(text: str | None) -> float:
    if not text:
        return 0.0
    base, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return seconds + (int(frac.ljust(9, "0")[:9]) / 1e9 if frac else 0.0)


def spec_version(service: dict) -> int:
    """Which spec the service's tasks should run: set by every spec change (`Version` also
    moves when the leader writes the service's endpoint or update status); 0 until the
    first change."""
    return int((service.get("SpecVersion") or {}).get("Index") or 0)


def task_version(task: dict) -> int:
    return int((task.get("SpecVersion") or {}).get("Index") or 0)


def restart_policy(spec: dict) -> dict:
    """The task template's restart policy with Docker's defaults filled in."""
    policy = dict(spec.get("RestartPolicy") or {})
    policy.setdefault("Condition", "any")
    policy.setdefault("Delay", DEFAULT_RESTART_DELAY)
    policy.setdefault("MaxAttempts", 0)
    policy.setdefault("Window", 0)
    return policy


def new_task(
    service: dict,
    *,
    task_id: str,
    now: float,
    slot: int = 0,
    node_id: str = "",
    desired: str = "running",
    start_after: float | None = None,
    job_iteration: int | None = None,
) -> dict:
    """A task in state NEW for one slot (replicated) or one node (global), with what the
    orchestrators and the worker need beyond Docker's shape: the spec version it was made
    from, the service's name (for container names), published ports, a delayed start."""
    task = objects.new_task(
        task_id, service, timestamp(now), slot=slot, node_id=node_id, desired_state=desired
    )
    task["SpecVersion"] = {"Index": spec_version(service)}
    task["ServiceAnnotations"] = {"Name": service["Spec"].get("Name", "")}
    # The ports the spec asks for (the allocator gives the task the allocated ones when it
    # moves on to PENDING): a new task is never dirty for ports not yet allocated.
    ports = (service["Spec"].get("EndpointSpec") or {}).get("Ports")
    if ports:
        task["Endpoint"] = {"Ports": copy.deepcopy(ports)}
    if start_after is not None:
        task["StartAfter"] = timestamp(start_after)
    if job_iteration is not None:
        task["JobIteration"] = {"Index": job_iteration}
    return task
