"""Recovery on real hosts: join-token rotation, and a swarm that lost its quorum for good
brought back with `swarm init --force-new-cluster` on the surviving manager, data intact."""

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 4


@pytest.fixture(scope="module")
def swarm(lab):
    lab.form_swarm({"node2": "manager", "node3": "manager"})
    lab.start("node4")  # outside the swarm until a test joins it
    return lab


def test_rotated_join_token_refuses_the_old_one(swarm):
    lab = swarm
    old = lab.swarmlet("node1", "swarm", "join-token", "-q", "worker").stdout.strip()
    out = lab.swarmlet("node1", "swarm", "join-token", "--rotate", "worker").stdout
    assert "Successfully rotated worker join token." in out
    new = lab.swarmlet("node1", "swarm", "join-token", "-q", "worker").stdout.strip()
    assert new != old and new[:60] == old[:60]  # same swarm digest, new secret
    remote = f"{lab.addr('node1')}:2377"
    refused = lab.swarmlet("node4", "swarm", "join", "--token", old, remote, check=False)
    assert refused.returncode == 1 and "join token" in refused.stderr
    out = lab.swarmlet("node4", "swarm", "join", "--token", new, remote).stdout
    assert "joined a swarm as a worker" in out


def test_force_new_cluster_after_quorum_loss_keeps_the_data(swarm):
    lab = swarm
    lab.swarmlet("node1", "node", "update", "--label-add", "kept=yes", "node4")
    lab.kill("node2")
    lab.kill("node3")  # two of three managers gone for good: no quorum
    res = lab.swarmlet("node1", "node", "update", "--label-add", "x=y", "node4", check=False)
    assert res.returncode == 1 and "does not have a leader" in res.stderr
    lab.swarmlet("node1", "swarm", "init", "--force-new-cluster")

    def writable():
        res = lab.swarmlet(
            "node1", "node", "update", "--label-add", "after=yes", "node4", check=False
        )
        assert res.returncode == 0, res.stderr
        return True

    eventually(writable)
    labels = lab.swarmlet("node1", "node", "inspect", "node4", "--format", "{{.Spec.Labels}}")
    assert labels.stdout.strip() == "map[after:yes kept:yes]"


def test_auto_accept_off_keeps_a_joiner_pending_until_accepted(make_lab):
    lab = make_lab(2)
    for host in lab.hosts:
        lab.start(host)
    lab.swarmlet(
        "node1", "swarm", "init", "--advertise-addr", lab.addr("node1"), "--auto-accept", "none"
    )
    token = lab.swarmlet("node1", "swarm", "join-token", "-q", "worker").stdout.strip()
    lab.swarmlet("node2", "swarm", "join", "--token", token, f"{lab.addr('node1')}:2377")
    membership = "{{.Spec.Membership}} {{.Status.State}}"
    out = lab.swarmlet("node1", "node", "inspect", "node2", "--format", membership).stdout
    assert out.split()[0] == "pending"
    lab.swarmlet("node1", "service", "create", "-d", "--name", "g", "--mode", "global",
                 "--init", "busybox:latest", "sleep", "100000")  # fmt: skip
    eventually(lambda: "node1" in lab.swarmlet("node1", "service", "ps", "g").stdout)
    assert "node2" not in lab.swarmlet("node1", "service", "ps", "g").stdout
    assert lab.docker("node2", "ps", "-q").stdout == ""  # nothing runs on a pending node
    lab.swarmlet("node1", "node", "accept", "node2")
    eventually(
        lambda: (
            lab.swarmlet("node1", "node", "inspect", "node2", "--format", membership).stdout.split()
            == ["accepted", "ready"]
        )
    )
    eventually(lambda: lab.docker("node2", "ps", "-q").stdout.strip() != "")


def test_autolock_keeps_a_restarted_manager_locked_until_unlock(make_lab):
    lab = make_lab(1)
    lab.start("node1")
    out = lab.swarmlet(
        "node1", "swarm", "init", "--autolock", "--advertise-addr", lab.addr("node1")
    )
    assert "swarmlet swarm unlock" in out.stdout
    key = lab.swarmlet("node1", "swarm", "unlock-key", "-q").stdout.strip()
    assert key.startswith("SWMKEY-1-") and key in out.stdout
    lab.swarmlet("node1", "node", "update", "--label-add", "before=lock", "node1")
    lab.kill("node1")
    lab.start("node1")
    data_dir = lab.host("node1").swarmlet_data_dir

    def locked():
        res = lab.swarmlet("node1", "node", "ls", check=False)
        with open(data_dir + "/console.log", errors="replace") as f:
            console = f.read()[-2000:]
        assert "Swarm is encrypted and needs to be unlocked" in res.stderr, (res.stderr, console)
        return res.returncode == 1

    eventually(locked, timeout=30)
    assert "Swarm: locked" in lab.swarmlet("node1", "info").stdout
    wrong = "SWMKEY-1-" + "A" * 43
    bad = lab.swarmlet("node1", "swarm", "unlock", input=wrong + "\n", check=False)
    assert bad.returncode == 1 and "invalid key" in bad.stderr
    lab.swarmlet("node1", "swarm", "unlock", input=key + "\n")

    def unlocked():
        fmt = "{{.Spec.Labels}}"
        out = lab.swarmlet("node1", "node", "inspect", "node1", "--format", fmt, check=False)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip() == "map[before:lock]"

    eventually(unlocked)

    key_file = lab.host("node1").swarmlet_data_dir + "/raft.key"
    with open(key_file, "rb") as f:
        wrapped = f.read()
    lab.swarmlet("node1", "swarm", "unlock-key", "--rotate")
    new = lab.swarmlet("node1", "swarm", "unlock-key", "-q").stdout.strip()
    assert new != key

    def rewrapped():  # the manager wraps its data key with the new unlock key
        with open(key_file, "rb") as f:
            return f.read() != wrapped

    eventually(rewrapped)
    lab.kill("node1")
    lab.start("node1")
    old = lab.swarmlet("node1", "swarm", "unlock", input=key + "\n", check=False)
    assert old.returncode == 1
    lab.swarmlet("node1", "swarm", "unlock", input=new + "\n")
    eventually(unlocked)
