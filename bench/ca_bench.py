"""Root CA rotation on a lab of real hosts: how long `swarmlet swarm ca --rotate -q` takes to
return (every live node re-issued a certificate under the new root, the old root dropped, the
join tokens regenerated), on a swarm of one manager and two workers.

    python bench/ca_bench.py [--runs 10] [--nodes 3]

Needs root (the lab). Prints figures; never passes or fails on them. The lab is torn down on
exit, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import LabHandle, eventually  # noqa: E402


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    lab = LabHandle("ca" + secrets.token_hex(3)[:5], args.nodes)
    try:
        lab.form_swarm(dict.fromkeys(lab.hosts[1:], "worker"))
        eventually(lambda: lab.swarmlet("node1", "node", "ls").stdout.count("Ready") == args.nodes)
        samples = []
        for run in range(args.runs):
            load = loadavg()
            start = time.monotonic()
            lab.swarmlet("node1", "swarm", "ca", "--rotate", "-q", timeout=300)
            took = time.monotonic() - start
            swarm = json.loads(lab.swarmlet("node1", "swarm", "inspect").stdout)[0]
            assert not swarm["RootRotationInProgress"]
            samples.append(took)
            print(f"run {run + 1}: {took:.2f} s (load {load})", flush=True)
        samples.sort()
        print(
            f"swarm ca --rotate -q, {args.nodes} nodes, {args.runs} runs: "
            f"median {statistics.median(samples):.2f} s, "
            f"min {samples[0]:.2f} s, max {samples[-1]:.2f} s"
        )
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
