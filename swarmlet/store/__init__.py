"""Cluster objects, the state machine applied from raft, indexes and watches.

Public surface: ``Store`` (apply/snapshot/restore, lookups, watches), ``commands`` (command
builders), ``objects`` (kinds, task states, accessors), ``errors``.
"""

from . import commands, objects
from .errors import (
    AlreadyExists,
    Ambiguous,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfSequence,
    StoreError,
    Unimplemented,
)
from .state import ApplyResult, ReadView, Store
from .watch import CREATE, REMOVE, RESET, UPDATE, Event, Subscription

__all__ = [
    "AlreadyExists",
    "Ambiguous",
    "ApplyResult",
    "CREATE",
    "Event",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OutOfSequence",
    "REMOVE",
    "RESET",
    "ReadView",
    "Store",
    "StoreError",
    "Subscription",
    "Unimplemented",
    "UPDATE",
    "commands",
    "objects",
]
