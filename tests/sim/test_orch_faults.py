"""Seeded fault sweeps over the cluster model: whatever happens, once the faults stop every
service converges, and no slot ever has two tasks that are both wanted and running.

`ORCH_SEEDS=2000 pytest tests/sim/test_orch_faults.py` runs a longer sweep; a failure names
its seed, and `ORCH_SEED=N` replays exactly that one.
"""

import os
from collections import Counter

import pytest

from swarmlet.manager.orchestrator.tasks import is_active, state
from tests.sim.orch_sim import Cluster, service_spec

SEEDS = (
    [int(os.environ["ORCH_SEED"])]
    if "ORCH_SEED" in os.environ
    else range(int(os.environ.get("ORCH_SEEDS", "40")))
)


def one_running_per_slot(c: Cluster) -> None:
    for sid, svc in c.services.items():
        if "Replicated" not in svc["Spec"]["Mode"]:
            continue
        slots = Counter(
            t["Slot"] for t in c.service_tasks(sid) if is_active(t) and state(t) == "running"
        )
        assert all(n == 1 for n in slots.values()), (sid, slots)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_faults_then_convergence(seed):
    c = Cluster(seed=seed, nodes=4)
    rng = c.rng
    rep = c.create_service(service_spec("rep", replicas=rng.randint(1, 8)))
    glob = c.create_service(service_spec("glob", replicas=None))
    images = ["busybox:latest", "busybox:v2", "busybox:v3"]
    for _ in range(60):
        roll = rng.random()
        if roll < 0.25:
            running = [t for t in c.tasks.values() if state(t) == "running"]
            if running:
                c.crash_next.add(rng.choice(running)["ID"])
        elif roll < 0.35:
            node = rng.choice(sorted(c.nodes))
            up = c.nodes[node]["Status"]["State"] == "ready"
            c.set_node(node, state="down" if up else "ready")
        elif roll < 0.42:
            node = rng.choice(sorted(c.nodes))
            c.set_node(node, availability=rng.choice(["active", "drain", "pause"]))
        elif roll < 0.52:
            n = rng.randint(0, 9)
            c.update_service(rep, lambda s, n=n: s["Mode"]["Replicated"].update(Replicas=n))
        elif roll < 0.6:
            image = rng.choice(images)
            c.update_service(
                rng.choice([rep, glob]),
                lambda s, i=image: s["TaskTemplate"]["ContainerSpec"].update(Image=i),
            )
        c.run(rng.choice([0.5, 1.0, 3.0, 8.0]), check=one_running_per_slot)
    # faults stop: every node up and active, and the services must converge
    for node in c.nodes:
        c.set_node(node, state="ready", availability="active")
    for sid in (rep, glob):  # an update paused by a crash resumes on the next update, as in Docker
        if (c.services[sid].get("UpdateStatus") or {}).get("State") == "paused":
            c.update_service(sid, lambda s: None)
    deadline = c.now + 180
    while not (c.converged(rep) and c.converged(glob)):
        assert c.now < deadline, f"seed {seed}: no convergence"
        c.step()
        one_running_per_slot(c)
    for sid in (rep, glob):
        assert all(len(ts) <= 5 for ts in _per_instance(c, sid).values())


def _per_instance(c, sid):
    out = {}
    for t in c.service_tasks(sid):
        out.setdefault(t.get("Slot") or t.get("NodeID"), []).append(t)
    return out
