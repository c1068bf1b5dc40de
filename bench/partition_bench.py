"""A manager cut off from the other two, on a lab of 3 managers: how long until the majority
takes a write, until it shows the cut manager Down and Unreachable, how long the cut manager
takes to refuse a write, and how long after `heal` until every manager shows the whole swarm
Ready with one Leader and the rest Reachable. Trials alternate between cutting the leader and
cutting a follower.

    python bench/partition_bench.py [--trials 6]

Needs root (the lab). Prints figures; never passes or fails on them. The lab is torn down on
exit, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import LabHandle, _down_quietly, unique_lab_name  # noqa: E402

DEADLINE = 180.0
FMT = "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"


def rows(lab, host) -> list[str]:
    res = lab.swarmlet(host, "node", "ls", "--format", FMT, check=False, timeout=60)
    return sorted(res.stdout.splitlines()) if res.returncode == 0 else []


def seconds_until(check, since: float) -> float:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(getattr(check, "__name__", "condition"))
        time.sleep(0.1)
    return time.monotonic() - since


def converged(lab) -> bool:
    for host in lab.hosts:
        r = rows(lab, host)
        if [x.split()[1] for x in r] != ["Ready"] * 3:
            return False
        if sorted(x.split()[2] for x in r) != ["Leader", "Reachable", "Reachable"]:
            return False
    return True


def leader(lab) -> str:
    for host in lab.hosts:
        for r in rows(lab, host):
            if r.endswith(" Leader"):
                return r.split()[0]
    raise RuntimeError("no leader")


def trial(lab, n: int) -> dict[str, float]:
    lead = leader(lab)
    cut = lead if n % 2 == 0 else next(h for h in lab.hosts if h != lead)
    majority = [h for h in lab.hosts if h != cut]
    start = time.monotonic()
    lab.partition(cut)
    out = {"cut": cut == lead}

    def majority_writes():
        res = lab.swarmlet(
            majority[0], "node", "update", "--label-add", f"t{n}=1", majority[1],
            check=False, timeout=60,
        )  # fmt: skip
        return res.returncode == 0

    out["majority write"] = seconds_until(majority_writes, start)
    out["cut manager shown Down, Unreachable"] = seconds_until(
        lambda: f"{cut} Down Unreachable" in rows(lab, majority[0]), start
    )
    t = time.monotonic()
    res = lab.swarmlet(cut, "node", "update", "--label-add", "x=y", cut, check=False, timeout=120)
    out["minority write refused"] = time.monotonic() - t
    if res.returncode == 0 or "does not have a leader" not in res.stderr:
        print(f"  trial {n}: unexpected answer on the minority: {res.returncode} {res.stderr}")
    t = time.monotonic()
    lab.heal()
    out["heal -> converged"] = seconds_until(lambda: converged(lab), t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("partition_bench: needs root (it builds a lab)", file=sys.stderr)
        return 1
    name = unique_lab_name()
    try:
        lab = LabHandle(name, 3)
        lab.form_swarm({"node2": "manager", "node3": "manager"})
        seconds_until(lambda: converged(lab), time.monotonic())
        results = []
        for n in range(args.trials):
            r = trial(lab, n)
            load = os.getloadavg()[0]
            print(
                f"trial {n} ({'leader' if r['cut'] else 'follower'} cut, load {load:.1f}): "
                + ", ".join(f"{k} {v:.2f} s" for k, v in r.items() if k != "cut"),
                flush=True,
            )
            results.append(r)
        for key in [k for k in results[0] if k != "cut"]:
            values = [r[key] for r in results]
            print(
                f"{key}: median {statistics.median(values):.2f} s "
                f"({min(values):.2f}-{max(values):.2f}, {len(values)} trials)"
            )
    finally:
        _down_quietly(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
