"""A small key-value state machine: what tests and benchmarks replicate with raft.

Commands are JSON objects: ``{"op": "put", "k": key, "v": value}`` or ``{"op": "get", "k":
key}``. A command may carry a client session (``"c"`` client id, ``"s"`` sequence number,
the client issuing one command at a time): a command seen again is answered from the
session instead of being applied twice, so a proposal that the network duplicated or a
client retried is applied exactly once.
"""

from __future__ import annotations

import json


class KeyValueMachine:
    def __init__(self):
        self.data: dict[str, str] = {}
        self.sessions: dict[str, list] = {}  # client -> [last seq, last result]
        self.applied = 0

    def apply(self, index: int, command: bytes):
        self.applied = index
        try:
            cmd = json.loads(command)
            op, key = cmd["op"], cmd["k"]
        except (ValueError, KeyError, TypeError):
            return {"error": "bad command"}
        client, seq = cmd.get("c"), cmd.get("s")
        if client is not None:
            last = self.sessions.get(client)
            if last is not None and seq <= last[0]:
                return last[1] if seq == last[0] else {"error": "stale"}
        if op == "put":
            self.data[key] = cmd["v"]
            result = {"ok": True}
        elif op == "get":
            result = {"value": self.data.get(key)}
        else:
            result = {"error": f"unknown op {op!r}"}
        if client is not None:
            self.sessions[client] = [seq, result]
        return result

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def snapshot(self) -> bytes:
        return json.dumps(
            {"data": self.data, "sessions": self.sessions, "applied": self.applied},
            sort_keys=True,
        ).encode()

    def restore(self, image: bytes) -> None:
        v = json.loads(image) if image else {}
        self.data = dict(v.get("data", {}))
        self.sessions = dict(v.get("sessions", {}))
        self.applied = v.get("applied", 0)
