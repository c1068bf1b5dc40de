"""SWIM membership with Lifeguard: sans-I/O core, trio runner, deterministic simulator.

The daemon uses `GossipRunner` (swarmlet.gossip.runner) around the core `Swim`
(swarmlet.gossip.core) and reads `MemberEvent`s from `runner.events`. This package
imports nothing heavy at import time.
"""

from .config import DEFAULT, LAN, PROFILES, Profile
from .core import (
    ALIVE,
    DEAD,
    EV_ALIVE,
    EV_DEAD,
    EV_JOIN,
    EV_LEFT,
    EV_SUSPECT,
    EV_UPDATE,
    LEFT,
    SUSPECT,
    MemberEvent,
    MemberView,
    Send,
    Swim,
)

__all__ = [
    "ALIVE",
    "DEAD",
    "DEFAULT",
    "EV_ALIVE",
    "EV_DEAD",
    "EV_JOIN",
    "EV_LEFT",
    "EV_SUSPECT",
    "EV_UPDATE",
    "LAN",
    "LEFT",
    "PROFILES",
    "SUSPECT",
    "MemberEvent",
    "MemberView",
    "Profile",
    "Send",
    "Swim",
]
