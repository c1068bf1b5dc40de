"""Swarm membership on real hosts (a lab): init, join as worker and as manager, node ls from
any manager, repeated init/join refused, a worker refusing manager commands, a bad token,
the leader killed and its successor taking writes, daemons rejoining from their data dir."""

import re

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 5


@pytest.fixture(scope="module")
def swarm(lab):
    for host in ("node1", "node2", "node3", "node4"):
        lab.start(host)
    out = lab.swarmlet("node1", "swarm", "init", "--advertise-addr", lab.addr("node1")).stdout
    assert "Swarm initialized: current node (" in out
    assert "swarmlet swarm join --token SWMTKN-1-" in out
    worker = lab.swarmlet("node1", "swarm", "join-token", "-q", "worker").stdout.strip()
    manager = lab.swarmlet("node1", "swarm", "join-token", "-q", "manager").stdout.strip()
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", worker)
    assert worker != manager
    remote = f"{lab.addr('node1')}:2377"
    for host in ("node2", "node3"):
        out = lab.swarmlet(host, "swarm", "join", "--token", manager, remote).stdout
        assert out.strip() == "This node joined a swarm as a manager."
    out = lab.swarmlet("node4", "swarm", "join", "--token", worker, remote).stdout
    assert out.strip() == "This node joined a swarm as a worker."
    return {"worker": worker, "manager": manager, "remote": remote}


def node_rows(lab, host):
    fmt = "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"
    return sorted(lab.swarmlet(host, "node", "ls", "--format", fmt).stdout.splitlines())


def test_node_ls_shows_one_leader_and_reachable_managers(lab, swarm):
    want = [
        "node1 Ready Leader",
        "node2 Ready Reachable",
        "node3 Ready Reachable",
        "node4 Ready ",
    ]

    def settled():
        assert node_rows(lab, "node1") == want
        return True

    eventually(settled)
    assert node_rows(lab, "node3") == want  # a follower answers the same (linearizable read)
    self_row = lab.swarmlet("node2", "node", "ls").stdout.splitlines()
    assert any(" * " in line and "node2" in line for line in self_row)


def test_init_and_join_again_are_refused_and_change_nothing(lab, swarm):
    again = lab.swarmlet("node1", "swarm", "init", check=False)
    assert again.returncode == 1 and "already part of a swarm" in again.stderr
    rejoin = lab.swarmlet(
        "node4", "swarm", "join", "--token", swarm["worker"], swarm["remote"], check=False
    )
    assert rejoin.returncode == 1 and "already part of a swarm" in rejoin.stderr
    assert len(node_rows(lab, "node1")) == 4


def test_worker_refuses_manager_commands_with_dockers_message(lab, swarm):
    res = lab.swarmlet("node4", "node", "ls", check=False)
    assert res.returncode == 1
    assert "This node is not a swarm manager. Worker nodes can't be used" in res.stderr


def test_bad_token_is_refused_and_leaves_the_node_outside(lab, swarm):
    lab.start("node5")
    bad = swarm["worker"][:-5] + "zzzzz"
    res = lab.swarmlet("node5", "swarm", "join", "--token", bad, swarm["remote"], check=False)
    assert res.returncode == 1
    assert "join token" in res.stderr
    assert "Swarm: inactive" in lab.swarmlet("node5", "info").stdout


def test_leader_killed_another_manager_leads_and_the_old_one_catches_up(lab, swarm):
    lab.kill("node1")

    def write_through_node2():
        res = lab.swarmlet(
            "node2", "node", "update", "--label-add", "zone=east", "node4", check=False
        )
        assert res.returncode == 0, res.stderr
        return True

    eventually(write_through_node2)
    leaders = [r for r in node_rows(lab, "node2") if r.endswith("Leader")]
    assert len(leaders) == 1 and not leaders[0].startswith("node1")
    lab.start("node1")

    def caught_up():
        out = lab.swarmlet("node1", "node", "inspect", "node4", "--format", "{{.Spec.Labels}}")
        assert out.stdout.strip() == "map[zone:east]"
        return True

    eventually(caught_up)


def test_restarted_worker_rejoins_from_its_data_dir(lab, swarm):
    lab.kill("node4")
    lab.start("node4")
    assert "Swarm: active" in lab.swarmlet("node4", "info").stdout
    eventually(lambda: "node4 Ready " in node_rows(lab, "node2"))


def test_promote_and_demote_move_a_node_in_and_out_of_the_managers(lab, swarm):
    lab.swarmlet("node2", "node", "promote", "node4")
    eventually(lambda: "node4 Ready Reachable" in node_rows(lab, "node2"))
    assert "Is Manager: true" in lab.swarmlet("node4", "info").stdout
    lab.swarmlet("node4", "node", "demote", "node4")
    eventually(lambda: "node4 Ready " in node_rows(lab, "node2"))
    eventually(lambda: "Is Manager: false" in lab.swarmlet("node4", "info").stdout)


def test_leave_and_remove(lab, swarm):
    refused = lab.swarmlet("node3", "swarm", "leave", check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    # a worker leaves; its node goes down and can then be removed
    lab.swarmlet("node4", "swarm", "leave")
    assert "Swarm: inactive" in lab.swarmlet("node4", "info").stdout
    eventually(lambda: "node4 Down " in node_rows(lab, "node2"))
    busy = lab.swarmlet("node2", "node", "rm", "node3", check=False)
    assert busy.returncode == 1
    lab.swarmlet("node2", "node", "rm", "node4")
    assert not any(r.startswith("node4 ") for r in node_rows(lab, "node2"))


def test_removed_node_is_refused_when_it_comes_back(lab, swarm):
    lab.swarmlet("node5", "swarm", "join", "--token", swarm["worker"], swarm["remote"])
    eventually(lambda: "node5 Ready " in node_rows(lab, "node2"))
    lab.swarmlet("node2", "node", "rm", "--force", "node5")
    node5 = lab.host("node5").addr
    logs = [lab.host(h).swarmlet_data_dir + "/swarmlet.log" for h in ("node1", "node2", "node3")]

    def refusals():
        count = 0
        for path in logs:
            with open(path) as f:
                count += sum(
                    1
                    for line in f
                    if "refused connection from " + node5 in line
                    and "removed from the cluster" in line
                )
        return count

    before = refusals()
    lab.kill("node5")
    lab.start("node5")  # comes back with its old certificate, which every manager refuses
    eventually(lambda: refusals() > before)
    assert not any(r.startswith("node5 ") for r in node_rows(lab, "node2"))
