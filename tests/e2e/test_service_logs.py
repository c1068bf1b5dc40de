"""`service logs` on real hosts: the lines of every task, wherever it runs, read through a
manager that is not the leader, with Docker's prefixes; --tail, --since, --no-task-ids, -t, a
task ID, Docker's own CLI reading the same API, stderr kept apart, -f that shows new lines and
stops on ^C (the workers stop reading), and a task on a lost node reported, not waited for."""

import os
import queue
import re
import signal
import subprocess
import threading

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 3
SERVICE = "chatty"
# each task says hello once on stdout and once on stderr, then ticks every second
COMMAND = (
    "echo hello-$HOSTNAME; echo oops-$HOSTNAME >&2; "
    "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"
)
PREFIX = re.compile(r"^(chatty)\.(\d)\.([0-9a-z]{12})@(node\d)    \| (.*)$")


@pytest.fixture(scope="module")
def swarm(lab):
    lab.form_swarm({"node2": "manager", "node3": "worker"})
    eventually(lambda: lab.swarmlet("node1", "node", "ls").stdout.count("Ready") == 3)
    lab.swarmlet("node1", "service", "create", "-d", "--name", SERVICE, "--replicas", "3",
                 "--replicas-max-per-node", "1", "busybox:latest", "sh", "-c", COMMAND)  # fmt: skip

    def spread():
        out = lab.swarmlet("node1", "service", "ps", SERVICE, "--no-trunc", "--format",
                           "{{.ID}} {{.Name}} {{.Node}} {{.CurrentState}}").stdout  # fmt: skip
        rows = [r.split() for r in out.splitlines() if " Running " in f" {r} "]
        assert len(rows) == 3, out
        # task ID -> (name `svc.slot`, node); --no-trunc names end with the task ID
        return {r[0]: (r[1].removesuffix("." + r[0]), r[2]) for r in rows}

    lab.tasks = eventually(spread)
    assert {node for _, node in lab.tasks.values()} == {"node1", "node2", "node3"}
    return lab


def logs(lab, *args, host="node2", timeout=60):
    """`service logs` through node2, a manager that is not the leader."""
    return lab.swarmlet(host, "service", "logs", *args, timeout=timeout)


def by_task(lab, text):
    """Prefixed lines grouped by task ID, checking each prefix against `service ps`."""
    found = {}
    for line in text.splitlines():
        match = PREFIX.match(line)
        assert match, f"no prefix on {line!r}"
        _, slot, short, node, rest = match.groups()
        (task_id,) = [t for t in lab.tasks if t.startswith(short)]
        name, where = lab.tasks[task_id]
        assert (name, node) == (f"{SERVICE}.{slot}", where)
        found.setdefault(task_id, []).append(rest)
    return found


def test_logs_show_every_task_with_docker_prefix_stdout_and_stderr_apart(swarm):
    lab = swarm

    def ticking():
        res = logs(lab, SERVICE)
        out = by_task(lab, res.stdout)
        assert set(out) == set(lab.tasks) and all(len(v) >= 3 for v in out.values()), res.stdout
        return res

    res = eventually(ticking)
    out, err = by_task(lab, res.stdout), by_task(lab, res.stderr)
    for task_id, lines in out.items():
        assert lines[0].startswith("hello-") and lines[1] == "tick 0"
        assert not any(line.startswith("oops") for line in lines)
        assert [line.split("-")[0] for line in err[task_id]] == ["oops"]


def test_tail_gives_the_last_lines_of_each_task(swarm):
    res = logs(swarm, "--tail", "1", SERVICE)
    out = by_task(swarm, res.stdout)
    assert sorted(out) == sorted(swarm.tasks)
    assert all(len(lines) == 1 and lines[0].startswith("tick ") for lines in out.values())
    assert res.stderr == ""

    def ticked_six_times():
        last = by_task(swarm, logs(swarm, "--tail", "1", SERVICE).stdout)
        return all(int(lines[-1].split()[1]) >= 6 for lines in last.values())

    eventually(ticked_six_times)
    res = logs(swarm, "--since", "3s", SERVICE)  # the hellos are older than that
    out = by_task(swarm, res.stdout)
    assert sorted(out) == sorted(swarm.tasks)
    assert all(line.startswith("tick ") for lines in out.values() for line in lines)
    assert all(len(lines) <= 6 for lines in out.values()), res.stdout


def test_dockers_own_cli_reads_the_same_stream(swarm):
    docker = swarm.exec("node2", "sh", "-c",
                        f"DOCKER_HOST=$SWARMLET_HOST docker service logs --tail 1 {SERVICE}")  # fmt: skip
    out = by_task(swarm, docker.stdout)
    assert sorted(out) == sorted(swarm.tasks)
    assert all(len(lines) == 1 and lines[0].startswith("tick ") for lines in out.values())


def test_no_task_ids_and_timestamps(swarm):
    res = logs(swarm, "--no-task-ids", "--tail", "2", SERVICE, host="node1")  # the leader
    assert {line.split("    | ")[0] for line in res.stdout.splitlines()} == {
        f"{name}@{node}" for name, node in swarm.tasks.values()
    }
    res = logs(swarm, "-t", "--tail", "1", SERVICE)
    for line in res.stdout.splitlines():
        stamp, rest = line.split(" ", 1)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), line
        assert PREFIX.match(rest), line


def test_logs_of_one_task_by_id(swarm):
    task_id, (name, node) = sorted(swarm.tasks.items())[0]
    res = logs(swarm, task_id[:12])
    assert set(by_task(swarm, res.stdout)) == {task_id}
    assert f"{name}.{task_id[:12]}@{node}    | hello-" in res.stdout


def test_follow_shows_new_lines_and_stops_on_interrupt(swarm):
    lab = swarm
    argv, env = lab.argv("node2", "swarmlet", "service", "logs", "-f", "--tail", "1", SERVICE)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(b) for b in proc.stdout], daemon=True).start()
    first, later = {}, {}
    try:

        def every_task_ticked_again():
            while not lines.empty():
                match = PREFIX.match(lines.get().decode().rstrip("\n"))
                assert match, "a line without prefix"
                if not match.group(5).startswith("tick "):
                    continue
                tick = int(match.group(5).split()[1])
                first.setdefault(match.group(3), tick)
                if tick > first[match.group(3)]:
                    later[match.group(3)] = tick
            return len(later) == 3

        eventually(every_task_ticked_again, timeout=30)
        assert proc.poll() is None  # following: it has not ended by itself
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 130
    assert {t[:12] for t in lab.tasks} == set(later)

    def workers_stopped_reading():
        for host in ("node1", "node3"):  # tasks read over the wire, not by node2 itself
            path = os.path.join(lab.host(host).swarmlet_data_dir, "swarmlet.log")
            with open(path) as f:
                assert "stopped reading the logs of task" in f.read(), host
        return True

    eventually(workers_stopped_reading, timeout=30)


def test_task_on_a_lost_node_is_reported_not_waited_for(swarm):
    lab = swarm
    (lost,) = [t for t, (_, node) in lab.tasks.items() if node == "node3"]
    alive = {t[:12] for t, (_, node) in lab.tasks.items() if node != "node3"}
    reported = (
        f"Error grabbing logs: task {lab.tasks[lost][0]}.{lost} on node node3 is not available: "
    )
    argv, env = lab.argv("node1", "swarmlet", "service", "logs", "-f", "--tail", "1", SERVICE)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: queue.Queue = queue.Queue()
    err: list[str] = []
    threading.Thread(target=lambda: [out.put(b) for b in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [err.append(b.decode()) for b in proc.stderr],
                     daemon=True).start()  # fmt: skip
    try:
        eventually(lambda: out.qsize() >= 3, timeout=30)  # following all three tasks
        lab.partition("node3")  # its session may linger: the swarm marking it down ends it
        eventually(lambda: any(line.startswith(reported) for line in err), timeout=60)
        while not out.empty():
            out.get()
        ticking = set()

        def others_still_ticking():
            while not out.empty():
                ticking.add(PREFIX.match(out.get().decode()).group(3))
            return ticking == alive

        eventually(others_still_ticking, timeout=30)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    # asked again while the node is down: reported at once, the others shown
    res = logs(lab, SERVICE, host="node1", timeout=60)
    assert f"{reported}it is down" in res.stderr
    assert alive == {PREFIX.match(line).group(3) for line in res.stdout.splitlines()}
    lab.heal()
