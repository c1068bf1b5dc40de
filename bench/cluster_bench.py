"""Cluster-level figures on a lab of real hosts (network namespaces, one dockerd each, the lab
registry): time to 30/30 replicas, time to replace a lost host's tasks, leader failover as the
CLI sees it, and a daemon's idle cost.

    python bench/cluster_bench.py [--only create,engine,paired,hostloss,failover,idle]
                                  [--create-runs 5] [--create-poll 0.25] [--hostloss-runs 10]
                                  [--failover-runs 20] [--idle-seconds 30] [--idle-windows 1]

idle: one manager and one worker of a 1-manager lab, then the leader and a follower of a
3-manager lab, each over --idle-windows windows of --idle-seconds.

`paired` runs the create figure and the engines' own time for the same containers in turns,
and prints the difference within each pair (the machine is shared: its load moves a lot).
The daemons run with SWARMLET_TRACE=1: the create figure is split into the steps of the
manager and of each task on its worker, read from the trace marks in the hosts' logs
(swarmlet/trace.py).

Needs root (the lab). Prints figures; never passes or fails on them. The labs it makes are torn
down on exit, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarmlet import trace  # noqa: E402
from swarmlet.api.client import APIError, Client, DaemonUnreachable  # noqa: E402
from tests.e2e.conftest import LabHandle, swarmlet_argv, swarmlet_env  # noqa: E402

POLL = 0.05
CREATE_POLL = 0.25  # as the CLI's progress display polls (0.2 s)
DEADLINE = 180.0
SERVICE = "bench"


class Timeout(Exception):
    pass


def wait_for(check, timeout: float = DEADLINE, interval: float = POLL):
    """Call check() until it returns a true value; its value, or Timeout at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (APIError, DaemonUnreachable, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout(getattr(check, "__name__", "condition"))
        time.sleep(interval)


def parse_ts(text: str) -> float:
    """RFC 3339 with up to nanoseconds -> epoch seconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    base = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.UTC).timestamp()
    return base + (float("0." + frac) if frac else 0.0)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Bench:
    """A swarm lab plus quick API access to its hosts from this namespace."""

    def __init__(self):
        self.lab: LabHandle | None = None
        self.name = "cb" + secrets.token_hex(3)[:5]

    def up(self, nodes: int, managers: int, workers: int) -> Bench:
        self.lab = LabHandle(self.name, nodes)
        self.form(managers, workers)
        self.service_id = ""
        self.api = {h: Client(self.lab.host(h).swarmlet_host, timeout=10) for h in self.lab.hosts}
        wait_for(lambda: self.ready_count("node1") == managers + workers)
        return self

    def form(self, managers: int, workers: int) -> None:
        """As `lab up --swarm`, but a refused join is retried (and reported): a join right
        after another manager's can be refused while the membership change settles."""
        lab = self.lab
        members = lab.hosts[: managers + workers]
        for h in members:
            lab.start(h)
        lab.swarmlet("node1", "swarm", "init", "--advertise-addr", lab.addr("node1"))
        remote = f"{lab.addr('node1')}:2377"
        for i, h in enumerate(members[1:], start=2):
            role = "manager" if i <= managers else "worker"
            token = lab.swarmlet("node1", "swarm", "join-token", "-q", role).stdout.strip()
            for attempt in range(1, 11):
                res = lab.swarmlet(h, "swarm", "join", "--token", token, remote, check=False)
                if res.returncode == 0:
                    break
                print(f"({h}: join as {role}, attempt {attempt}: {res.stderr.strip()})")
                time.sleep(1.0)
            else:
                raise Timeout(f"{h} could not join")
        self.managers = members[:managers]

    def down(self) -> None:
        """Tear the lab down by name (also one whose `up` failed half-way)."""
        from swarmlet.lab import core

        core.down(self.name, log=lambda *a, **k: None)
        self.lab = None

    def nodes(self, via: str) -> list[dict]:
        return self.api[via].get("/nodes") or []

    def ready_count(self, via: str) -> int:
        return sum(n["Status"]["State"] == "ready" for n in self.nodes(via))

    def node_ids(self, via: str = "node1") -> dict[str, str]:
        return {n["ID"]: n["Description"]["Hostname"] for n in self.nodes(via)}

    def tasks(self, via: str = "node1") -> list[dict]:
        wanted = {"service": {self.service_id: True}}
        return self.api[via].get("/tasks", filters=wanted) or []

    def running(self, via: str = "node1") -> list[dict]:
        return [
            t
            for t in self.tasks(via)
            if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
        ]

    def containers(self, host: str) -> int:
        out = self.lab.docker(
            host, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}"
        ).stdout
        return len(out.split())

    def remove_service(self) -> None:
        self.lab.swarmlet("node1", "service", "rm", SERVICE, check=False)
        wait_for(lambda: all(self.containers(h) == 0 for h in self.lab.hosts), interval=0.3)

    def create_service(self, replicas: int) -> float:
        """`service create -d` through node1's CLI; returns the epoch time it was started."""
        start = time.time()
        self.service_id = self.lab.swarmlet(
            "node1", "service", "create", "-d", "--name", SERVICE, "--replicas", str(replicas),
            "--init", "busybox:latest", "sleep", "100000",
        ).stdout.strip()  # fmt: skip
        return start


def summary(label: str, samples: list[float], unit: str = "s") -> None:
    print(
        f"{label}: median {statistics.median(samples):.2f} {unit}  min {min(samples):.2f}  "
        f"max {max(samples):.2f}  (n={len(samples)})"
    )


def read_marks(b: Bench, since: float) -> list[tuple[str, float, dict[str, str]]]:
    """The daemons' trace marks (swarmlet/trace.py) from `since` on, all hosts together."""
    marks = []
    for h in b.lab.hosts:
        path = Path(b.lab.host(h).swarmlet_data_dir) / "swarmlet.log"
        with open(path, errors="replace") as f:
            for line in f:
                mark = trace.parse(line)
                if mark is not None and mark[1] >= since:
                    marks.append(mark)
    return sorted(marks, key=lambda m: m[1])


# Per task, the way from the leader's scheduling commit to the commit of its running state:
# (phase, mark it starts at, mark it ends at); marks are named as `task_marks` names them.
TASK_PHASES = [
    ("dispatch: assignment committed -> worker has it", "assigned", "received"),
    ("worker: received -> accepted", "received", "accepted"),
    ("worker: accepted -> preparing", "accepted", "preparing"),
    ("docker: image check/pull", "preparing", "image"),
    ("docker: container create", "image", "created"),
    ("worker: created -> start called", "created", "starting"),
    ("docker: container start", "starting", "started"),
    ("worker: started -> running seen", "started", "running"),
    ("report: running -> sent", "running", "sending"),
    ("commit: sent -> committed on leader", "sending", "committed"),
]
TASK_MILESTONES = ["received", "image", "created", "started", "running", "committed"]


def task_marks(marks, task_ids: set[str]) -> dict[str, dict[str, float]]:
    """For each task, the first time of each step (see TASK_PHASES)."""
    out: dict[str, dict[str, float]] = {t: {} for t in task_ids}

    def note(task_id, what, wall):
        if task_id in out:
            out[task_id].setdefault(what, wall)

    assigned = next((w for e, w, _ in marks if e == "tasks.assigned"), None)
    for event, wall, f in marks:
        if event == "assignments.received":
            for t in filter(None, f.get("tasks", "").split(",")):
                note(t, "received", wall)
        elif event == "task.state":
            note(f.get("task"), f.get("state"), wall)
        elif event in ("task.image", "task.created", "task.started"):
            note(f.get("task"), event.split(".")[1], wall)
        elif event in ("statuses.sending", "statuses.committed"):
            for t in filter(None, f.get("running", "").split(",")):
                note(t, event.split(".")[1], wall)
    for steps in out.values():
        if assigned is not None:
            steps["assigned"] = assigned
    return out


def manager_split(marks, start: float) -> dict[str, float]:
    """Offsets from the CLI's start of the manager's steps (first mark of each)."""
    first: dict[str, float] = {}
    for event, wall, f in marks:
        key = event
        if event == "assignments.sent":
            if f.get("n") == "0":
                continue
            first.setdefault("assignments.sent (first node)", wall - start)
            first["assignments.sent (last node)"] = wall - start
            continue
        first.setdefault(key, wall - start)
    return first


MANAGER_STEPS = [
    ("CLI start -> API request received", "service.received"),
    ("-> service committed (raft)", "service.committed"),
    ("-> tasks created and committed (orchestrator)", "tasks.created"),
    ("-> tasks pending and committed (allocator)", "tasks.pending"),
    ("-> tasks assigned and committed (scheduler)", "tasks.assigned"),
    ("-> first assignments sent (dispatcher)", "assignments.sent (first node)"),
    ("-> last node's assignments sent", "assignments.sent (last node)"),
]


class Split:
    """The traced split of the create runs: per run, then medians over the runs."""

    def __init__(self):
        self.manager: dict[str, list[float]] = {}
        self.phases: dict[str, list[float]] = {}
        self.milestones: dict[str, list[tuple[float, float]]] = {}

    def add_run(self, marks, start: float, task_ids: set[str]) -> str:
        for key, value in manager_split(marks, start).items():
            self.manager.setdefault(key, []).append(value)
        steps = task_marks(marks, task_ids)
        parts = []
        for name, a, z in TASK_PHASES:
            d = [s[z] - s[a] for s in steps.values() if a in s and z in s]
            if d:
                self.phases.setdefault(name, []).append(statistics.median(d))
                parts.append(f"{name.split(':')[0]} {statistics.median(d):.2f}")
        for m in TASK_MILESTONES:
            at = [s[m] - start for s in steps.values() if m in s]
            if len(at) == len(task_ids):
                self.milestones.setdefault(m, []).append((min(at), max(at)))
        return "; ".join(parts)

    def print(self) -> None:
        if not self.manager:
            print("(no trace marks found: were the daemons started with SWARMLET_TRACE=1?)")
            return
        print("manager side, offset from the CLI's start (median over runs, min-max):")
        for label, key in MANAGER_STEPS:
            v = self.manager.get(key)
            if v:
                print(f"  {label:50} +{statistics.median(v):.3f} s ({min(v):.3f}-{max(v):.3f})")
        print("per task, duration of each phase (median over tasks, then median over runs):")
        for name, _, _ in TASK_PHASES:
            v = self.phases.get(name)
            if v:
                print(f"  {name:50} {statistics.median(v):.3f} s ({min(v):.3f}-{max(v):.3f})")
        print("all tasks, first / last to reach each step, offset from the CLI's start (medians):")
        for m in TASK_MILESTONES:
            v = self.milestones.get(m)
            if v:
                lo = statistics.median(x for x, _ in v)
                hi = statistics.median(y for _, y in v)
                print(f"  {m:12} first +{lo:.2f} s  last +{hi:.2f} s")


class CreateRuns:
    """`service create --replicas N` to N/N running, one run at a time, with its traced split."""

    def __init__(self, b: Bench, replicas: int = 30, poll: float = CREATE_POLL):
        self.b, self.replicas, self.poll = b, replicas, poll
        self.walls: list[float] = []
        self.traced: list[float] = []
        self.first_run: list[float] = []
        self.all_run: list[float] = []
        self.split = Split()
        print(f"\n== service create --replicas {replicas} -> {replicas}/{replicas} running ==")
        print(f"(the bench polls the manager's task list every {poll * 1000:.0f} ms)")

    def run_once(self, i: int) -> float:
        """One run; its time (traced when the daemons trace, else as the poll saw it)."""
        b, replicas = self.b, self.replicas
        start = b.create_service(replicas)

        def all_running():
            tasks = b.tasks()
            up = [t for t in tasks if t["Status"]["State"] == "running"]
            return tasks if len(up) == replicas else None

        tasks = wait_for(all_running, interval=self.poll)
        wall = time.time() - start
        created = min(parse_ts(t["CreatedAt"]) for t in tasks) - start
        stamps = sorted(parse_ts(t["Status"]["Timestamp"]) - start for t in tasks)
        self.walls.append(wall)
        self.first_run.append(stamps[0])
        self.all_run.append(stamps[-1])
        spread = {}
        names = b.node_ids()
        for t in tasks:
            spread[names.get(t["NodeID"], "?")] = spread.get(names.get(t["NodeID"], "?"), 0) + 1
        time.sleep(trace.FLUSH_SECONDS + 0.3)  # the last marks reach the log files
        marks = read_marks(b, start)
        committed = [w for e, w, f in marks if e == "statuses.committed" and f.get("running")]
        traced = ""
        if committed:
            self.traced.append(max(committed) - start)
            traced = f"{self.traced[-1]:.2f} s traced, "
        print(
            f"run {i + 1}: {traced}{wall:.2f} s seen by the poll (tasks created +{created:.2f} s, "
            f"first running +{stamps[0]:.2f} s, last running +{stamps[-1]:.2f} s; "
            f"{dict(sorted(spread.items()))}; load {loadavg()})"
        )
        per_task = self.split.add_run(marks, start, {t["ID"] for t in tasks})
        if per_task:
            print(f"  traced, median per task (s): {per_task}")
        b.remove_service()
        return self.traced[-1] if committed else wall

    def print_summary(self) -> None:
        if self.traced:
            summary("time to all running (traced: last running state committed)", self.traced)
        summary("time to all running (seen by the poll)", self.walls)
        summary("  first task running (worker's timestamp)", self.first_run)
        summary("  last task running (worker's timestamp)", self.all_run)
        self.split.print()


def bench_create(b: Bench, runs: int, poll: float = CREATE_POLL) -> None:
    create = CreateRuns(b, poll=poll)
    for i in range(runs):
        create.run_once(i)
    create.print_summary()


def bench_hostloss(b: Bench, runs: int, replicas: int = 6, lost: str = "node3") -> None:
    print(f"\n== {lost} cut off -> its tasks running elsewhere ({replicas} replicas) ==")
    samples = []
    for i in range(runs):
        b.create_service(replicas)
        ids = {v: k for k, v in b.node_ids().items()}
        wait_for(lambda: len(b.running()) == replicas)
        on_lost = sum(t["NodeID"] == ids[lost] for t in b.running())
        start = time.time()
        b.lab.partition(lost)

        lost_id = ids[lost]

        def replaced(lost_id=lost_id):
            up = [t for t in b.running() if t["NodeID"] != lost_id]
            return len(up) >= replicas

        wait_for(replaced)
        took = time.time() - start
        samples.append(took)
        b.lab.heal()
        print(f"run {i + 1}: {took:.2f} s ({on_lost} tasks were on {lost}; load {loadavg()})")

        def clean(lost_id=lost_id):
            node = next(n for n in b.nodes("node1") if n["ID"] == lost_id)
            wanted = sum(t["NodeID"] == lost_id for t in b.running())
            return (
                node["Status"]["State"] == "ready"
                and len(b.running()) == replicas
                and b.containers(lost) == wanted
            )

        wait_for(clean, interval=0.3)
        b.remove_service()
    print(
        f"time to replacement running: p50 {pct(samples, 0.5):.2f} s  p90 {pct(samples, 0.9):.2f} s"
        f"  max {max(samples):.2f} s  (n={len(samples)})"
    )


class EngineRuns:
    """The engines' own floor for the create figure: the same 30 containers created and started
    through the docker SDK straight on the three engines, all at once (no swarmlet in the path;
    one thread per container, from this process: no CLI processes competing for the CPU)."""

    def __init__(self, b: Bench, per_host: int = 10):
        import docker

        self.b, self.per_host = b, per_host
        self.clients = {
            h: docker.DockerClient(base_url="unix://" + b.lab.host(h).docker_sock, max_pool_size=32)
            for h in b.lab.hosts
        }
        self.labels = {"com.docker.swarm.service.name": SERVICE}
        self.walls: list[float] = []
        print(f"\n== engines alone: {per_host} containers per host, all hosts at once (SDK) ==")

    def run_once(self, i: int) -> float:
        import concurrent.futures

        jobs = [(h, n) for h in self.b.lab.hosts for n in range(self.per_host)]

        def run(job):
            host, n = job
            self.clients[host].containers.run(
                "busybox:latest", ["sleep", "100000"], detach=True, init=True,
                labels=self.labels, name=f"{SERVICE}{i}x{n}",
            )  # fmt: skip

        start = time.time()
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            list(pool.map(run, jobs))
        self.walls.append(time.time() - start)
        print(f"engines run {i + 1}: {self.walls[-1]:.2f} s for {len(jobs)} containers "
              f"(load {loadavg()})")  # fmt: skip
        for c in self.clients.values():
            for container in c.containers.list(all=True, filters={"label": list(self.labels)}):
                container.remove(force=True)
        return self.walls[-1]

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        summary("engines alone, 30 containers running", self.walls)


def bench_engine(b: Bench, runs: int) -> None:
    engines = EngineRuns(b)
    for i in range(runs):
        engines.run_once(i)
    engines.close()


def bench_paired(b: Bench, runs: int, poll: float = CREATE_POLL) -> None:
    """Create runs and engine runs in turns (which goes first alternates), so that both see the
    same moments of a shared machine; then the difference within each pair."""
    create, engines = CreateRuns(b, poll=poll), EngineRuns(b)
    diffs = []
    for i in range(runs):
        if i % 2:
            e = engines.run_once(i)
            c = create.run_once(i)
        else:
            c = create.run_once(i)
            e = engines.run_once(i)
        diffs.append(c - e)
    print()
    create.print_summary()
    engines.close()
    summary("swarmlet minus engines alone, within each pair", diffs)


def leader_of(b: Bench, via: str) -> str | None:
    for n in b.nodes(via):
        if (n.get("ManagerStatus") or {}).get("Leader"):
            return n["Description"]["Hostname"]
    return None


def bench_failover(b: Bench, runs: int) -> None:
    print("\n== leader SIGKILLed -> first write through another manager's CLI ==")
    samples = []
    for i in range(runs):
        leader = wait_for(lambda: leader_of(b, b.managers[-1]))
        other = next(h for h in b.managers if h != leader)
        target = next(h for h in b.managers if h not in (leader, other))
        attempts = 0
        start = time.time()
        b.lab.kill(leader)
        while True:
            attempts += 1
            res = b.lab.swarmlet(
                other, "node", "update", "--label-add", f"k=v{i}", target, check=False
            )
            if res.returncode == 0:
                break
            if time.time() - start > DEADLINE:
                raise Timeout("write after leader loss")
        took = time.time() - start
        samples.append(took)
        new_leader = leader_of(b, other)
        print(
            f"run {i + 1}: {took:.2f} s ({leader} killed, write through {other}, "
            f"{attempts} CLI attempts, new leader {new_leader}; load {loadavg()})"
        )
        b.lab.start(leader)

        def back(other=other, leader=leader):
            rows = {n["Description"]["Hostname"]: n for n in b.nodes(other)}
            ms = rows[leader].get("ManagerStatus") or {}
            return ms.get("Reachability") == "reachable" and leader_of(b, other)

        try:
            wait_for(back, timeout=90, interval=0.2)
        except Timeout:
            rows = [
                (n["Description"]["Hostname"], n["Status"]["State"], n.get("ManagerStatus"))
                for n in b.nodes(other)
            ]
            print(f"{leader} not back as a reachable manager 90 s after its restart: {rows}")
            print("(trials stopped here)")
            break
    print(
        f"time to first successful write: p50 {pct(samples, 0.5):.2f} s  "
        f"p99 {pct(samples, 0.99):.2f} s  min {min(samples):.2f}  max {max(samples):.2f}  "
        f"(n={len(samples)})"
    )


def cli_round_trips(b: Bench, host: str, runs: int) -> tuple[list[float], list[float]]:
    """`swarmlet node ls` as a user runs it (a fresh interpreter), from this namespace."""
    env = swarmlet_env()
    env["SWARMLET_HOST"] = b.lab.host(host).swarmlet_host
    argv = [*swarmlet_argv(), "node", "ls"]
    samples, cpu = [], []
    for _ in range(runs + 1):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - t0) * 1000)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000)
    return samples[1:], cpu[1:]


def cpu_ticks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def rss_mb(pids: set[int]) -> float:
    kb = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb / 1024


def idle_cost(b: Bench, roles: dict[str, str], seconds: float) -> None:
    """CPU (utime+stime from /proc/PID/stat over the window) and RSS of idle daemons."""
    from swarmlet.lab.faults import daemon_pids

    pids = {role: daemon_pids(b.lab.host(h)) for role, h in roles.items()}
    hz = os.sysconf("SC_CLK_TCK")
    before = {role: cpu_ticks(p) for role, p in pids.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    for role, p in pids.items():
        used = (cpu_ticks(p) - before[role]) / hz
        print(
            f"idle {role} ({roles[role]}, pid {sorted(p)}): {100 * used / elapsed:.2f} % of a core "
            f"over {elapsed:.0f} s, RSS {rss_mb(p):.1f} MB (load {loadavg()})"
        )


def bench_idle_managers(b: Bench, seconds: float, windows: int) -> None:
    print("\n== idle daemons, 3 managers ==")
    leader = wait_for(lambda: leader_of(b, b.managers[0]))
    follower = next(h for h in b.managers if h != leader)
    for _ in range(windows):
        idle_cost(b, {"leader": leader, "follower": follower}, seconds)


def bench_idle(b: Bench, seconds: float, runs: int, windows: int = 1) -> None:
    print("\n== node ls round trip and idle daemons ==")
    rt, cpu = cli_round_trips(b, "node1", runs)
    print(
        f"`swarmlet node ls` on node1 (fresh interpreter, no nsenter): median "
        f"{statistics.median(rt):.0f} ms  min {min(rt):.0f}  max {max(rt):.0f}  (n={runs}); "
        f"its CPU (user+sys) median {statistics.median(cpu):.0f} ms; {' '.join(swarmlet_argv())}"
    )
    t0 = time.perf_counter()
    b.api["node1"].get("/nodes")
    api_ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        b.api["node1"].get("/nodes")
        api_ms.append((time.perf_counter() - t0) * 1000)
    print(f"GET /nodes alone (client in this process): median {statistics.median(api_ms):.1f} ms")
    for _ in range(windows):
        idle_cost(b, {"manager": "node1", "worker": "node2"}, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="create,engine,hostloss,failover,idle")
    parser.add_argument("--create-runs", type=int, default=5)
    parser.add_argument(
        "--create-poll",
        type=float,
        default=CREATE_POLL,
        help="seconds between task list polls in the create runs (the traced figure does not "
        "depend on it; a 50 ms poll takes CPU the engines need)",
    )
    parser.add_argument("--hostloss-runs", type=int, default=10)
    parser.add_argument("--failover-runs", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument(
        "--idle-windows", type=int, default=1, help="idle windows in a row (the machine is shared)"
    )
    parser.add_argument("--cli-runs", type=int, default=20)
    args = parser.parse_args()
    parts = set(args.only.split(","))

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    os.environ["SWARMLET_TRACE"] = "1"  # the daemons the labs start log trace marks
    print(f"load average at start: {loadavg()} ({os.cpu_count()} cores, shared)")
    benches: list[Bench] = []
    try:
        if parts & {"create", "engine", "paired", "hostloss", "idle"}:
            b = Bench()
            benches.append(b)
            b.up(3, 1, 2)
            print(f"lab {b.name}: 1 manager + 2 workers")
            if "idle" in parts:
                bench_idle(b, args.idle_seconds, args.cli_runs, args.idle_windows)
            if "paired" in parts:
                bench_paired(b, args.create_runs, poll=args.create_poll)
            if "create" in parts:
                bench_create(b, args.create_runs, poll=args.create_poll)
            if "engine" in parts:
                bench_engine(b, args.create_runs)
            if "hostloss" in parts:
                bench_hostloss(b, args.hostloss_runs)
            b.down()
        if parts & {"failover", "idle"}:
            b = Bench()
            benches.append(b)
            b.up(3, 3, 0)
            print(f"\nlab {b.name}: 3 managers")
            if "idle" in parts:
                bench_idle_managers(b, args.idle_seconds, args.idle_windows)
            if "failover" in parts:
                bench_failover(b, args.failover_runs)
            b.down()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for b in benches:
            b.down()
    print(f"\nload average at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
