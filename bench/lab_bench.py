"""Wall time of `lab up --nodes N` and `lab down` (median, min, max of several runs).

Run as root from the repository root:  python bench/lab_bench.py [--runs 5] [--nodes 3]
Times the same functions the `swarmlet lab up` / `lab down` commands call, in this process
(the command adds only its interpreter start). Prints figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()

    from swarmlet.lab import core

    quiet = lambda *a, **k: None  # noqa: E731
    ups, downs = [], []
    for i in range(args.runs):
        name = "bench" + secrets.token_hex(1)
        t0 = time.monotonic()
        try:
            core.up(name, args.nodes, log=quiet)
            t1 = time.monotonic()
        finally:
            t2 = time.monotonic()
            core.down(name, log=quiet)
            t3 = time.monotonic()
        ups.append(t1 - t0)
        downs.append(t3 - t2)
        print(f"run {i + 1}: up {ups[-1]:.2f} s, down {downs[-1]:.2f} s", flush=True)

    def figs(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"

    print(f"lab up --nodes {args.nodes}: {figs(ups)}")
    print(f"lab down:            {figs(downs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
