"""Store throughput on 100,000 tasks: apply, lookups, snapshot and restore.

Run from the repository root: PYTHONPATH=. python bench/bench_store.py [TASKS]
"""

from __future__ import annotations

import resource
import sys
import time

from swarmlet.store import Store, commands, objects

T0 = "2026-11-27T18:00:00.000000000Z"


def _tid(i: int) -> str:
    """25 characters that spread like random IDs, so short prefixes are unique."""
    return f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}{i:09}"


def _task(i: int, services: int, nodes: int) -> dict:
    return {
        "ID": _tid(i),
        "Version": {"Index": 0},
        "CreatedAt": T0,
        "UpdatedAt": T0,
        "Labels": {},
        "Spec": {"ContainerSpec": {"Image": "busybox:latest"}},
        "ServiceID": f"svc{i % services:022}",
        "Slot": i // services + 1,
        "NodeID": f"node{i % nodes:021}",
        "Status": {"Timestamp": T0, "State": "running", "Message": "started"},
        "DesiredState": "running",
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    services, nodes, per_batch = 100, 1000, 100
    store = Store()
    entries = []
    for start in range(0, n, per_batch):
        ops = [
            commands.create("task", _task(i, services, nodes))
            for i in range(start, min(n, start + per_batch))
        ]
        entries.append(commands.encode(commands.batch(*ops)))
    t = time.perf_counter()
    for index, data in enumerate(entries, 1):
        store.apply(index, data)
    apply_s = time.perf_counter() - t

    t = time.perf_counter()
    index = len(entries)
    for i in range(0, n, max(1, n // 10_000)):
        cur = objects.edit(store.get("task", _tid(i)))
        cur["Status"]["State"] = "failed"
        index += 1
        store.apply(index, commands.encode(commands.update("task", cur)))
    updates = len(range(0, n, max(1, n // 10_000)))
    update_s = time.perf_counter() - t

    t = time.perf_counter()
    for s in range(services):
        store.tasks_by_service(f"svc{s:022}")
    by_service_ms = (time.perf_counter() - t) / services * 1000
    t = time.perf_counter()
    for i in range(1000):
        store.resolve("task", _tid(i * 37 % n)[:12])
    resolve_us = (time.perf_counter() - t) / 1000 * 1e6
    t = time.perf_counter()
    snap = store.snapshot()
    snap_s = time.perf_counter() - t
    t = time.perf_counter()
    Store().restore(snap)
    restore_s = time.perf_counter() - t

    print(f"tasks                      {n}")
    print(f"apply (batches of {per_batch})      {n / apply_s:,.0f} tasks/s ({apply_s:.2f} s)")
    print(f"single-task CAS updates    {updates / update_s:,.0f} commands/s")
    print(f"tasks_by_service (1000)    {by_service_ms:.2f} ms")
    print(f"resolve by ID prefix       {resolve_us:.1f} us")
    print(f"snapshot                   {snap_s:.2f} s, {len(snap) / 1e6:.1f} MB")
    print(f"restore                    {restore_s:.2f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process    {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
