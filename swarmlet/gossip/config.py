"""Timing profiles and the formulas that scale them with cluster size.

A profile is plain data so the daemon can load it from cluster settings and the simulator can
sweep it. `LAN` is memberlist's LAN profile, kept as the reference; `DEFAULT` is what swarmlet
ships, tuned in the simulator for small clusters (see docs/benchmarks.md, "Gossip").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    probe_interval: float = 1.0  # seconds between direct probes
    probe_timeout: float = 0.5  # wait for a direct ack before asking others
    probe_window: float = 0.0  # wait for any ack before suspecting (0: until the next probe)
    indirect_checks: int = 3  # members asked to probe on our behalf
    suspicion_mult: float = 4.0  # min suspicion = mult * max(1, log10 n) * probe_interval
    suspicion_max_mult: float = 6.0  # max suspicion = this * min suspicion
    expected_confirmations: int = 2  # Lifeguard k: confirmations that bring max down to min
    retransmit_mult: int = 4  # retransmit limit = mult * ceil(log10(n + 1))
    gossip_interval: float = 0.2
    gossip_nodes: int = 3
    gossip_to_dead: float = 30.0  # keep gossiping to a dead member this long (it may refute)
    push_pull_interval: float = 30.0  # full-state sync, scaled up beyond 32 members
    max_piggyback: int = 16  # updates carried by one message
    awareness_max: int = 8  # Lifeguard LHA: timeouts stretch up to this factor
    lag_threshold: float = 0.25  # event-loop lag (s) that counts as a health miss
    lifeguard: bool = True  # LHA, dynamic suspicion, nacks, buddy system

    def with_(self, **changes) -> Profile:
        return replace(self, **changes)


LAN = Profile()

# Tuned in the simulator for 3-20 members (bench/gossip_bench.py --only default): a dead host
# is known everywhere within ~3.5 s (p99 at n <= 10), while a member frozen for less than the
# minimum suspicion time (1.5 s at n <= 10, 1.95 s at n = 20) refutes in time. A probe that has
# no ack 0.3 s after it was sent (directly or through others) makes its target a suspect; the
# next probe starts 0.5 s after the last one. Probing every 0.3 s found a dead host ~0.2 s
# sooner (p50) but cost an idle daemon most of its CPU: each probe is a ping and an ack on
# every member, and on 2 shared cores one wake-up of a trio daemon costs ~0.2 ms of CPU
# (docs/benchmarks.md, "Idle cost").
# Retransmit multiplier 6: at n <= 20 the log term is 2, and with 4 a refutation was, about
# once an hour of frozen members, missed by one member long enough for a wrong verdict.
DEFAULT = Profile(
    probe_interval=0.5,
    probe_timeout=0.15,
    probe_window=0.3,
    indirect_checks=3,
    suspicion_mult=3.0,
    suspicion_max_mult=3.0,
    expected_confirmations=2,
    retransmit_mult=6,
    gossip_interval=0.1,
    gossip_nodes=3,
    push_pull_interval=15.0,
    lag_threshold=0.1,
)

PROFILES = {"lan": LAN, "default": DEFAULT}


def suspicion_min(profile: Profile, n: int) -> float:
    """Minimum suspicion time for a cluster of n members (memberlist's formula)."""
    return profile.suspicion_mult * max(1.0, math.log10(max(n, 1))) * profile.probe_interval


def suspicion_max(profile: Profile, n: int) -> float:
    return profile.suspicion_max_mult * suspicion_min(profile, n)


def retransmit_limit(profile: Profile, n: int) -> int:
    """How many times one update is sent before it is dropped from the queue."""
    return profile.retransmit_mult * math.ceil(math.log10(n + 1))


def push_pull_period(profile: Profile, n: int) -> float:
    """Push/pull interval, stretched logarithmically beyond 32 members to bound its cost."""
    if n <= 32:
        return profile.push_pull_interval
    return profile.push_pull_interval * (math.ceil(math.log2(n) - math.log2(32)) + 1)
