"""Cluster objects as plain dicts in the Docker Engine API's JSON shape (API v1.41).

The dicts are the canonical form: ``inspect`` prints them as they are, raft carries them as
CBOR, and the JSON round trip is exact. Objects held by the store are never changed in place;
edit a copy (``edit``) and propose it as an update.
"""

from __future__ import annotations

import copy
import json

CLUSTER = "cluster"
NODE = "node"
SERVICE = "service"
TASK = "task"
NETWORK = "network"
SECRET = "secret"
CONFIG = "config"

KINDS = (CLUSTER, NODE, SERVICE, TASK, NETWORK, SECRET, CONFIG)

# Kinds whose Spec.Name must be unique in the cluster (as in swarmkit's store).
UNIQUE_NAME_KINDS = frozenset({CLUSTER, SERVICE, NETWORK, SECRET, CONFIG})

# Task states with swarmkit's numeric order; a task's Status.State only moves forward.
TASK_STATES = {
    "new": 0,
    "pending": 64,
    "assigned": 192,
    "accepted": 256,
    "preparing": 320,
    "ready": 384,
    "starting": 448,
    "running": 512,
    "complete": 576,
    "shutdown": 640,
    "failed": 704,
    "rejected": 768,
    "remove": 800,
    "orphaned": 832,
}
TERMINAL_TASK_STATES = frozenset(
    {"complete", "shutdown", "failed", "rejected", "remove", "orphaned"}
)

NODE_ROLES = ("worker", "manager")
NODE_AVAILABILITIES = ("active", "pause", "drain")
NODE_STATES = ("unknown", "down", "ready", "disconnected")
NODE_MEMBERSHIPS = ("accepted", "pending")
REACHABILITIES = ("unknown", "unreachable", "reachable")

# swarmlet's own cluster fields (root public key, auto-accept, revoked nodes) live under this
# key, apart from Docker's; ``docker_view`` leaves them out.
SWARMLET_KEY = "Swarmlet"


def task_state_order(state: str) -> int:
    try:
        return TASK_STATES[state]
    except KeyError:
        raise ValueError(f"unknown task state {state!r}") from None


def can_transition(old: str, new: str) -> bool:
    """True when a task may move from state ``old`` to ``new``: strictly forward."""
    return task_state_order(new) > task_state_order(old)


def dig(obj: dict | None, path: str, default=None):
    """``dig(svc, "Spec.Mode.Replicated.Replicas")``: a nested field or ``default``."""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def version_of(obj: dict) -> int:
    return dig(obj, "Version.Index", 0)


def name_of(kind: str, obj: dict) -> str:
    """The name a user calls an object by: Spec.Name, or a node's hostname."""
    name = dig(obj, "Spec.Name", "")
    if not name and kind == NODE:
        name = dig(obj, "Description.Hostname", "")
    return name if isinstance(name, str) else ""


def task_name(task: dict, service_name: str) -> str:
    """Docker's task name: ``svc.slot.id`` for replicated, ``svc.node.id`` for global."""
    slot = task.get("Slot") or 0
    middle = str(slot) if slot else task.get("NodeID", "")
    return f"{service_name}.{middle}.{task['ID']}"


def edit(obj: dict) -> dict:
    """A private deep copy to change and propose as an update."""
    return copy.deepcopy(obj)


def to_json(obj) -> str:
    """Stable JSON (sorted keys) of an object."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def from_json(text: str):
    return json.loads(text)


def docker_view(kind: str, obj: dict) -> dict:
    """The object as Docker's API shows it (swarmlet-only fields left out)."""
    if kind == CLUSTER and SWARMLET_KEY in obj:
        return {k: v for k, v in obj.items() if k != SWARMLET_KEY}
    if kind == SECRET and "Data" in (obj.get("Spec") or {}):
        # Docker never returns a secret's data.
        spec = {k: v for k, v in obj["Spec"].items() if k != "Data"}
        return {**obj, "Spec": spec}
    return obj


def service_mode(service: dict) -> str:
    """``replicated``, ``global``, ``replicated-job`` or ``global-job``."""
    mode = dig(service, "Spec.Mode", {}) or {}
    if "Global" in mode:
        return "global"
    if "ReplicatedJob" in mode:
        return "replicated-job"
    if "GlobalJob" in mode:
        return "global-job"
    return "replicated"


# Docker's field order (the Go structs' order), so JSON output reads like Docker's.
FIELD_ORDER = {
    "Service": (
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Spec",
        "PreviousSpec",
        "Endpoint",
        "UpdateStatus",
        "ServiceStatus",
        "JobStatus",
    ),
    "ServiceSpec": (
        "Name",
        "Labels",
        "TaskTemplate",
        "Mode",
        "UpdateConfig",
        "RollbackConfig",
        "Networks",
        "EndpointSpec",
    ),
    "TaskSpec": (
        "ContainerSpec",
        "PluginSpec",
        "NetworkAttachmentSpec",
        "Resources",
        "RestartPolicy",
        "Placement",
        "Networks",
        "LogDriver",
        "ForceUpdate",
        "Runtime",
    ),
    "ContainerSpec": (
        "Image",
        "Labels",
        "Command",
        "Args",
        "Hostname",
        "Env",
        "Dir",
        "User",
        "Groups",
        "Privileges",
        "Init",
        "StopSignal",
        "TTY",
        "OpenStdin",
        "ReadOnly",
        "Mounts",
        "StopGracePeriod",
        "Healthcheck",
        "Hosts",
        "DNSConfig",
        "Secrets",
        "Configs",
        "Isolation",
        "Sysctls",
        "CapabilityAdd",
        "CapabilityDrop",
        "Ulimits",
    ),
    "UpdateConfig": (
        "Parallelism",
        "Delay",
        "FailureAction",
        "Monitor",
        "MaxFailureRatio",
        "Order",
    ),
    "RestartPolicy": ("Condition", "Delay", "MaxAttempts", "Window"),
    "EndpointSpec": ("Mode", "Ports"),
    "PortConfig": ("Name", "Protocol", "TargetPort", "PublishedPort", "PublishMode"),
    "Mount": (
        "Type",
        "Source",
        "Target",
        "ReadOnly",
        "Consistency",
        "BindOptions",
        "VolumeOptions",
        "TmpfsOptions",
    ),
    "Task": (
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Name",
        "Labels",
        "Spec",
        "ServiceID",
        "Slot",
        "NodeID",
        "Status",
        "DesiredState",
        "NetworksAttachments",
        "GenericResources",
        "JobIteration",
    ),
    "Node": (
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Spec",
        "Description",
        "Status",
        "ManagerStatus",
    ),
    "NodeSpec": ("Name", "Labels", "Role", "Availability", "Membership"),
    "Cluster": (
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Spec",
        "TLSInfo",
        "RootRotationInProgress",
        "DefaultAddrPool",
        "SubnetSize",
        "DataPathPort",
        "JoinTokens",
    ),
    "ClusterSpec": (
        "Name",
        "Labels",
        "Orchestration",
        "Raft",
        "Dispatcher",
        "CAConfig",
        "TaskDefaults",
        "EncryptionConfig",
    ),
    "Network": ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "DriverState", "IPAMOptions"),
    "NetworkSpec": (
        "Name",
        "Labels",
        "DriverConfiguration",
        "IPv6Enabled",
        "Internal",
        "Attachable",
        "Ingress",
        "IPAMOptions",
        "ConfigFrom",
        "Scope",
    ),
    "Secret": ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec"),
    "SecretSpec": ("Name", "Labels", "Data", "Driver", "Templating"),
}


def ordered(obj: dict, shape: str) -> dict:
    """A copy of ``obj`` (one level) with Docker's field order for ``shape``; other keys last."""
    order = FIELD_ORDER[shape]
    out = {key: obj[key] for key in order if key in obj}
    out.update((key, value) for key, value in obj.items() if key not in out)
    return out


def new_task(
    task_id: str,
    service: dict,
    now: str,
    *,
    slot: int = 0,
    node_id: str = "",
    desired_state: str = "running",
) -> dict:
    """A fresh task of ``service`` in Docker's shape (state ``new``): replicated tasks carry
    a slot, global ones a node. The spec is the service's TaskTemplate at this moment."""
    task = {
        "ID": task_id,
        "Version": {"Index": 0},
        "CreatedAt": now,
        "UpdatedAt": now,
        "Labels": {},
        "Spec": copy.deepcopy(dig(service, "Spec.TaskTemplate", {})),
        "ServiceID": service["ID"],
    }
    if slot:
        task["Slot"] = slot
    if node_id:
        task["NodeID"] = node_id
    task["Status"] = {"Timestamp": now, "State": "new", "Message": "created"}
    task["DesiredState"] = desired_state
    iteration = dig(service, "JobStatus.JobIteration")
    if iteration is not None:
        task["JobIteration"] = dict(iteration)
    return task


def with_status(task: dict, state: str, now: str, message: str = "", **extra) -> dict:
    """A copy of ``task`` moved to ``state`` (raises ValueError on a backward move), ready to
    propose as an update. ``extra`` sets Err, ContainerStatus or PortStatus."""
    old = dig(task, "Status.State") or "new"
    if state != old and not can_transition(old, state):
        raise ValueError(f"invalid task state transition from {old} to {state}")
    updated = dict(task)
    status = {"Timestamp": now, "State": state, "Message": message}
    status.update(extra)
    updated["Status"] = status
    updated["UpdatedAt"] = now
    return updated
