"""A partitioned minority manager on real hosts: the majority goes on (a new leader when the
leader was cut off), the minority refuses writes with Docker's no-leader error and never hangs,
and after `heal` it converges on what the majority wrote. The swarm is formed by two managers
joining at the same moment, which must both get in."""

import subprocess

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 3
NO_LEADER = (
    "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too "
    "few managers are online. Make sure more than half of the managers are online."
)
# A deadline for "the minority answers", not a measure of speed: a hung request fails here.
ANSWER_DEADLINE = 60.0


@pytest.fixture(scope="module")
def managers(lab):
    token = lab.form_swarm({})["manager"]
    for host in ("node2", "node3"):
        lab.start(host)
    # Both at once: the second membership change waits for the first instead of failing.
    join = ("swarmlet", "swarm", "join", "--token", token, f"{lab.addr('node1')}:2377")
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    joins = {host: lab.popen(host, *join, **pipes) for host in ("node2", "node3")}
    lab.joined = {host: (p.wait(120), *p.communicate()) for host, p in joins.items()}
    if all(rc == 0 for rc, _, _ in lab.joined.values()):
        eventually(lambda: converged(lab))
    return lab


def test_two_managers_joining_at_once_both_get_in(managers):
    for host, (rc, out, err) in managers.joined.items():
        assert (rc, out.strip()) == (0, "This node joined a swarm as a manager."), (host, err)
    converged(managers)


def node_rows(lab, host, **kwargs) -> list[str]:
    fmt = "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"
    out = lab.swarmlet(host, "node", "ls", "--format", fmt, **kwargs).stdout
    return sorted(out.splitlines())


def leader(lab, host) -> str:
    rows = [r for r in node_rows(lab, host) if r.endswith(" Leader")]
    assert len(rows) == 1, rows
    return rows[0].split()[0]


def converged(lab) -> bool:
    """Every manager shows all three nodes Ready, one Leader and the others Reachable."""
    for host in lab.hosts:
        rows = node_rows(lab, host)
        assert [r.split()[1] for r in rows] == ["Ready"] * 3, (host, rows)
        assert sorted(r.split()[2] for r in rows) == ["Leader", "Reachable", "Reachable"], (
            host,
            rows,
        )
    return True


def labels(lab, host, node) -> str:
    fmt = "{{.Spec.Labels}}"
    return lab.swarmlet(host, "node", "inspect", node, "--format", fmt).stdout.strip()


def check_partition(lab, cut: str, tag: str) -> None:
    majority = [h for h in lab.hosts if h != cut]
    lab.partition(cut)
    try:

        def majority_writes():
            res = lab.swarmlet(
                majority[0], "node", "update", "--label-add", f"{tag}=majority", majority[1],
                check=False,
            )  # fmt: skip
            assert res.returncode == 0, res.stderr
            return True

        eventually(majority_writes)

        def majority_sees_the_cut_manager_gone():
            rows = node_rows(lab, majority[1])
            assert f"{cut} Down Unreachable" in rows, rows
            return True

        eventually(majority_sees_the_cut_manager_gone)
        assert leader(lab, majority[0]) in majority

        res = lab.swarmlet(
            cut, "node", "update", "--label-add", f"{tag}=minority", cut,
            check=False, timeout=ANSWER_DEADLINE,
        )  # fmt: skip
        assert res.returncode == 1, (res.stdout, res.stderr)
        assert res.stderr.strip() == f"Error response from daemon: {NO_LEADER}"
        res = lab.swarmlet(
            cut, "service", "create", "-d", "--name", f"{tag}-svc", "busybox:latest", "true",
            check=False, timeout=ANSWER_DEADLINE,
        )  # fmt: skip
        assert res.returncode == 1 and NO_LEADER in res.stderr, (res.stdout, res.stderr)
        # A read either answers or fails clearly; it never hangs.
        res = lab.swarmlet(cut, "node", "ls", check=False, timeout=ANSWER_DEADLINE)
        assert res.returncode == 0 or NO_LEADER in res.stderr, (res.stdout, res.stderr)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{cut} did not answer while cut off: {exc}") from None
    finally:
        lab.heal()

    def minority_caught_up():
        assert f"{tag}:majority" in labels(lab, cut, majority[1])
        return True

    eventually(minority_caught_up)
    eventually(lambda: converged(lab))
    assert "minority" not in labels(lab, majority[0], cut)  # the refused write left nothing


def test_partitioned_leader_loses_its_lead_and_converges_after_heal(managers):
    lab = managers
    old = leader(lab, "node1")
    check_partition(lab, old, "p1")
    assert leader(lab, old) != old  # the cut-off leader came back as a follower


def test_partitioned_follower_refuses_writes_and_converges_after_heal(managers):
    lab = managers
    current = leader(lab, "node1")
    follower = next(h for h in lab.hosts if h != current)
    check_partition(lab, follower, "p2")
    assert leader(lab, follower) == current  # a returning follower does not disrupt the leader
