"""Raft's data: log entries, messages, hard state, snapshots, membership.

Everything here is plain data made of ints, bytes, str, lists and dicts once put through
``to_wire``, so a runner can encode it with CBOR and check it strictly on the way back in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# Entry kinds.
ENTRY_NORMAL = 0  # application command
ENTRY_NOOP = 1  # written by a new leader to commit entries of earlier terms
ENTRY_CONF = 2  # membership change, data is a ConfChange

# Message types.
MSG_VOTE = "vote"
MSG_VOTE_RESP = "vote_resp"
MSG_PREVOTE = "prevote"
MSG_PREVOTE_RESP = "prevote_resp"
MSG_APP = "app"
MSG_APP_RESP = "app_resp"
MSG_HEARTBEAT = "heartbeat"
MSG_HEARTBEAT_RESP = "heartbeat_resp"
MSG_SNAP = "snap"
MSG_SNAP_RESP = "snap_resp"
MSG_TIMEOUT_NOW = "timeout_now"
MSG_PROP = "prop"  # proposal forwarded by a follower (termless)
MSG_READ_INDEX = "read_index"  # read request forwarded by a follower (termless)
MSG_READ_INDEX_RESP = "read_index_resp"  # (termless)
MSG_TRANSFER = "transfer"  # leadership transfer request forwarded by a follower (termless)

MESSAGE_TYPES = frozenset(
    {
        MSG_VOTE,
        MSG_VOTE_RESP,
        MSG_PREVOTE,
        MSG_PREVOTE_RESP,
        MSG_APP,
        MSG_APP_RESP,
        MSG_HEARTBEAT,
        MSG_HEARTBEAT_RESP,
        MSG_SNAP,
        MSG_SNAP_RESP,
        MSG_TIMEOUT_NOW,
        MSG_PROP,
        MSG_READ_INDEX,
        MSG_READ_INDEX_RESP,
        MSG_TRANSFER,
    }
)
TERMLESS = frozenset({MSG_PROP, MSG_READ_INDEX, MSG_READ_INDEX_RESP, MSG_TRANSFER})

# Membership change operations.
CONF_ADD_LEARNER = "add_learner"
CONF_PROMOTE = "promote"
CONF_REMOVE = "remove"
CONF_RESET = "reset"  # bootstrap and force-new-cluster: the voters are exactly these
CONF_OPS = frozenset({CONF_ADD_LEARNER, CONF_PROMOTE, CONF_REMOVE, CONF_RESET})


class WireError(ValueError):
    """A message or record from outside does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    kind: int = ENTRY_NORMAL
    data: bytes = b""

    def to_wire(self) -> list:
        return [self.term, self.index, self.kind, self.data]

    @classmethod
    def from_wire(cls, v) -> Entry:
        if not (isinstance(v, list) and len(v) == 4):
            raise WireError("entry must be a list of 4")
        term, index, kind, data = v
        _check_int(term, "entry term")
        _check_int(index, "entry index")
        if kind not in (ENTRY_NORMAL, ENTRY_NOOP, ENTRY_CONF):
            raise WireError("bad entry kind")
        if not isinstance(data, bytes):
            raise WireError("entry data must be bytes")
        return cls(term, index, kind, data)


@dataclass(frozen=True, slots=True)
class Config:
    """Membership: voters count for elections and commits; learners only receive the log."""

    voters: frozenset[str] = frozenset()
    learners: frozenset[str] = frozenset()

    @property
    def members(self) -> frozenset[str]:
        return self.voters | self.learners

    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def to_wire(self) -> dict:
        return {"voters": sorted(self.voters), "learners": sorted(self.learners)}

    @classmethod
    def from_wire(cls, v) -> Config:
        if not isinstance(v, dict) or set(v) != {"voters", "learners"}:
            raise WireError("config must be a dict of voters and learners")
        for k in ("voters", "learners"):
            if not isinstance(v[k], list) or not all(isinstance(x, str) for x in v[k]):
                raise WireError(f"config {k} must be a list of str")
        return cls(frozenset(v["voters"]), frozenset(v["learners"]))


@dataclass(frozen=True, slots=True)
class ConfChange:
    op: str
    node: str = ""
    voters: tuple[str, ...] = ()  # for CONF_RESET
    context: bytes = b""  # opaque to raft (the runner keeps the member's address here)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "op": self.op,
                "node": self.node,
                "voters": list(self.voters),
                "ctx": self.context.hex(),
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        try:
            v = json.loads(data)
            cc = cls(v["op"], v["node"], tuple(v["voters"]), bytes.fromhex(v["ctx"]))
        except (ValueError, KeyError, TypeError) as e:
            raise WireError(f"bad membership change: {e}") from None
        if cc.op not in CONF_OPS:
            raise WireError(f"bad membership change op {cc.op!r}")
        return cc

    def apply(self, cfg: Config) -> Config:
        if self.op == CONF_ADD_LEARNER:
            if self.node in cfg.voters:
                return cfg
            return Config(cfg.voters, cfg.learners | {self.node})
        if self.op == CONF_PROMOTE:
            return Config(cfg.voters | {self.node}, cfg.learners - {self.node})
        if self.op == CONF_REMOVE:
            return Config(cfg.voters - {self.node}, cfg.learners - {self.node})
        return Config(frozenset(self.voters), frozenset())


@dataclass(frozen=True, slots=True)
class HardState:
    term: int = 0
    vote: str | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    index: int = 0
    term: int = 0
    config: Config = field(default_factory=Config)
    data: bytes = b""


# Integer fields of a message, sent only when set.
_INT_FIELDS = ("term", "index", "log_term", "commit", "hint", "snap_index", "snap_term", "offset")


@dataclass(slots=True)
class Message:
    type: str
    frm: str
    to: str
    term: int = 0
    index: int = (
        0  # app: previous index; app_resp: last matching index; read_index_resp: read index
    )
    log_term: int = 0  # app: previous term; vote: last log term; app_resp reject: hint term
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    hint: int = 0  # app_resp reject: the follower's guess of the last matching index
    context: bytes = b""  # heartbeat and read index: read request id; vote: b"transfer"
    snap_index: int = 0
    snap_term: int = 0
    snap_config: Config | None = None
    offset: int = 0
    data: bytes = b""
    done: bool = False

    def to_wire(self) -> dict:
        d: dict = {"type": self.type, "from": self.frm, "to": self.to}
        for name in _INT_FIELDS:
            v = getattr(self, name)
            if v:
                d[name] = v
        for name in ("reject", "done"):
            if getattr(self, name):
                d[name] = True
        for name in ("context", "data"):
            v = getattr(self, name)
            if v:
                d[name] = v
        if self.entries:
            d["entries"] = [e.to_wire() for e in self.entries]
        if self.snap_config is not None:
            d["snap_config"] = self.snap_config.to_wire()
        return d

    @classmethod
    def from_wire(cls, d) -> Message:
        if not isinstance(d, dict):
            raise WireError("message must be a dict")
        unknown = set(d) - _WIRE_FIELDS
        if unknown:
            raise WireError(f"unknown message fields {sorted(unknown)}")
        t = d.get("type")
        if t not in MESSAGE_TYPES:
            raise WireError(f"unknown message type {t!r}")
        frm, to = d.get("from"), d.get("to")
        if not isinstance(frm, str) or not isinstance(to, str):
            raise WireError("message from/to must be str")
        m = cls(t, frm, to)
        for name in _INT_FIELDS:
            if name in d:
                setattr(m, name, _check_int(d[name], name))
        for name in ("reject", "done"):
            if name in d:
                if not isinstance(d[name], bool):
                    raise WireError(f"{name} must be bool")
                setattr(m, name, d[name])
        for name in ("context", "data"):
            if name in d:
                if not isinstance(d[name], bytes):
                    raise WireError(f"{name} must be bytes")
                setattr(m, name, d[name])
        if "entries" in d:
            if not isinstance(d["entries"], list):
                raise WireError("entries must be a list")
            m.entries = [Entry.from_wire(e) for e in d["entries"]]
        if "snap_config" in d:
            m.snap_config = Config.from_wire(d["snap_config"])
        return m


_WIRE_FIELDS = frozenset(
    {
        "type",
        "from",
        "to",
        "term",
        "index",
        "log_term",
        "commit",
        "hint",
        "snap_index",
        "snap_term",
        "offset",
        "reject",
        "done",
        "context",
        "data",
        "entries",
        "snap_config",
    }
)


def _check_int(v, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v >= 2**63:
        raise WireError(f"{what} must be a non-negative int")
    return v
