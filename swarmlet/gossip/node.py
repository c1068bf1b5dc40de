"""A gossip member as a process of its own, for loopback tests and measurements.

    python -m swarmlet.gossip.node --id n1 --listen 127.0.0.1:7001 [--join 127.0.0.1:7000]

Prints one JSON line per membership event: {"t": seconds, "kind": ..., "id": ..., "inc": ...},
after a first line {"ready": "<listen address>"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m swarmlet.gossip.node")
    ap.add_argument("--id", required=True)
    ap.add_argument("--listen", required=True, help="host:port (port 0 picks one)")
    ap.add_argument("--join", action="append", default=[], help="seed address (repeatable)")
    ap.add_argument("--profile", default="default", choices=["default", "lan"])
    ap.add_argument("--role", default="worker")
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"bad --listen address: {args.listen!r}", file=sys.stderr)
        return 2

    import trio

    from .config import PROFILES
    from .runner import GossipRunner
    from .ws_transport import WebSocketTransport

    def emit(obj):
        print(json.dumps(obj), flush=True)

    async def amain():
        async with trio.open_nursery() as nursery:
            transport = await nursery.start(WebSocketTransport(host, int(port)).run)
            addr = f"{host}:{transport.port}"
            runner = GossipRunner(
                args.id, addr, {"role": args.role}, PROFILES[args.profile], transport
            )
            await nursery.start(runner.run)
            if args.join:
                runner.join(args.join)
            emit({"ready": addr})
            async for ev in runner.events:
                emit({"t": time.time(), "kind": ev.kind, "id": ev.node_id, "inc": ev.incarnation})

    try:
        trio.run(amain)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
