"""The manager's API routes under load: request round trips through the real server (one
process, http.client over the unix socket, LocalCluster in place of raft) on a seeded store, and
`swarmlet node ls` / `service ls` as a user runs them (a fresh interpreter each time).

    python bench/api_cluster_bench.py [--nodes 100] [--services 100] [--tasks 30] [--runs 200]

Prints figures; never passes or fails on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarmlet.manager import controlapi  # noqa: E402
from swarmlet.store import commands, objects  # noqa: E402
from tests.unit.cluster_api_server import ClusterApiServer  # noqa: E402


def seed(server: ClusterApiServer, nodes: int, services: int, tasks: int) -> None:
    node_ids = [f"n{i:024d}" for i in range(nodes)]
    for i, node_id in enumerate(node_ids):
        server.add_node(node_id, f"host{i:04d}")
    for s in range(services):
        spec = {
            "Name": f"svc{s:04d}",
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
            "Mode": {"Replicated": {"Replicas": tasks}},
        }
        service = server.propose(controlapi.create_service(spec, server.now(), f"s{s:024d}", None))
        batch = []
        for slot in range(1, tasks + 1):
            task = objects.new_task(f"t{s:012d}{slot:012d}", service, server.now(), slot=slot)
            task = objects.with_status(task, "running", server.now(), "started")
            task["NodeID"] = node_ids[(s + slot) % nodes]
            batch.append(commands.create(objects.TASK, task))
        server.propose(commands.batch(*batch))


def timed(fn, runs: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=30, help="tasks per service")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--cli-runs", type=int, default=20)
    args = parser.parse_args()
    with ClusterApiServer() as server:
        server.reset()
        start = time.perf_counter()
        seed(server, args.nodes, args.services, args.tasks)
        print(
            f"seeded {args.nodes} nodes, {args.services} services, "
            f"{args.services * args.tasks} tasks in {time.perf_counter() - start:.1f} s"
        )
        client = server.client()
        web = client.get("/services/svc0000")

        def update():
            current = client.get(f"/services/{web['ID']}")
            client.request(
                "POST",
                f"/services/{web['ID']}/update",
                {"version": current["Version"]["Index"]},
                current["Spec"],
            )

        cases = [
            ("GET /nodes", lambda: client.get("/nodes")),
            ("GET /services?status=true", lambda: client.get("/services", status="true")),
            (
                "GET /tasks (one service)",
                lambda: client.get("/tasks", filters={"service": ["svc0001"]}),
            ),
            ("GET /tasks (one node)", lambda: client.get("/tasks", filters={"node": ["host0001"]})),
            ("GET /services/{id} + POST update (a write)", update),
        ]
        print(f"\n| request (median of {args.runs}) | median | p99 |\n|---|---|---|")
        for name, fn in cases:
            median, p99 = timed(fn, args.runs)
            print(f"| {name} | {median:.2f} ms | {p99:.2f} ms |")
        env = dict(os.environ, SWARMLET_HOST=server.host, PYTHONPATH=str(ROOT))
        print(f"\n| command (fresh interpreter, median of {args.cli_runs}) | median |\n|---|---|")
        for argv in (["node", "ls"], ["service", "ls"]):
            cmd = [sys.executable, "-m", "swarmlet", *argv]

            def run(cmd=cmd):
                subprocess.run(cmd, env=env, capture_output=True, check=True, timeout=60)

            median, _ = timed(run, args.cli_runs)
            print(f"| `swarmlet {' '.join(argv)}` | {median:.0f} ms |")


if __name__ == "__main__":
    main()
