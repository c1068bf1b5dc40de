"""Run the raft simulation over many seeds; every failure prints its seed and how to replay it.

python -m tests.sim.raft_sweep --seeds 10000      # seeds 0..9999
python -m tests.sim.raft_sweep --seed 1234 -v     # replay one seed, with its event log
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from .raft_sim import RaftSim


def run_seed(seed: int) -> RaftSim:
    sim = RaftSim(seed)
    sim.run()
    return sim


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.raft_sweep")
    ap.add_argument("--seeds", type=int, default=300, help="run seeds start..start+N-1")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--seed", type=int, help="replay exactly this seed")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the fault log")
    args = ap.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    failed = []
    t0 = time.monotonic()
    for seed in seeds:
        sim = RaftSim(seed)
        try:
            sim.run()
        except AssertionError:
            failed.append(seed)
            print(f"seed {seed} FAILED (replay: python -m tests.sim.raft_sweep --seed {seed} -v)")
            traceback.print_exc()
        if args.verbose:
            print("\n".join(sim.log))
            print(
                f"seed {seed}: {len(sim.history)} client ops, {len(sim.committed)} committed, "
                f"{sim.net.delivered} messages delivered, {sim.net.dropped} dropped"
            )
    n = len(seeds)
    print(f"{n - len(failed)}/{n} seeds passed in {time.monotonic() - t0:.1f}s")
    if failed:
        print("failed seeds:", " ".join(map(str, failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
