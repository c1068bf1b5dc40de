"""Raft benchmark: three manager processes on 127.0.0.1 (sqlite with fsync) and pysyncobj under
the same load, side by side. Prints figures; never passes or fails.

    python bench/raft_bench.py [--seq 1000] [--ops 20000] [--inflight 500]
        [--failover 20] [--idle 10] [--no-pysyncobj]

Load: one client process (this one) on one websocket connection per cluster, CBOR requests;
a "put" is acknowledged once committed and applied. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import trio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from swarmlet.raft.testnode import Client, ClientError, LocalCluster, free_ports  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


# --------------------------------------------------------------------------- pysyncobj side


def pysyncobj_node(argv: list[str]) -> None:
    """A pysyncobj ReplDict node answering the same client protocol as swarmlet's testnode."""
    from pysyncobj import SyncObj, SyncObjConf
    from pysyncobj.batteries import ReplDict
    from trio_websocket import serve_websocket

    from swarmlet.raft.testnode import serve_requests

    me, client_port, *others = argv
    d = ReplDict()
    obj = SyncObj(me, others, consumers=[d], conf=SyncObjConf(dynamicMembershipChange=False))

    async def session(request):
        ws = await request.accept()
        token = trio.lowlevel.current_trio_token()

        async def answer(req):
            rid = req["id"]
            if req["op"] == "status":
                reply = {"id": rid, "ok": {"role": "leader" if obj._isLeader() else "follower"}}
            else:
                done = trio.Event()
                box = {}

                def cb(result, err):
                    box["err"] = err
                    token.run_sync_soon(done.set)

                d.set(req["k"], req["v"], callback=cb)
                await done.wait()
                ok = box["err"] == 0
                reply = {"id": rid, "ok": {"ok": True}} if ok else {"id": rid, "error": "failed"}
            return reply

        await serve_requests(ws, answer)

    async def main():
        async with trio.open_nursery() as n:
            await n.start(
                lambda task_status: serve_websocket(
                    session,
                    "127.0.0.1",
                    int(client_port),
                    ssl_context=None,
                    task_status=task_status,
                )
            )
            print("ready", flush=True)

    trio.run(main)


class PysyncobjCluster:
    def __init__(self, n: int = 3):
        self.ids = [f"p{i + 1}" for i in range(n)]
        ports = free_ports(2 * n)
        self.raft = {i: f"127.0.0.1:{p}" for i, p in zip(self.ids, ports, strict=False)}
        self.client = {i: f"127.0.0.1:{p}" for i, p in zip(self.ids, ports[n:], strict=False)}
        self.procs = {}

    def start_all(self) -> None:
        for i in self.ids:
            others = [self.raft[o] for o in self.ids if o != i]
            p = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--pysyncobj-node",
                    self.raft[i],
                    self.client[i].rsplit(":", 1)[1],
                    *others,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert p.stdout.readline().startswith("ready")
            self.procs[i] = p

    def stop_all(self) -> None:
        for p in self.procs.values():
            p.kill()
            p.wait()

    async def leader(self, timeout=20.0) -> str:
        with trio.fail_after(timeout):
            while True:
                for i in self.ids:
                    async with Client.connect(self.client[i]) as c:
                        if (await c.call("status"))["role"] == "leader":
                            return i
                await trio.sleep(0.1)


# --------------------------------------------------------------------------- load


async def warm_up(c: Client, n: int = 50, timeout: float = 30.0) -> None:
    """Writes until n succeed in a row (a fresh cluster may still be settling its leader)."""
    ok = 0
    with trio.fail_after(timeout):
        while ok < n:
            try:
                await c.call("put", k=f"warm{ok}", v="x")
                ok += 1
            except ClientError:
                ok = 0
                await trio.sleep(0.1)


async def sequential(address: str, n: int) -> dict:
    lat = []
    async with Client.connect(address) as c:
        await warm_up(c)
        t0 = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            await c.call("put", k=f"s{i % 100}", v=str(i))
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
    return {"ops_s": n / wall, "p50_ms": pct(lat, 0.5) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3}


async def in_flight(address: str, total: int, window: int) -> dict:
    lat = []
    async with Client.connect(address) as c:
        await warm_up(c)
        counter = iter(range(total))

        async def worker():
            for i in counter:
                t = time.perf_counter()
                await c.call("put", k=f"f{i % 1000}", v=str(i))
                lat.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        async with trio.open_nursery() as n:
            for _ in range(window):
                n.start_soon(worker)
        wall = time.perf_counter() - t0
    return {"ops_s": total / wall, "p50_ms": pct(lat, 0.5) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3}


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def idle(pids: list[int], seconds: float) -> dict:
    await trio.sleep(2)
    before = [proc_cpu_seconds(p) for p in pids]
    await trio.sleep(seconds)
    cpu = [(proc_cpu_seconds(p) - b) / seconds * 100 for p, b in zip(pids, before, strict=True)]
    return {"cpu_pct_max": max(cpu), "rss_mb_max": max(proc_rss_mb(p) for p in pids)}


async def failover(cluster: LocalCluster, trials: int) -> dict:
    times = []
    for t in range(trials):
        ld = await cluster.leader(timeout=20)
        # Make sure everyone is caught up and settled before killing.
        async with Client.connect(cluster.client[ld]) as c:
            await c.call("put", k="pre", v=str(t))
        await trio.sleep(0.5)
        cluster.kill(ld)
        t0 = time.perf_counter()
        others = [i for i in cluster.ids if i != ld]
        done = False
        while not done:
            for node in others:
                with trio.move_on_after(0.15):
                    try:
                        async with Client.connect(cluster.client[node]) as c:
                            await c.call("put", k="failover", v=str(t))
                            done = True
                            break
                    except (ClientError, OSError):
                        await trio.sleep(0.01)
        times.append(time.perf_counter() - t0)
        cluster.start(ld)
        await trio.sleep(1.0)
    return {
        "trials": trials,
        "p50_s": pct(times, 0.5),
        "p99_s": pct(times, 0.99),
        "max_s": max(times),
        "mean_s": statistics.mean(times),
    }


def fmt(d: dict) -> str:
    return "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def disk_commit_latency(base: str, n: int = 200) -> dict:
    """What one durable sqlite transaction (WAL, synchronous=FULL) costs on this disk: the
    floor under any write latency here."""
    import sqlite3

    db = sqlite3.connect(os.path.join(base, "fsync.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    lat = []
    for i in range(n):
        t = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i % 10, b"x" * 100))
        db.execute("COMMIT")
        lat.append(time.perf_counter() - t)
    db.close()
    return {"p50_ms": pct(lat, 0.5) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3}


async def bench(args) -> None:
    results = {}
    with tempfile.TemporaryDirectory(prefix="raftbench-") as base:
        results["disk commit (sqlite)"] = disk_commit_latency(base)
        c = LocalCluster(base, ["n1", "n2", "n3"])
        c.start_all()
        try:
            ld = await c.leader(timeout=20)
            results["swarmlet sequential"] = await sequential(c.client[ld], args.seq)
            results["swarmlet in-flight"] = await in_flight(c.client[ld], args.ops, args.inflight)
            results["swarmlet idle"] = await idle([c.pid(i) for i in c.ids], args.idle)
            if args.failover:
                results["swarmlet failover"] = await failover(c, args.failover)
        finally:
            c.stop_all()
    if not args.no_pysyncobj:
        p = PysyncobjCluster()
        p.start_all()
        try:
            ld = await p.leader()
            results["pysyncobj sequential"] = await sequential(p.client[ld], args.seq)
            results["pysyncobj in-flight"] = await in_flight(p.client[ld], args.ops, args.inflight)
            results["pysyncobj idle"] = await idle([x.pid for x in p.procs.values()], args.idle)
        finally:
            p.stop_all()
    for name, r in results.items():
        print(f"{name:24s} {fmt(r)}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--pysyncobj-node":
        pysyncobj_node(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, default=1000)
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--inflight", type=int, default=500)
    ap.add_argument("--failover", type=int, default=20)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--no-pysyncobj", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    trio.run(bench, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
