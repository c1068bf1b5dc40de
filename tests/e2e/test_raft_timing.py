"""`swarm update --raft-heartbeat-interval/--raft-election-timeout` on real hosts: every
manager's raft takes the new timings while it runs (its `/info` shows what its raft runs
with), bad values are refused with a clear error and change nothing, and the group still
replaces a killed leader afterwards."""

import pytest

from swarmlet.api.client import APIError, Client
from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e

LAB_NODES = 3
MANAGERS = ("node1", "node2", "node3")


@pytest.fixture(scope="module")
def swarm(lab):
    lab.form_swarm(dict.fromkeys(MANAGERS[1:], "manager"))
    return {h: Client(lab.host(h).swarmlet_host, timeout=10) for h in MANAGERS}


def running_timing(api: Client) -> tuple[int, int]:
    raft = api.get("/info")["Swarm"]["Swarmlet"]["Raft"]
    assert raft["TickMs"] == 100
    return raft["HeartbeatTick"], raft["ElectionTick"]


def test_every_managers_raft_takes_the_new_timings(lab, swarm):
    for api in swarm.values():
        eventually(lambda api=api: running_timing(api) == (2, 5))
    # Through a follower or the leader alike: the write goes to the leader.
    lab.swarmlet(
        "node2", "swarm", "update", "--raft-heartbeat-interval", "300ms",
        "--raft-election-timeout", "1s",
    )  # fmt: skip
    spec = swarm["node1"].get("/swarm")["Spec"]["Raft"]
    assert (spec["HeartbeatTick"], spec["ElectionTick"]) == (3, 10)
    for host, api in swarm.items():

        def adopted(api=api, host=host):
            assert running_timing(api) == (3, 10), host
            return True

        eventually(adopted)
    info = lab.swarmlet("node3", "info").stdout
    assert "Heartbeat Tick: 3" in info and "Election Tick: 10" in info


def test_bad_timings_are_refused_and_nothing_changes(lab, swarm):
    before = swarm["node1"].get("/swarm")
    res = lab.swarmlet("node1", "swarm", "update", "--raft-election-timeout", "300ms", check=False)
    assert res.returncode != 0
    assert "must be greater than the heartbeat interval" in res.stderr
    res = lab.swarmlet("node1", "swarm", "update", "--raft-heartbeat-interval", "0s", check=False)
    assert res.returncode != 0 and "positive duration" in res.stderr
    # Straight to the API, past the CLI's checks: the manager refuses the spec as a whole.
    for raft in ({"HeartbeatTick": 3, "ElectionTick": 3}, {"HeartbeatTick": 0, "ElectionTick": 5}):
        spec = {**before["Spec"], "Raft": {**before["Spec"]["Raft"], **raft}}
        with pytest.raises(APIError) as err:
            swarm["node2"].post("/swarm/update", spec, version=before["Version"]["Index"])
        assert err.value.status == 400
    after = swarm["node1"].get("/swarm")
    assert after["Version"] == before["Version"] and after["Spec"] == before["Spec"]
    for api in swarm.values():
        assert running_timing(api) == (
            before["Spec"]["Raft"]["HeartbeatTick"],
            before["Spec"]["Raft"]["ElectionTick"],
        )


def test_with_the_new_timings_a_killed_leader_is_replaced(lab, swarm):
    def leader() -> str:
        for node in swarm["node1"].get("/nodes"):
            if (node.get("ManagerStatus") or {}).get("Leader"):
                return node["Description"]["Hostname"]
        raise AssertionError("no leader yet")

    old = eventually(leader)
    lab.kill(old)
    other = next(h for h in MANAGERS if h != old)

    def write_through_other():
        res = lab.swarmlet(
            other, "node", "update", "--label-add", "after=timing", other, check=False
        )
        assert res.returncode == 0, res.stderr
        return True

    eventually(write_through_other)
    lab.start(old)
    eventually(lambda: running_timing(swarm[old]) == (3, 10))
