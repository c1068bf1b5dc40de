"""Real gossip member processes over real websocket sessions on loopback."""

import signal
import time

import pytest

from swarmlet.gossip.config import DEFAULT, suspicion_min
from swarmlet.gossip.loopback import LoopbackCluster

pytestmark = pytest.mark.e2e

N = 20


def test_killed_member_is_declared_dead_by_every_other():
    with LoopbackCluster(N) as cluster:
        assert cluster.wait(cluster.converged, 60), "members did not all find each other"
        victim = cluster.members[7]
        victim.proc.kill()
        others = cluster.others(victim)
        assert cluster.wait(lambda: all(m.first("dead", victim.id) for m in others), 60)


def test_member_stopped_below_min_suspicion_is_never_declared_dead():
    with LoopbackCluster(N) as cluster:
        assert cluster.wait(cluster.converged, 60), "members did not all find each other"
        victim = cluster.members[5]
        pause = 0.5 * suspicion_min(DEFAULT, N)
        victim.proc.send_signal(signal.SIGSTOP)
        time.sleep(pause)
        victim.proc.send_signal(signal.SIGCONT)
        time.sleep(10)
        others = cluster.others(victim)
        assert not [m.id for m in others if m.first("dead", victim.id)]
        assert victim.proc.poll() is None
