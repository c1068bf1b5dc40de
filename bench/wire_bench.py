"""Wire throughput and latency: one encrypted swarmlet session vs a plain trio-websocket.

Both run on 127.0.0.1 in one process and one trio loop (client and server share the CPU).
The plain connection gets the same websocket settings as swarmlet's (receive buffer, frame
limit), so the difference is the session's own work: CBOR envelopes, schema checks, sealing,
multiplexing. Measurements alternate plain/encrypted in rounds and report medians, because
the machine may be shared.

Prints messages/s for 100-byte messages, MB/s for 64 KiB messages, request/response round
trip p50/p99, and handshake time.

    /work/venv/bin/python bench/wire_bench.py [--rounds N] [--quick] [--profile]
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
from swarmlet.wire.endpoint import RECEIVE_BUFFER, RECEIVE_QUEUE, dial  # noqa: E402
from swarmlet.wire.mux import Router  # noqa: E402
from swarmlet.wire.peers import Transport  # noqa: E402
from swarmlet.wire.schema import Field, Schema  # noqa: E402
from swarmlet.wire.session import MAX_FRAME, Credentials  # noqa: E402

SMALL, LARGE = 100, 64 * 1024
WS_OPTIONS = {
    "max_message_size": MAX_FRAME,
    "message_queue_size": RECEIVE_QUEUE,
    "receive_buffer_size": RECEIVE_BUFFER,
}


def creds(root, role):
    ident = NodeIdentity.generate()
    cert = root.issue(ident.node_id, role, ident.public_key, time.time())
    return Credentials(ident, cert, root.public_key)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


class Encrypted:
    """A swarmlet Transport pair and its connection."""

    async def start(self, nursery):
        root = ClusterRoot.generate()
        self.received = 0
        router = Router()

        async def on_sink(peer, body):
            self.received += 1

        async def on_count(peer, body):
            return {"n": self.received}

        async def on_echo(peer, body):
            return body

        router.message("sink", Schema(d=Field(bytes, max_len=LARGE)), on_sink)
        router.request("count", Schema(), on_count)
        router.request("echo", Schema(d=Field(bytes, max_len=LARGE)), on_echo)
        server = Transport(creds(root, "manager"), router, listen=("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{await nursery.start(server.run)}"
        self.client = Transport(creds(root, "worker"), Router())
        await nursery.start(self.client.run)
        self.conn = await self.client.connection(self.addr)
        self.nursery = nursery

    async def blast(self, size, n):
        body = {"d": os.urandom(size)}
        self.received = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            await self.conn.send("sink", body)
        got = await self.conn.request("count", {}, timeout=300)
        dt = time.perf_counter() - t0
        assert got["n"] == n, got
        self.cpu_per_message = (time.process_time() - c0) / n
        return n / dt

    async def round_trips(self, n):
        body = {"d": os.urandom(SMALL)}
        rtts = []
        for _ in range(n):
            t0 = time.perf_counter()
            await self.conn.request("echo", body)
            rtts.append(time.perf_counter() - t0)
        return rtts

    async def handshakes(self, n):
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            session = await dial(self.nursery, self.addr, self.client.creds)
            out.append(time.perf_counter() - t0)
            await session.aclose()
        return out


class Plain:
    """A plain trio-websocket pair: raw bytes, no envelope, no crypto."""

    async def start(self, nursery):
        self.received = 0

        async def handler(request):
            ws = await request.accept()
            try:
                while True:
                    msg = await ws.get_message()
                    if msg == b"count":
                        await ws.send_message(str(self.received).encode())
                    elif msg[:1] == b"E":
                        await ws.send_message(msg)
                    else:
                        self.received += 1
            except trio_websocket.ConnectionClosed:
                pass

        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                handler, "127.0.0.1", 0, None, task_status=task_status, **WS_OPTIONS
            )
        )
        self.ws = await trio_websocket.connect_websocket(
            nursery, "127.0.0.1", server.port, "/", use_ssl=False, **WS_OPTIONS
        )

    async def blast(self, size, n):
        data = b"D" + os.urandom(size - 1)
        self.received = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            await self.ws.send_message(data)
        await self.ws.send_message(b"count")
        got = int(await self.ws.get_message())
        dt = time.perf_counter() - t0
        assert got == n, got
        self.cpu_per_message = (time.process_time() - c0) / n
        return n / dt

    async def round_trips(self, n):
        data = b"E" + os.urandom(SMALL - 1)
        rtts = []
        for _ in range(n):
            t0 = time.perf_counter()
            await self.ws.send_message(data)
            await self.ws.get_message()
            rtts.append(time.perf_counter() - t0)
        return rtts


async def run_all(rounds, n_small, n_large, n_rr, n_hs, profile):
    results = {k: {"plain": [], "enc": []} for k in ("small", "large", "small_cpu", "large_cpu")}
    rr = {"plain": [], "enc": []}
    async with trio.open_nursery() as nursery:
        plain, enc = Plain(), Encrypted()
        await plain.start(nursery)
        await enc.start(nursery)
        for _ in range(rounds):
            for name, side in (("plain", plain), ("enc", enc)):
                if profile and name == "enc":
                    profile.enable()
                results["small"][name].append(await side.blast(SMALL, n_small))
                results["small_cpu"][name].append(side.cpu_per_message)
                results["large"][name].append(await side.blast(LARGE, n_large))
                results["large_cpu"][name].append(side.cpu_per_message)
                rr[name] += await side.round_trips(n_rr)
                if profile and name == "enc":
                    profile.disable()
        hs = await enc.handshakes(n_hs)
        nursery.cancel_scope.cancel()
    return results, rr, hs


def crypto_cpu_rate(size=LARGE, n=300):
    """XChaCha20-Poly1305 seal+open of one `size` message, CPU seconds (not wall: shared machine)."""
    from swarmlet.security.channel import FrameOpener, FrameSealer

    key, data = os.urandom(32), os.urandom(size)
    sealer, opener = FrameSealer(key), FrameOpener(key)
    t0 = time.process_time()
    for _ in range(n):
        opener.open(sealer.seal(data))
    return (time.process_time() - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer iterations per round")
    ap.add_argument("--profile", action="store_true", help="print a profile of the encrypted side")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    n_small, n_large, n_rr, n_hs = (int(x * scale) for x in (20_000, 1_000, 2_000, 200))
    prof = cProfile.Profile() if args.profile else None
    load_before = os.getloadavg()[0]
    results, rr, hs = trio.run(run_all, args.rounds, n_small, n_large, n_rr, n_hs, prof)

    seal_open = crypto_cpu_rate()
    mb = LARGE / 1e6
    med = statistics.median
    print(
        f"cpus: {os.cpu_count()}, load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}"
    )
    print(
        f"rounds: {args.rounds} (medians shown; per round: {n_small} small, {n_large} large, {n_rr} round trips)"
    )
    print(f"{'':28}{'plain ws':>12}{'encrypted':>12}{'ratio':>8}")
    s, lg = results["small"], results["large"]
    print(
        f"{'100 B messages/s':28}{med(s['plain']):12.0f}{med(s['enc']):12.0f}{med(s['enc']) / med(s['plain']):8.0%}"
    )
    print(
        f"{'64 KiB MB/s':28}{med(lg['plain']) * mb:12.1f}{med(lg['enc']) * mb:12.1f}"
        f"{med(lg['enc']) / med(lg['plain']):8.0%}"
    )
    for key, label in (
        ("small_cpu", "CPU us per 100 B message"),
        ("large_cpu", "CPU us per 64 KiB message"),
    ):
        a, b = med(results[key]["plain"]) * 1e6, med(results[key]["enc"]) * 1e6
        print(f"{label:28}{a:12.1f}{b:12.1f}{a / b:8.0%}")
    for p, label in ((0.5, "p50"), (0.99, "p99")):
        a, b = percentile(rr["plain"], p) * 1e3, percentile(rr["enc"], p) * 1e3
        print(f"{'round trip ' + label + ' ms':28}{a:12.3f}{b:12.3f}")
    print(
        f"{'handshake p50 / p99 ms':28}{'':12}{percentile(hs, 0.5) * 1e3:7.2f} / {percentile(hs, 0.99) * 1e3:.2f}"
    )
    print("per-round 64 KiB MB/s plain:", " ".join(f"{x * mb:.0f}" for x in lg["plain"]))
    print("per-round 64 KiB MB/s enc:  ", " ".join(f"{x * mb:.0f}" for x in lg["enc"]))
    print(
        f"seal+open of one 64 KiB frame: {seal_open * 1e6:.0f} us CPU "
        f"({2 * mb / seal_open:.0f} MB/s of XChaCha20-Poly1305 per core)"
    )
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
