"""Wire throughput and latency: one encrypted swarmlet session vs a plain trio-websocket.

Both run on 127.0.0.1 in one process and one trio loop (client and server share the CPU),
in the same run. Prints messages/s for 100-byte messages, MB/s for 64 KiB messages,
request/response round trip p50/p99, and handshake time.

    /work/venv/bin/python bench/wire_bench.py [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time

import trio
import trio_websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from swarmlet.security.certs import ClusterRoot  # noqa: E402
from swarmlet.security.identity import NodeIdentity  # noqa: E402
from swarmlet.wire.endpoint import dial  # noqa: E402
from swarmlet.wire.mux import Router  # noqa: E402
from swarmlet.wire.peers import Transport  # noqa: E402
from swarmlet.wire.schema import Field, Schema  # noqa: E402
from swarmlet.wire.session import Credentials  # noqa: E402

SMALL, LARGE = 100, 64 * 1024


def creds(root, role):
    ident = NodeIdentity.generate()
    cert = root.issue(ident.node_id, role, ident.public_key, time.time())
    return Credentials(ident, cert, root.public_key)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def bench_encrypted(n_small, n_large, n_rr, n_hs):
    root = ClusterRoot.generate()
    received = {"n": 0}
    router = Router()

    async def on_sink(peer, body):
        received["n"] += 1

    async def on_count(peer, body):
        return {"n": received["n"]}

    async def on_echo(peer, body):
        return body

    router.message("sink", Schema(d=Field(bytes, max_len=LARGE)), on_sink)
    router.request("count", Schema(), on_count)
    router.request("echo", Schema(d=Field(bytes, max_len=LARGE)), on_echo)
    out = {}
    async with trio.open_nursery() as nursery:
        server = Transport(creds(root, "manager"), router, listen=("127.0.0.1", 0))
        port = await nursery.start(server.run)
        addr = f"127.0.0.1:{port}"
        client = Transport(creds(root, "worker"), Router())
        await nursery.start(client.run)
        conn = await client.connection(addr)

        for name, size, n in (("small", SMALL, n_small), ("large", LARGE, n_large)):
            body = {"d": os.urandom(size)}
            received["n"] = 0
            t0 = time.perf_counter()
            for _ in range(n):
                await conn.send("sink", body)
            got = await conn.request("count", {}, timeout=120)
            dt = time.perf_counter() - t0
            assert got["n"] == n, got
            out[name] = n / dt

        body = {"d": os.urandom(SMALL)}
        rtts = []
        for _ in range(n_rr):
            t0 = time.perf_counter()
            await conn.request("echo", body)
            rtts.append(time.perf_counter() - t0)
        out["rr"] = rtts

        hs = []
        for _ in range(n_hs):
            t0 = time.perf_counter()
            session = await dial(nursery, addr, client.creds)
            hs.append(time.perf_counter() - t0)
            await session.aclose()
        out["handshake"] = hs
        nursery.cancel_scope.cancel()
    return out


async def bench_plain(n_small, n_large, n_rr):
    state = {"n": 0}

    async def handler(request):
        ws = await request.accept()
        try:
            while True:
                msg = await ws.get_message()
                if msg == b"count":
                    await ws.send_message(str(state["n"]).encode())
                elif msg[:1] == b"E":
                    await ws.send_message(msg)
                else:
                    state["n"] += 1
        except trio_websocket.ConnectionClosed:
            pass

    out = {}
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                handler, "127.0.0.1", 0, None, max_message_size=1 << 20, task_status=task_status
            )
        )
        async with trio_websocket.open_websocket_url(
            f"ws://127.0.0.1:{server.port}/", max_message_size=1 << 20
        ) as ws:
            for name, size, n in (("small", SMALL, n_small), ("large", LARGE, n_large)):
                data = b"D" + os.urandom(size - 1)
                state["n"] = 0
                t0 = time.perf_counter()
                for _ in range(n):
                    await ws.send_message(data)
                await ws.send_message(b"count")
                got = int(await ws.get_message())
                dt = time.perf_counter() - t0
                assert got == n, got
                out[name] = n / dt
            data = b"E" + os.urandom(SMALL - 1)
            rtts = []
            for _ in range(n_rr):
                t0 = time.perf_counter()
                await ws.send_message(data)
                await ws.get_message()
                rtts.append(time.perf_counter() - t0)
            out["rr"] = rtts
        nursery.cancel_scope.cancel()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--profile", action="store_true", help="print a profile of the encrypted run")
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    n_small, n_large, n_rr, n_hs = (int(x * scale) for x in (50_000, 3_000, 5_000, 200))

    plain = trio.run(bench_plain, n_small, n_large, n_rr)
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    enc = trio.run(bench_encrypted, n_small, n_large, n_rr, n_hs)
    if prof:
        prof.disable()

    mb = LARGE / 1e6
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print(f"{'':28}{'plain ws':>12}{'encrypted':>12}{'ratio':>8}")
    print(
        f"{'100 B messages/s':28}{plain['small']:12.0f}{enc['small']:12.0f}{enc['small'] / plain['small']:8.0%}"
    )
    print(
        f"{'64 KiB MB/s':28}{plain['large'] * mb:12.1f}{enc['large'] * mb:12.1f}"
        f"{enc['large'] / plain['large']:8.0%}"
    )
    for p, label in ((0.5, "p50"), (0.99, "p99")):
        a, b = percentile(plain["rr"], p) * 1e3, percentile(enc["rr"], p) * 1e3
        print(f"{'round trip ' + label + ' ms':28}{a:12.3f}{b:12.3f}")
    hs = enc["handshake"]
    print(
        f"{'handshake p50 / p99 ms':28}{'':12}{percentile(hs, 0.5) * 1e3:7.2f} / {percentile(hs, 0.99) * 1e3:.2f}"
    )
    print(
        f"(mean rr: plain {statistics.mean(plain['rr']) * 1e3:.3f} ms, encrypted {statistics.mean(enc['rr']) * 1e3:.3f} ms)"
    )
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
