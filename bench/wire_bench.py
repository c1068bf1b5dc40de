"""Wire throughput and latency: one encrypted swarmlet session vs a plain trio-websocket.

Both run on 127.0.0.1 in one process and one trio loop (client and server share the CPU).
The plain connection gets the same websocket settings as swarmlet's (receive buffer, frame
limit), so the difference is the session's own work: CBOR envelopes, schema checks, sealing,
multiplexing. Measurements alternate plain/encrypted in rounds and report medians, because
the machine may be shared.

Prints messages/s for 100-byte messages, MB/s for 64 KiB messages, request/response round
trip p50/p99, and handshake time; then what the parts cost on their own (the websocket
library's framing and masking, the cipher) and the best ratio the encrypted session could reach
if it added nothing but the cipher. `--stages` adds CPU time per 64 KiB message spent in each
stage of both paths (measured in an extra round, after the figures above).

    python bench/wire_bench.py [--rounds N] [--quick] [--profile] [--stages]
"""

from __future__ import annotations

import argparse
import collections
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


async def run_all(rounds, n_small, n_large, n_rr, n_hs, profile, stages):
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
        breakdown = await stage_breakdown(plain, enc, n_large) if stages else None
        nursery.cancel_scope.cancel()
    return results, rr, hs, breakdown


def websocket_cpu(size=LARGE, n=300):
    """wsproto alone (no sockets): a client frames and masks one message, a server parses and
    unmasks it. CPU seconds per message; this is most of what the plain connection costs."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, BytesMessage, Request

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="bench", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())
    data = os.urandom(size)
    t0 = time.process_time()
    for _ in range(n):
        wire = client.send(BytesMessage(data=data))
        parts = []
        for i in range(0, len(wire), RECEIVE_BUFFER):
            server.receive_data(wire[i : i + RECEIVE_BUFFER])
            parts += [e.data for e in server.events()]
        assert sum(map(len, parts)) == size
    return (time.process_time() - t0) / n


class StageTimer:
    """CPU time per named stage, by wrapping the functions that do each stage's work.

    Times are exclusive: a stage nested in another (masking inside a websocket send) counts
    only once, so the stages and "everything else" add up to the process CPU time."""

    def __init__(self):
        self.spent = collections.Counter()
        self._undo = []
        self._nested = []  # CPU time of inner stages, per active outer stage

    def wrap(self, owner, name, stage):
        original = getattr(owner, name)
        spent, clock, nested = self.spent, time.process_time, self._nested

        def timed(*args, **kwargs):
            t0 = clock()
            nested.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = clock() - t0
                spent[stage] += elapsed - nested.pop()
                if nested:
                    nested[-1] += elapsed

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def __enter__(self):
        import wsproto
        import wsproto.frame_protocol

        from swarmlet.security import channel
        from swarmlet.wire import codec, schema

        self.wrap(wsproto.frame_protocol.XorMaskerSimple, "process", "websocket mask + unmask")
        self.wrap(wsproto.WSConnection, "send", "websocket framing (send, unmasked part)")
        self.wrap(channel.FrameSealer, "seal", "seal (XChaCha20-Poly1305)")
        self.wrap(channel.FrameOpener, "open", "open (XChaCha20-Poly1305)")
        self.wrap(codec, "encode", "CBOR encode")
        self.wrap(codec, "decode", "CBOR decode (strict)")
        self.wrap(schema.Schema, "validate", "schema checks")
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


async def stage_breakdown(plain, enc, n):
    """CPU µs per 64 KiB message by stage, for each path."""
    out = {}
    for name, side in (("plain", plain), ("enc", enc)):
        with StageTimer() as timer:
            await side.blast(LARGE, n)
        stages = {k: v / n for k, v in timer.spent.items()}
        stages["total (process CPU)"] = side.cpu_per_message
        out[name] = stages
    return out


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
    ap.add_argument("--stages", action="store_true", help="CPU per 64 KiB message by stage")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    n_small, n_large, n_rr, n_hs = (int(x * scale) for x in (20_000, 1_000, 2_000, 200))
    prof = cProfile.Profile() if args.profile else None
    load_before = os.getloadavg()[0]
    results, rr, hs, breakdown = trio.run(
        run_all, args.rounds, n_small, n_large, n_rr, n_hs, prof, args.stages
    )

    seal_open = crypto_cpu_rate()
    ws_cost = websocket_cpu()
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
    plain_cpu = med(results["large_cpu"]["plain"])
    print(
        f"websocket library alone (wsproto frame+mask, parse+unmask) per 64 KiB: "
        f"{ws_cost * 1e6:.0f} us CPU, {ws_cost / plain_cpu:.0%} of the plain path's CPU"
    )
    print(
        f"ceiling if the session added only the cipher: plain CPU / (plain CPU + seal+open) = "
        f"{plain_cpu / (plain_cpu + seal_open):.0%}"
    )
    if breakdown:
        print(f"CPU us per 64 KiB message by stage{'':6}{'plain ws':>12}{'encrypted':>12}")
        keys = sorted(breakdown["enc"], key=lambda k: (k.startswith("total"), -breakdown["enc"][k]))
        for key in keys:
            a, b = (breakdown[s].get(key, 0.0) * 1e6 for s in ("plain", "enc"))
            print(f"  {key:38}{a:12.1f}{b:12.1f}")
        rest = [
            breakdown[s]["total (process CPU)"]
            - sum(v for k, v in breakdown[s].items() if not k.startswith("total"))
            for s in ("plain", "enc")
        ]
        label = "everything else (tasks, sockets, parsing)"
        print(f"  {label:38}{rest[0] * 1e6:12.1f}{rest[1] * 1e6:12.1f}")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
