"""Throughput of `service logs` on a 3-host lab: a task on the worker host writes N lines, and
a manager reads them all through the wire (and, for comparison, `docker logs` on the task's
own host reads them straight from its engine).

Run as root from the repository root after `bash build.sh`:
    python bench/logs_bench.py [--lines 100000] [--runs 3]
Prints figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed_lines(lab, host: str, *cmd: str) -> tuple[float, int, int]:
    """Seconds, lines and bytes of one command's stdout."""
    argv, env = lab.argv(host, *cmd)
    t0 = time.monotonic()
    out = subprocess.run(argv, env=env, capture_output=True, check=True).stdout
    return time.monotonic() - t0, out.count(b"\n"), len(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from tests.e2e.conftest import LabHandle, _down_quietly, unique_lab_name

    name = unique_lab_name()
    try:
        lab = LabHandle(name, 3)
        lab.form_swarm()
        script = (
            f"i=0; while [ $i -lt {args.lines} ]; do "
            "echo line $i of a log that is about eighty characters long, like many are; "
            "i=$((i+1)); done; echo done; sleep 100000"
        )
        lab.swarmlet("node1", "service", "create", "-d", "--name", "talker",
                     "--constraint", "node.hostname==node3", "busybox:latest",
                     "sh", "-c", script)  # fmt: skip
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            tail = lab.swarmlet("node1", "service", "logs", "--raw", "--tail", "1", "talker",
                                check=False).stdout  # fmt: skip
            if tail.strip() == "done":
                break
            time.sleep(1)
        else:
            print("the task did not finish writing its lines in time")
            return 1
        cid = lab.docker("node3", "ps", "-q", "--filter", "name=talker").stdout.split()[0]
        rows = {"service logs (node1, task on node3)": [], "docker logs (node3, its engine)": []}
        size = 0
        for _ in range(args.runs):
            secs, lines, size = timed_lines(lab, "node1", "swarmlet", "service", "logs", "talker")
            assert lines == args.lines + 1, lines
            rows["service logs (node1, task on node3)"].append(secs)
            secs, lines, _ = timed_lines(lab, "node3", "docker", "logs", cid)
            rows["docker logs (node3, its engine)"].append(secs)
        print(f"{args.lines + 1} lines, {size / 1e6:.1f} MB as `service logs` prints them")
        for what, secs in rows.items():
            med = statistics.median(secs)
            print(
                f"{what}: median {med:.2f} s ({(args.lines + 1) / med:,.0f} lines/s; "
                f"min {min(secs):.2f}, max {max(secs):.2f})"
            )
    finally:
        _down_quietly(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
