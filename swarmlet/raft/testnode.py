"""One raft manager process replicating a key-value machine, for tests and benchmarks.

    python -m swarmlet.raft.testnode --id n1 --dir D --raft 127.0.0.1:7001 \\
        --client 127.0.0.1:7101 --peer n2=127.0.0.1:7002 --peer n3=127.0.0.1:7003 \\
        --bootstrap n1,n2,n3

Clients talk CBOR over a websocket on ``--client``: requests ``{"id", "op": "put", "k", "v"}``,
``{"id", "op": "get", "k"}`` (a linearizable read) or ``{"id", "op": "status"}``, answered
by ``{"id", "ok": result}`` or ``{"id", "error": message}``, possibly out of order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys

import trio
from trio_websocket import ConnectionClosed, HandshakeError, serve_websocket

from swarmlet import codec

from .kv import KeyValueMachine
from .runner import RaftRunner, RaftUnavailable, Timing
from .storage import RaftStorage
from .ws_transport import WebsocketTransport


def _hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


def _data_key(directory: str) -> bytes:
    path = os.path.join(directory, "data.key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
            f.flush()
            os.fsync(f.fileno())
    with open(path, "rb") as f:
        return f.read()


async def serve_requests(ws, answer) -> None:
    """Run ``answer(req) -> reply`` for each request on ``ws``, concurrently; replies that are
    ready together leave in one frame (a CBOR list), which saves a syscall per reply."""
    out_send, out_recv = trio.open_memory_channel(math.inf)

    async def writer() -> None:
        async for first in out_recv:
            batch = [first]
            while True:
                try:
                    batch.append(out_recv.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await ws.send_message(codec.encode(batch))
            except ConnectionClosed:
                return

    async def one(req: dict) -> None:
        out_send.send_nowait(await answer(req))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        try:
            while True:
                data = await ws.get_message()
                try:
                    req = codec.decode(data, max_depth=8)
                except ValueError:
                    await ws.aclose(1003, "bad frame")
                    break
                for r in req if isinstance(req, list) else [req]:
                    if isinstance(r, dict):
                        nursery.start_soon(one, r)
        except ConnectionClosed:
            nursery.cancel_scope.cancel()


async def _client_session(runner: RaftRunner, request) -> None:
    ws = await request.accept()

    async def answer(req: dict) -> dict:
        rid = req.get("id")
        try:
            op = req.get("op")
            if op == "put":
                cmd = json.dumps({"op": "put", "k": req["k"], "v": req["v"]}).encode()
                reply = {"id": rid, "ok": await runner.propose(cmd)}
            elif op == "get":
                k = req["k"]
                reply = {"id": rid, "ok": await runner.read(lambda sm: sm.get(k))}
            elif op == "status":
                st = runner.status()
                st["applied_sm"] = runner.applied
                reply = {"id": rid, "ok": st}
            else:
                reply = {"id": rid, "error": f"unknown op {op!r}"}
        except (RaftUnavailable, KeyError) as e:
            reply = {"id": rid, "error": str(e) or type(e).__name__}
        return reply

    await serve_requests(ws, answer)


async def serve(args) -> None:
    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    storage = RaftStorage(os.path.join(args.dir, "raft.db"), _data_key(args.dir))
    host, port = _hostport(args.raft)
    transport = WebsocketTransport(host, port)
    peers = dict(p.split("=", 1) for p in args.peer)
    peers[args.id] = args.raft
    timing = Timing(
        tick=args.tick,
        election_ticks=args.election_ticks,
        request_timeout=args.request_timeout,
        snapshot_every=args.snapshot_every,
    )
    runner = RaftRunner(
        args.id,
        storage,
        transport,
        KeyValueMachine(),
        peers=peers,
        bootstrap=args.bootstrap.split(",") if args.bootstrap else None,
        timing=timing,
    )
    chost, cport = _hostport(args.client)
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        await nursery.start(runner.run)
        await nursery.start(
            lambda task_status: serve_websocket(
                lambda req: _client_session(runner, req),
                chost,
                cport,
                ssl_context=None,
                task_status=task_status,
            )
        )
        print(f"ready {args.id}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m swarmlet.raft.testnode")
    ap.add_argument("--id", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--raft", required=True, help="HOST:PORT for raft messages")
    ap.add_argument("--client", required=True, help="HOST:PORT for clients")
    ap.add_argument("--peer", action="append", default=[], help="ID=HOST:PORT")
    ap.add_argument("--bootstrap", default="", help="comma-separated founding voters")
    ap.add_argument("--tick", type=float, default=0.1)
    ap.add_argument("--election-ticks", type=int, default=5)
    ap.add_argument("--request-timeout", type=float, default=5.0)
    ap.add_argument("--snapshot-every", type=int, default=10_000)
    args = ap.parse_args(argv)
    try:
        trio.run(serve, args)
    except* KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------- test helpers


class ClientError(Exception):
    pass


class Client:
    """Pipelined client of one testnode: many requests in flight on one connection."""

    def __init__(self, ws):
        self.ws = ws
        self._ids = 0
        self._waiting: dict[int, list] = {}
        self._out_send, self._out_recv = trio.open_memory_channel(math.inf)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, address: str):
        from trio_websocket import open_websocket_url

        async with open_websocket_url(f"ws://{address}/", connect_timeout=5) as ws:
            c = cls(ws)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(c._receive)
                nursery.start_soon(c._write)
                try:
                    yield c
                finally:
                    nursery.cancel_scope.cancel()

    async def _receive(self) -> None:
        try:
            while True:
                replies = codec.decode(await self.ws.get_message(), max_size=None)
                for reply in replies if isinstance(replies, list) else [replies]:
                    w = self._waiting.pop(reply.get("id"), None)
                    if w is not None:
                        w[1] = reply
                        w[0].set()
        except ConnectionClosed:
            for w in self._waiting.values():
                w[1] = {"error": "connection closed"}
                w[0].set()

    async def _write(self) -> None:
        """Requests issued together leave in one frame."""
        async for first in self._out_recv:
            batch = [first]
            while True:
                try:
                    batch.append(self._out_recv.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await self.ws.send_message(codec.encode(batch))
            except ConnectionClosed:
                return

    async def call(self, op: str, **kw):
        self._ids += 1
        rid = self._ids
        w = [trio.Event(), None]
        self._waiting[rid] = w
        self._out_send.send_nowait({"id": rid, "op": op, **kw})
        await w[0].wait()
        if "error" in w[1]:
            raise ClientError(w[1]["error"])
        return w[1]["ok"]


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalCluster:
    """Manager processes on loopback, each with its own data dir under ``base``."""

    def __init__(self, base: str, ids: list[str], *extra: str):
        self.base, self.ids, self.extra = base, ids, list(extra)
        ports = free_ports(2 * len(ids))
        self.raft = {i: f"127.0.0.1:{p}" for i, p in zip(ids, ports, strict=False)}
        self.client = {i: f"127.0.0.1:{p}" for i, p in zip(ids, ports[len(ids) :], strict=False)}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, node_id: str) -> None:
        args = [
            sys.executable,
            "-m",
            "swarmlet.raft.testnode",
            "--id",
            node_id,
            "--dir",
            os.path.join(self.base, node_id),
            "--raft",
            self.raft[node_id],
            "--client",
            self.client[node_id],
            "--bootstrap",
            ",".join(self.ids),
            *self.extra,
        ]
        for other in self.ids:
            if other != node_id:
                args += ["--peer", f"{other}={self.raft[other]}"]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=root)
        p = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, text=True)
        line = p.stdout.readline()
        if not line.startswith("ready"):
            p.kill()
            raise RuntimeError(f"{node_id} did not start: {line!r}")
        self.procs[node_id] = p

    def start_all(self) -> None:
        try:
            for i in self.ids:
                self.start(i)
        except BaseException:
            self.stop_all()
            raise

    def kill(self, node_id: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(node_id)
        p.send_signal(sig)
        p.wait()

    def signal(self, node_id: str, sig: int) -> None:
        self.procs[node_id].send_signal(sig)

    def pid(self, node_id: str) -> int:
        return self.procs[node_id].pid

    def stop_all(self) -> None:
        for i in list(self.procs):
            self.kill(i)

    async def status(self, node_id: str) -> dict | None:
        try:
            with trio.fail_after(2):
                async with Client.connect(self.client[node_id]) as c:
                    return await c.call("status")
        except (OSError, trio.TooSlowError, ClientError, HandshakeError, ConnectionClosed):
            return None

    async def leader(self, timeout: float = 10.0) -> str:
        with trio.fail_after(timeout):
            while True:
                for i in list(self.procs):
                    st = await self.status(i)
                    if st and st["role"] == "leader":
                        return i
                await trio.sleep(0.05)
