"""Swarm membership on real hosts: init, join as worker and as manager, node ls, repeated
init/join refused, a worker's refusal of manager commands, and a restarted daemon rejoining
from its data dir."""

import re

import pytest

pytestmark = pytest.mark.e2e

LAB_NODES = 4


@pytest.fixture(scope="module")
def swarm(lab):
    for host in ("node1", "node2", "node3"):
        lab.start(host)
    out = lab.swarmlet("node1", "swarm", "init", "--advertise-addr", lab.addr("node1")).stdout
    assert "Swarm initialized: current node (" in out
    assert "swarmlet swarm join --token SWMTKN-1-" in out
    worker = lab.swarmlet("node1", "swarm", "join-token", "-q", "worker").stdout.strip()
    manager = lab.swarmlet("node1", "swarm", "join-token", "-q", "manager").stdout.strip()
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", worker)
    remote = f"{lab.addr('node1')}:2377"
    out = lab.swarmlet("node2", "swarm", "join", "--token", worker, remote).stdout
    assert out.strip() == "This node joined a swarm as a worker."
    out = lab.swarmlet("node3", "swarm", "join", "--token", manager, remote).stdout
    assert out.strip() == "This node joined a swarm as a manager."
    return {"worker": worker, "manager": manager, "remote": remote}


def node_rows(lab, host):
    out = lab.swarmlet(
        host, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"
    )
    return sorted(out.stdout.split("\n")[:-1])


def test_node_ls_shows_every_node_with_one_leader(lab, swarm):
    rows = node_rows(lab, "node1")
    assert rows == ["node1 Ready Leader", "node2 Ready ", "node3 Ready Reachable"]
    assert node_rows(lab, "node3") == rows  # any manager answers the same


def test_init_and_join_again_are_refused_and_change_nothing(lab, swarm):
    again = lab.swarmlet("node1", "swarm", "init", check=False)
    assert again.returncode != 0
    assert "already part of a swarm" in again.stderr
    rejoin = lab.swarmlet(
        "node2", "swarm", "join", "--token", swarm["worker"], swarm["remote"], check=False
    )
    assert rejoin.returncode != 0 and "already part of a swarm" in rejoin.stderr
    assert len(node_rows(lab, "node1")) == 3


def test_worker_refuses_manager_commands_with_dockers_message(lab, swarm):
    res = lab.swarmlet("node2", "node", "ls", check=False)
    assert res.returncode == 1
    assert "This node is not a swarm manager. Worker nodes can't be used" in res.stderr


def test_bad_token_is_refused_with_advice(lab, swarm):
    lab.start("node4")
    bad = swarm["worker"][:-5] + "zzzzz"
    res = lab.swarmlet("node4", "swarm", "join", "--token", bad, swarm["remote"], check=False)
    assert res.returncode != 0
    assert "join token" in res.stderr
    info = lab.swarmlet("node4", "info").stdout
    assert "Swarm: inactive" in info


def test_restarted_daemon_rejoins_from_its_data_dir(lab, swarm):
    lab.kill("node2")
    lab.start("node2")
    out = lab.swarmlet("node2", "info").stdout
    assert "Swarm: active" in out
