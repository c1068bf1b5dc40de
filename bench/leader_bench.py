"""The leader's services loop on a local store: `service create --replicas N` to N tasks
assigned (and to N running with instant workers that report in batches), on M nodes.

    PYTHONPATH=. python bench/leader_bench.py [--replicas 1000] [--nodes 100] [--services 10]

Prints figures; asserts nothing about time. Commands apply at once (no raft), so this is the
loop's own cost: allocation, orchestration, scheduling and the store's apply.
"""

from __future__ import annotations

import argparse
import itertools
import time

import trio

from swarmlet.manager import controlapi
from swarmlet.manager.context import LocalCluster
from swarmlet.manager.leader import LeaderServices
from swarmlet.store import commands
from swarmlet.store.objects import with_status


async def workers(cluster: LocalCluster) -> None:
    """Every assigned task reports running, in one batch per pass (as the dispatcher
    batches status reports)."""
    ctx = cluster.context()
    while True:
        now = ctx.timestamp()
        ops = [
            commands.update("task", with_status(t, "running", now, "started"))
            for t in cluster.store.tasks_by_state("assigned")
        ]
        if ops:
            await cluster.propose(commands.batch(*ops))
        await trio.sleep(0.002)


async def main(replicas: int, nodes: int, services: int) -> None:
    cluster = LocalCluster()
    ctx = cluster.context()
    ids = itertools.count(1)
    ctx.new_id = lambda: f"id{next(ids):08}"
    for i in range(nodes):
        cmd = controlapi.new_node(
            f"node{i:04}", ctx.timestamp(), f"node{i:04}", "worker", "10.0.0.1"
        )
        cmd["object"]["Status"]["State"] = "ready"
        await cluster.propose(cmd)
    leader = LeaderServices(ctx)
    store = cluster.store
    per_service = replicas // services
    async with trio.open_nursery() as nursery:
        nursery.start_soon(leader.run)
        nursery.start_soon(workers, cluster)
        await trio.sleep(0.05)
        start = time.perf_counter()
        for s in range(services):
            spec = {
                "Name": f"svc{s}",
                "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest"}},
                "Mode": {"Replicated": {"Replicas": per_service}},
            }
            await cluster.propose(
                controlapi.create_service(spec, ctx.timestamp(), ctx.new_id(), store)
            )
        total = per_service * services
        assigned_at = None
        while True:
            running = len(store.tasks_by_state("running"))
            if assigned_at is None and running + len(store.tasks_by_state("assigned")) >= total:
                assigned_at = time.perf_counter()
            if running >= total:
                break
            await trio.sleep(0.001)
        done = time.perf_counter()
        nursery.cancel_scope.cancel()
    print(f"{total} tasks of {services} services on {nodes} nodes")
    print(f"  created to all assigned: {assigned_at - start:.3f} s")
    print(
        f"  created to all running:  {done - start:.3f} s ({total / (done - start):,.0f} tasks/s)"
    )
    print(f"  leader proposals: {leader.proposals}, lost races: {leader.retries}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--services", type=int, default=10)
    args = parser.parse_args()
    trio.run(main, args.replicas, args.nodes, args.services)
