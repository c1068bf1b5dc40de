"""Builders for store commands (CBOR-friendly dicts) and their encoding for raft.

A command is one op or a batch of ops applied all or nothing:

    {"op": "create", "kind": K, "object": OBJ}          OBJ carries ID, CreatedAt, UpdatedAt
    {"op": "update", "kind": K, "object": OBJ}          OBJ.Version.Index = the version read
    {"op": "delete", "kind": K, "id": ID, "version": V} version optional (then no CAS)
    {"op": "batch", "ops": [op, ...]}

The store sets Version.Index of every object it writes to the raft index of the command.
"""

from __future__ import annotations

from . import codec


def create(kind: str, obj: dict) -> dict:
    return {"op": "create", "kind": kind, "object": obj}


def update(kind: str, obj: dict) -> dict:
    """Replace an object; fails with "update out of sequence" unless obj's Version.Index is
    the stored one."""
    return {"op": "update", "kind": kind, "object": obj}


def delete(kind: str, obj_id: str, version: int | None = None) -> dict:
    cmd = {"op": "delete", "kind": kind, "id": obj_id}
    if version is not None:
        cmd["version"] = version
    return cmd


def batch(*ops: dict) -> dict:
    """Several ops applied atomically (nested batches are flattened)."""
    flat: list[dict] = []
    for op in ops:
        if op.get("op") == "batch":
            flat.extend(op["ops"])
        else:
            flat.append(op)
    return {"op": "batch", "ops": flat}


def encode(command: dict) -> bytes:
    """The bytes a raft entry carries."""
    return codec.encode(command)
