"""Dispatch time alone: tasks written to the store as assigned, until the store shows them all
running, through a real dispatcher, real secure sessions on loopback and real agents (on an
in-memory executor, so no engine time is counted; the store is a LocalCluster, so no raft).

    python bench/dispatcher_bench.py [--runs 5]

Prints, per case, the median time and the number of store commands the status reports took.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarmlet.manager.context import LocalCluster  # noqa: E402
from swarmlet.store import commands  # noqa: E402
from swarmlet.store.objects import TASK  # noqa: E402
from tests.unit.dispatcher_fixtures import ManagerNode, WorkerNode, setup_store  # noqa: E402
from tests.unit.store_fixtures import task  # noqa: E402
from tests.unit.wire_fixtures import TestCluster  # noqa: E402

CASES = ((1, 30), (3, 30), (3, 300), (10, 1000))


async def one_run(workers: int, tasks: int) -> tuple[float, int]:
    cl, cluster = TestCluster(), LocalCluster()
    writes = 0
    plain_propose = cluster.propose

    async def counting_propose(command):
        nonlocal writes
        if command.get("op") in ("update", "batch"):
            writes += 1
        return await plain_propose(command)

    cluster.propose = counting_propose
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        nodes = [WorkerNode(cl.creds("worker"), [mgr.address]) for _ in range(workers)]
        await setup_store(cluster, [w.node_id for w in nodes], period_ns=1_000_000_000)
        for w in nodes:
            await w.start(nursery)
        while any(w.session.session_id is None for w in nodes):
            await trio.sleep(0.01)
        await trio.sleep(0.2)  # node ready writes are done
        writes = 0
        batch = [
            commands.create(
                TASK, task(f"t{i}", "svc1", i + 1, nodes[i % workers].node_id, "assigned")
            )
            for i in range(tasks)
        ]
        start = time.perf_counter()
        await cluster.propose(commands.batch(*batch))
        while len(cluster.store.tasks_by_state("running")) < tasks:
            await trio.sleep(0.002)
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return elapsed, writes - 1


async def main(runs: int) -> None:
    print(f"{'workers':>7} {'tasks':>6} {'median s':>9} {'min s':>7} {'status writes':>14}")
    for workers, tasks in CASES:
        results = [await one_run(workers, tasks) for _ in range(runs)]
        times = [r[0] for r in results]
        print(
            f"{workers:>7} {tasks:>6} {statistics.median(times):>9.3f} {min(times):>7.3f}"
            f" {statistics.median(r[1] for r in results):>14.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    logging.basicConfig(level=logging.ERROR)
    trio.run(main, parser.parse_args().runs)
