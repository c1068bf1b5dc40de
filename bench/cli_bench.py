"""CLI start-up and local API round trip: wall time of `swarmlet --help` and of `swarmlet version`
against a running daemon (median of N runs), `docker version` beside it when a Docker engine
answers, and the size of the one file.

    python bench/cli_bench.py [--runs 20] [--bin dist/swarmlet] [--python /usr/bin/python3]

Prints figures; never passes or fails on them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.daemon_process import DaemonProcess  # noqa: E402

TARGET_MS = 150.0


def wall_ms(
    cmd: list[str], env: dict, runs: int, require_success: bool = True
) -> tuple[tuple[float, float] | None, str]:
    """Median wall time and median CPU time (user + system, which a busy machine inflates far
    less) in ms of `cmd` over `runs` runs after one warm-up run; None and the reason when the
    command fails (`--help` is timed whatever its exit code, as long as it prints no
    traceback)."""
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    failed = "Traceback" in first.stderr if not require_success else first.returncode != 0
    if failed:
        reason = (first.stderr or first.stdout).strip().splitlines()
        return None, reason[-1] if reason else f"exit {first.returncode}"
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return (statistics.median(walls), statistics.median(cpus)), ""


def cold_start_ms(cmd: list[str], env: dict) -> float:
    """One `--help` with an empty SHIV_ROOT: unpacking the bundled libraries included."""
    root = tempfile.mkdtemp(prefix="swl-bench-cold-")
    try:
        start = time.perf_counter()
        subprocess.run([*cmd, "--help"], env={**env, "SHIV_ROOT": root}, capture_output=True)
        return (time.perf_counter() - start) * 1000
    finally:
        shutil.rmtree(root, ignore_errors=True)


def api_round_trip_us(host: str, runs: int) -> float:
    from swarmlet.api.client import Client

    client = Client(host)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get("/version")
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        probe = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def fmt(timing: tuple[float, float] | None, why: str = "") -> str:
    if timing is None:
        return f"    n/a ({why})" if why else "    n/a"
    wall, cpu = timing
    return f"{wall:7.1f} ms  (cpu {cpu:5.1f} ms)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--bin", default=os.environ.get("SWARMLET_BIN") or str(ROOT / "dist" / "swarmlet")
    )
    parser.add_argument(
        "--python",
        default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
        help="interpreter that runs the zipapp (what its `/usr/bin/env python3` finds on a host)",
    )
    args = parser.parse_args()
    exe = str(Path(args.bin).resolve())
    if not Path(exe).is_file():
        print(f"no zipapp at {exe}: run build.sh first", file=sys.stderr)
        return 1

    shiv_root = tempfile.mkdtemp(prefix="swl-bench-shiv-")
    env = {**os.environ, "SHIV_ROOT": shiv_root}
    daemon = DaemonProcess()
    try:
        daemon.start()
        env["SWARMLET_HOST"] = daemon.host
        py = args.python
        client_cmd = [py, "-c", "from swarmlet.api.client import Client; Client().get('/version')"]
        rows = [
            ("swarmlet --help (zipapp)", *wall_ms([py, exe, "--help"], env, args.runs, False)),
            (
                "swarmlet version (zipapp, daemon running)",
                *wall_ms([py, exe, "version"], env, args.runs),
            ),
            (
                "python + Client().get('/version') (the stdlib client alone)",
                *wall_ms(client_cmd, {**env, "PYTHONPATH": str(ROOT)}, args.runs),
            ),
            (
                "python -c pass (interpreter start, for scale)",
                *wall_ms([py, "-c", "pass"], env, args.runs),
            ),
        ]
        if docker_engine_answers():
            rows.append(("docker version", *wall_ms(["docker", "version"], os.environ, args.runs)))
        else:
            rows.append(("docker version", None, "no Docker engine answers"))
        round_trip = api_round_trip_us(daemon.host, max(args.runs, 200))
        cold = cold_start_ms([py, exe], env)
    finally:
        daemon.cleanup()
        shutil.rmtree(shiv_root, ignore_errors=True)

    print(
        f"median of {args.runs} runs, wall (cpu = user + system of the process); "
        f"target for the round trip: <= {TARGET_MS:.0f} ms"
    )
    for name, ms, why in rows:
        print(f"  {name:<66} {fmt(ms, why)}")
    print(
        f"  {'GET /version in process (http.client over the socket), median':<66} {round_trip:7.0f} us"
    )
    print(f"  {'first --help with an empty SHIV_ROOT (unpacks the libraries)':<66} {cold:7.1f} ms")
    size = Path(exe).stat().st_size
    print(f"  {'zipapp size':<66} {size / 1e6:7.2f} MB ({size} bytes)")
    version = subprocess.run([args.python, "-V"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    print(f"{args.python} ({version}), {os.cpu_count()} cpus, load average {load:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
