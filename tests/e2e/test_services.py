"""Services on real hosts (a lab of three engines and the lab registry): the walkthrough's
flow (create, ls, scale, update, image rollout, mounts, rm) and failure handling (a killed
container, a lost host, drain, constraints, failing updates, worker restarts, jobs)."""

import collections

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 4  # node4 stays outside the swarm until a test joins it


@pytest.fixture(scope="module")
def swarm(lab):
    lab.token = lab.form_swarm()["worker"]
    lab.start("node4")  # outside the swarm until a test joins it
    eventually(lambda: sw(lab, "node", "ls").count("Ready") == 3)
    return lab


def sw(lab, *args, check=True):
    res = lab.swarmlet("node1", *args, check=check)
    return res.stdout if check else res


def running(lab, service):
    """{task name: node} of the service's tasks that are wanted and running."""
    out = sw(lab, "service", "ps", service, "--filter", "desired-state=running",
             "--format", "{{.Name}} {{.Node}} {{.CurrentState}}")  # fmt: skip
    rows = [line.split() for line in out.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) > 2 and r[2] == "Running"}


def replicas(lab, service):
    return sw(
        lab, "service", "ls", "--filter", f"name={service}", "--format", "{{.Replicas}}"
    ).strip()


def containers(lab, service):
    """Containers of the service on every host, as (host, container ID)."""
    found = []
    for host in lab.hosts:
        out = lab.docker(
            host, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}"
        )
        found += [(host, cid) for cid in out.stdout.split()]
    return found


def test_walkthrough_create_scale_update_rollout_rm(swarm):
    lab = swarm
    out = sw(lab, "service", "create", "-d", "--name", "web", "--replicas", "2", "-p", "80:80",
             "--init", "busybox:latest", "httpd", "-f", "-p", "80", "-h", "/")  # fmt: skip
    assert len(out.strip()) == 25
    eventually(lambda: replicas(lab, "web") == "2/2")
    assert "*:80->80/tcp" in sw(lab, "service", "ls")
    sw(lab, "service", "scale", "-d", "web=10")
    eventually(lambda: replicas(lab, "web") == "10/10")
    assert set(running(lab, "web").values()) == {"node1", "node2", "node3"}
    sw(lab, "service", "scale", "-d", "web=2")
    eventually(lambda: len(running(lab, "web")) == 2 and len(containers(lab, "web")) == 2)
    sw(lab, "service", "update", "-d", "--replicas", "3", "web")
    eventually(lambda: replicas(lab, "web") == "3/3")
    sw(lab, "service", "update", "-d", "--image", "busybox:v2", "web")

    def rolled_out():
        assert (
            sw(lab, "service", "inspect", "web", "--format", "{{.UpdateStatus.State}}").strip()
            == "completed"
        )
        return True

    eventually(rolled_out, timeout=120)
    host, cid = containers(lab, "web")[0]
    assert lab.docker(host, "exec", cid, "cat", "/VERSION").stdout.strip() == "2"
    history = sw(lab, "service", "ps", "web")
    assert "\\_ web." in history  # the replaced tasks are kept under their slot
    sw(lab, "service", "rm", "web")
    eventually(
        lambda: (
            containers(lab, "web") == []
            and all(
                lab.docker(
                    h, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name=web"
                ).stdout
                == ""
                for h in lab.hosts
            )
        )
    )


def test_bind_and_volume_mounts_are_visible_in_the_containers(swarm):
    lab = swarm
    for host in lab.hosts:
        lab.exec(host, "sh", "-c", "mkdir -p /tmp/swl-bind && echo from-host > /tmp/swl-bind/f")
    sw(lab, "service", "create", "-d", "--name", "mnt", "--replicas", "3", "--init",
       "--mount", "type=bind,source=/tmp/swl-bind,target=/data",
       "--mount", "type=volume,source=swlvol,target=/vol",
       "busybox:latest", "sh", "-c", "echo hi > /vol/x && sleep 100000")  # fmt: skip
    eventually(lambda: replicas(lab, "mnt") == "3/3")
    for host, cid in containers(lab, "mnt"):
        assert lab.docker(host, "exec", cid, "cat", "/data/f").stdout.strip() == "from-host"
        assert lab.docker(host, "exec", cid, "cat", "/vol/x").stdout.strip() == "hi"
        assert "swlvol" in lab.docker(host, "volume", "ls", "-q").stdout
    sw(lab, "service", "rm", "mnt")
    eventually(lambda: containers(lab, "mnt") == [])


def test_killed_container_is_replaced(swarm):
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "crash", "--replicas", "2", "--init",
       "--restart-delay", "1s", "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: replicas(lab, "crash") == "2/2")
    host, cid = containers(lab, "crash")[0]
    lab.docker(host, "kill", cid)
    eventually(lambda: replicas(lab, "crash") == "2/2" and cid not in dict(
        (c, h) for h, c in containers(lab, "crash")))  # fmt: skip
    assert "Failed" in sw(lab, "service", "ps", "crash")
    sw(lab, "service", "rm", "crash")


def test_constraint_and_drain_and_lost_host(swarm):
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "mgr", "--replicas", "2", "--init",
       "--constraint", "node.role==manager", "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: replicas(lab, "mgr") == "2/2")
    assert set(running(lab, "mgr").values()) == {"node1"}
    sw(lab, "service", "create", "-d", "--name", "spread", "--replicas", "6", "--init",
       "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: replicas(lab, "spread") == "6/6")
    sw(lab, "node", "update", "--availability", "drain", "node2")
    eventually(
        lambda: len(running(lab, "spread")) == 6 and "node2" not in running(lab, "spread").values()
    )
    sw(lab, "node", "update", "--availability", "active", "node2")
    assert "node3" in running(lab, "spread").values()
    lab.partition("node3")
    try:
        eventually(
            lambda: (
                len(running(lab, "spread")) == 6 and "node3" not in running(lab, "spread").values()
            )
        )
        assert "Down" in sw(lab, "node", "ls", "--filter", "name=node3")
    finally:
        lab.heal()
    eventually(lambda: "Down" not in sw(lab, "node", "ls"))
    sw(lab, "service", "rm", "mgr", "spread")


def test_failing_update_pauses_or_rolls_back(swarm):
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "upd", "--replicas", "2", "--init",
       "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: replicas(lab, "upd") == "2/2")
    sw(lab, "service", "update", "-d", "--image", "busybox:missing", "upd")
    eventually(
        lambda: (
            sw(lab, "service", "inspect", "upd", "--format", "{{.UpdateStatus.State}}").strip()
            == "paused"
        )
    )
    sw(lab, "service", "create", "-d", "--name", "rb", "--replicas", "2", "--init",
       "--update-failure-action", "rollback", "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: replicas(lab, "rb") == "2/2")
    sw(lab, "service", "update", "-d", "--args", "sh -c 'exit 1'", "rb")

    def rolled_back():
        state = sw(lab, "service", "inspect", "rb", "--format", "{{.UpdateStatus.State}}").strip()
        assert state == "rollback_completed"
        return replicas(lab, "rb") == "2/2"

    eventually(rolled_back, timeout=120)
    sw(lab, "service", "rm", "upd", "rb")


def test_worker_restart_makes_no_duplicates(swarm):
    """A restarted daemon adopts its running containers by label. The only manager is down
    meanwhile, so no one can declare node2 down and move its tasks elsewhere (which a slow
    restart would rightly cause): the service must come back on the very same containers."""
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "steady", "--replicas", "3", "--init",
       "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: sorted(running(lab, "steady").values()) == ["node1", "node2", "node3"])
    before = sorted(cid for _, cid in containers(lab, "steady"))
    lab.kill("node1")
    try:
        lab.kill("node2")
        lab.start("node2")
        assert sorted(cid for _, cid in containers(lab, "steady")) == before
    finally:
        lab.start("node1")
    eventually(
        lambda: sw(lab, "node", "ls").count("Ready") == 3 and replicas(lab, "steady") == "3/3"
    )
    assert sorted(cid for _, cid in containers(lab, "steady")) == before
    sw(lab, "service", "rm", "steady")


def test_global_service_and_replicated_job(swarm):
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "glob", "--mode", "global", "--init",
       "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: sorted(running(lab, "glob").values()) == ["node1", "node2", "node3"])
    sw(lab, "service", "create", "-d", "--name", "job", "--mode", "replicated-job",
       "--replicas", "4", "--max-concurrent", "2", "busybox:latest", "true")  # fmt: skip

    def completed():
        states = collections.Counter(
            sw(lab, "service", "ps", "job", "--format", "{{.CurrentState}}").split()
        )
        return states["Complete"] == 4

    eventually(completed, timeout=120)
    sw(lab, "service", "rm", "glob", "job")


def test_without_detach_progress_is_shown_until_converged(swarm):
    lab = swarm
    out = sw(lab, "service", "create", "--name", "prog", "--replicas", "3", "--init",
             "--update-monitor", "1s", "busybox:latest", "sleep", "100000")  # fmt: skip
    assert "overall progress: 3 out of 3 tasks" in out
    assert "verify: Service converged" in out
    failed = sw(lab, "service", "update", "--image", "busybox:missing", "prog", check=False)
    assert failed.returncode == 1 and "update paused" in failed.stderr
    sw(lab, "service", "rm", "prog")


def test_workers_keep_their_tasks_while_every_manager_is_down(swarm):
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "keep", "--replicas", "4", "--init",
       "--constraint", "node.role==worker", "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: replicas(lab, "keep") == "4/4")
    before = sorted(cid for _, cid in containers(lab, "keep"))
    lab.kill("node1")  # the only manager
    try:
        for _ in range(3):  # the workers' containers stay up while no manager answers
            lab.exec("node2", "sleep", "1")
            assert sorted(cid for _, cid in containers(lab, "keep")) == before
    finally:
        lab.start("node1")
    eventually(lambda: replicas(lab, "keep") == "4/4")
    assert sorted(cid for _, cid in containers(lab, "keep")) == before  # no duplicates
    sw(lab, "service", "rm", "keep")


def test_global_service_follows_a_node_that_joins(swarm):
    lab = swarm
    sw(lab, "service", "create", "-d", "--name", "every", "--mode", "global", "--init",
       "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: sorted(running(lab, "every").values()) == ["node1", "node2", "node3"])
    lab.swarmlet("node4", "swarm", "join", "--token", lab.token, f"{lab.addr('node1')}:2377")
    eventually(
        lambda: sorted(running(lab, "every").values()) == ["node1", "node2", "node3", "node4"]
    )
    sw(lab, "service", "rm", "every")
