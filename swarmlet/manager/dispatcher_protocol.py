"""The messages between a worker's session and the leader's dispatcher, shared by both ends:
the schemas each side checks, and `worker_status`, which fits a status report to them."""

from __future__ import annotations

from swarmlet.manager.dispatcher_core import STATUS_FIELDS, WORKER_STATES
from swarmlet.wire.schema import ANY, Field, Schema

SESSION_ROUTE = "dispatcher.session"
HEARTBEAT_ROUTE = "dispatcher.heartbeat"
STATUS_ROUTE = "dispatcher.status"

MAX_TEXT = 4000  # Message and Err of a status
MAX_UPDATES = 1000  # status reports per request
SESSION_ID = Field(str, min_len=1, max_len=64)
TASK_ID = Field(str, min_len=1, max_len=64)
STATUS = Schema(
    Timestamp=Field(str, optional=True, max_len=64),
    State=Field(str, max_len=20),
    Message=Field(str, optional=True, max_len=MAX_TEXT),
    Err=Field(str, optional=True, max_len=MAX_TEXT),
    ContainerStatus=Field(
        dict, optional=True, max_len=8, values=Field((str, int), max=2**63, max_len=200)
    ),
    PortStatus=Field(dict, optional=True, max_len=4, values=ANY),
)
# What a worker tells about its host when a session starts (Docker's Node.Description).
DESCRIPTION = Schema(
    Hostname=Field(str, optional=True, max_len=255),
    Platform=Field(dict, optional=True, max_len=4, values=Field(str, max_len=64)),
    Resources=Field(dict, optional=True, max_len=4, values=Field(int, min=0, max=2**63)),
    Engine=Field(dict, optional=True, max_len=4),
)
ENGINE = Schema(
    EngineVersion=Field(str, optional=True, max_len=64),
    Labels=Field(dict, optional=True, max_len=256, values=Field(str, max_len=1024)),
)

# worker -> dispatcher
SESSION_REQUEST = Schema(description=Field(dict, optional=True, max_len=8))
HEARTBEAT_REQUEST = Schema(session_id=SESSION_ID)
STATUS_REQUEST = Schema(
    session_id=SESSION_ID,
    updates=Field(list, max_len=MAX_UPDATES, items=Schema(task_id=TASK_ID, status=STATUS)),
)
# dispatcher -> worker
HELLO = Schema(session_id=SESSION_ID, period=Field(float, min=0.01))
ASSIGNMENTS = Schema(
    seq=Field(int, min=1),
    full=Field(bool),
    more=Field(bool),
    updates=Field(list, items=Field(dict)),
    removals=Field(list, items=TASK_ID),
)
HEARTBEAT_REPLY = Schema(period=Field(float, min=0.01))


def worker_status(status: dict) -> dict | None:
    """`status` as a worker reports it (long texts cut, unknown fields left out), or None for
    a state the worker does not own."""
    if status.get("State") not in WORKER_STATES:
        return None
    out = {}
    for key in STATUS_FIELDS:
        value = status.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            value = value[: MAX_TEXT if key in ("Message", "Err") else 64]
        elif key == "ContainerStatus" and isinstance(value, dict):
            value = {
                k: v
                for k, v in value.items()
                if isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
            }
        out[key] = value
    try:
        STATUS.validate(out)
    except ValueError:
        return {k: out[k] for k in ("Timestamp", "State", "Message", "Err") if k in out}
    return out
