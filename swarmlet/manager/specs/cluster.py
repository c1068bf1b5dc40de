"""Cluster (swarm) specs: defaults for ``swarm init`` and checks for ``swarm update``."""

from __future__ import annotations

import copy

from swarmlet.store.errors import InvalidArgument
from swarmlet.store.objects import ordered

from .common import SECOND, fail, labels, need_map, opt_bool, opt_duration, opt_int

HOUR = 3600 * SECOND
DEFAULT_CERT_EXPIRY = 90 * 24 * HOUR
MIN_CERT_EXPIRY = HOUR
DEFAULT_HEARTBEAT_PERIOD = SECOND  # swarmlet's dispatcher heartbeat (Docker's is 5 s)
DEFAULT_TASK_HISTORY = 5


def default_cluster_spec() -> dict:
    """What ``swarm init`` stores without flags (Docker's fields, swarmlet's timings).

    Raft ticks are swarmlet's 100 ms ticks (``swarmlet.raft.runner.Timing.tick``): heartbeat
    every 2 ticks, election timeout randomized in [5, 10) ticks, the runner's own defaults.
    Every manager's raft follows these two fields as they change.
    """
    return {
        "Name": "default",
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": DEFAULT_TASK_HISTORY},
        "Raft": {
            "SnapshotInterval": 10000,
            "KeepOldSnapshots": 0,
            "LogEntriesForSlowFollowers": 500,
            "ElectionTick": 5,
            "HeartbeatTick": 2,
        },
        "Dispatcher": {"HeartbeatPeriod": DEFAULT_HEARTBEAT_PERIOD},
        "CAConfig": {"NodeCertExpiry": DEFAULT_CERT_EXPIRY},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }


def validate_cluster_spec(spec) -> dict:
    """A checked copy of a ClusterSpec, with swarmkit's error texts."""
    if not isinstance(spec, dict):
        raise InvalidArgument("cluster spec must be an object")
    spec = copy.deepcopy(spec)
    spec["Labels"] = labels(spec.get("Labels"))
    orchestration = need_map(spec.get("Orchestration"), "Orchestration")
    opt_int(orchestration, "TaskHistoryRetentionLimit", "Orchestration", minimum=0)
    raft = need_map(spec.get("Raft"), "Raft")
    for key in ("SnapshotInterval", "KeepOldSnapshots", "LogEntriesForSlowFollowers"):
        opt_int(raft, key, "Raft", minimum=0)
    heartbeat = opt_int(raft, "HeartbeatTick", "Raft", minimum=1)
    election = opt_int(raft, "ElectionTick", "Raft", minimum=1)
    if heartbeat and election and election <= heartbeat:
        fail("Raft.ElectionTick must be greater than Raft.HeartbeatTick")
    dispatcher = need_map(spec.get("Dispatcher"), "Dispatcher")
    opt_duration(
        dispatcher,
        "HeartbeatPeriod",
        "Dispatcher",
        "heartbeat time period cannot be a negative duration",
    )
    ca = need_map(spec.get("CAConfig"), "CAConfig")
    expiry = opt_int(ca, "NodeCertExpiry", "CAConfig")
    if expiry is not None and expiry < MIN_CERT_EXPIRY:
        fail("minimum certificate expiry time is: 1h0m0s")
    encryption = need_map(spec.get("EncryptionConfig"), "EncryptionConfig")
    opt_bool(encryption, "AutoLockManagers", "EncryptionConfig")
    need_map(spec.get("TaskDefaults"), "TaskDefaults")
    return ordered(spec, "ClusterSpec")


AUTO_ACCEPT_VALUES = ("worker", "manager", "none")


def auto_accept_policy(values) -> dict:
    """1.12's ``--auto-accept worker|manager|none`` (repeatable) as {"worker": b, "manager": b}."""
    if isinstance(values, str):
        values = [values]
    policy = {"worker": False, "manager": False}
    for value in values:
        if value not in AUTO_ACCEPT_VALUES:
            fail(f"invalid auto-accept value {value!r}: must be worker, manager or none")
        if value != "none":
            policy[value] = True
    if "none" in values and len(values) > 1:
        fail("auto-accept none cannot be combined with worker or manager")
    return policy
