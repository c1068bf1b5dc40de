"""Scheduler alone: 100,000 tasks of 100 services onto 1,000 simulated nodes, a quarter of
the services with constraints. Prints placements per second and peak memory.

    python bench/sched_bench.py [--nodes 1000] [--services 100] [--tasks 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from swarmlet.sched.scheduler import Scheduler  # noqa: E402

GB = 1024**3


def make_nodes(n: int, rng: random.Random) -> list[dict]:
    zones = ["a", "b", "c", "d"]
    return [
        {
            "ID": f"node{i:05}",
            "Spec": {
                "Role": "manager" if i < 5 else "worker",
                "Availability": "active",
                "Labels": {"zone": zones[i % 4], "disk": rng.choice(["ssd", "hdd"])},
            },
            "Description": {
                "Hostname": f"host{i}",
                "Platform": {"OS": "linux", "Architecture": "x86_64"},
                "Resources": {"NanoCPUs": 64 * 10**9, "MemoryBytes": 256 * GB},
                "Engine": {"Labels": {}},
            },
            "Status": {"State": "ready", "Addr": f"10.{i // 250}.{i % 250}.1"},
        }
        for i in range(n)
    ]


def make_tasks(services: int, total: int) -> list[dict]:
    per = total // services
    tasks = []
    for s in range(services):
        constraints = []
        if s % 4 == 0:
            constraints = ["node.labels.disk==ssd"] if s % 8 == 0 else ["node.labels.zone!=a"]
        spec = {
            "ContainerSpec": {"Image": f"app{s}:1"},
            "Placement": {"Constraints": constraints},
            "Resources": {"Reservations": {"NanoCPUs": 10**7, "MemoryBytes": 16 * 1024**2}},
        }
        for k in range(per):
            tasks.append(
                {
                    "ID": f"t{s}-{k}",
                    "ServiceID": f"svc{s}",
                    "SpecVersion": {"Index": 1},
                    "Spec": spec,
                    "Slot": k + 1,
                    "Status": {"State": "pending"},
                    "DesiredState": "running",
                }
            )
    return tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--memory", action="store_true", help="trace peak memory (slows the run about 2x)"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    nodes = make_nodes(args.nodes, rng)
    tasks = make_tasks(args.services, args.tasks)

    if args.memory:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if args.memory else 0
    s = Scheduler()
    for n in nodes:
        s.upsert_node(n)
    t0 = time.perf_counter()
    result = s.schedule(tasks)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base if args.memory else None
    tracemalloc.stop()

    placed = len(result.assigned)
    per_node = [info.total for info in s.nodes.values()]
    print(f"nodes={args.nodes} services={args.services} tasks={len(tasks)}")
    print(f"placed={placed} unplaced={len(result.unassigned)} in {elapsed:.3f} s")
    print(f"placements/s={placed / elapsed:,.0f}")
    print(f"tasks per node: min={min(per_node)} max={max(per_node)}")
    if peak is not None:
        print(f"scheduler peak memory (tracemalloc, above the input)={peak / 2**20:.1f} MiB")
    print(f"process max RSS={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
