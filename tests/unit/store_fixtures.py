"""Small object builders shared by the store tests."""

from swarmlet.store import commands
from swarmlet.store.commands import encode

T0 = "2026-11-27T18:00:00.000000000Z"


def service(sid: str, name: str, replicas: int = 1) -> dict:
    return {
        "ID": sid,
        "Version": {"Index": 0},
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Spec": {
            "Name": name,
            "Labels": {},
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest"}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    }


def node(nid: str, hostname: str, role: str = "worker") -> dict:
    return {
        "ID": nid,
        "Version": {"Index": 0},
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Spec": {"Labels": {}, "Role": role, "Availability": "active"},
        "Description": {"Hostname": hostname},
        "Status": {"State": "ready", "Addr": "10.0.0.1"},
    }


def task(tid: str, service_id: str, slot: int = 1, node_id: str = "", state: str = "new") -> dict:
    return {
        "ID": tid,
        "Version": {"Index": 0},
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Labels": {},
        "Spec": {"ContainerSpec": {"Image": "busybox:latest"}},
        "ServiceID": service_id,
        "Slot": slot,
        "NodeID": node_id,
        "Status": {"Timestamp": T0, "State": state, "Message": "created"},
        "DesiredState": "running",
    }


def secret(sid: str, name: str) -> dict:
    return {"ID": sid, "Version": {"Index": 0}, "Spec": {"Name": name, "Data": "aGk="}}


def apply(store, index: int, command: dict):
    """Apply through the byte path, as raft does."""
    return store.apply(index, encode(command))


__all__ = ["commands", "service", "node", "task", "secret", "apply"]
