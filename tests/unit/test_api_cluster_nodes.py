"""Nodes through the real CLI and client against the manager's API routes."""

from __future__ import annotations

import json

import pytest

from swarmlet.api.client import APIError
from tests.unit.cluster_api_server import MANAGER_ID, ClusterApiServer

WORKER_ID = "w2bbbbbbbbbbbbbbbbbbbbbbb"
DOWN_ID = "w3ddddddddddddddddddddddd"


@pytest.fixture(scope="module")
def server():
    with ClusterApiServer() as s:
        yield s


@pytest.fixture
def api(server):
    server.reset()
    server.add_node(WORKER_ID, "node2", labels={"zone": "a"})
    server.add_node(DOWN_ID, "node3", state="down", availability="drain")
    return server


def _node(api, ref):
    return api.client().get(f"/nodes/{ref}")


def test_ls_columns_self_and_leader(api):
    code, out, err = api.cli("node", "ls")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "HOSTNAME",
        "STATUS",
        "AVAILABILITY",
        "MANAGER",
        "STATUS",
        "ENGINE",
        "VERSION",
    ]
    assert lines[1].split() == [MANAGER_ID, "*", "node1", "Ready", "Active", "Leader", "20.10.24"]
    assert lines[2].split() == [WORKER_ID, "node2", "Ready", "Active", "20.10.24"]
    assert lines[3].split() == [DOWN_ID, "node3", "Down", "Drain", "20.10.24"]


def test_ls_filters(api):
    def hosts(*filters):
        args = [a for f in filters for a in ("-f", f)]
        code, out, err = api.cli("node", "ls", "--format", "{{.Hostname}}", *args)
        assert code == 0, err
        return out.split()

    assert hosts("role=manager") == ["node1"]
    assert hosts("role=worker") == ["node2", "node3"]
    assert hosts("name=node2") == ["node2"]
    assert hosts("id=w3") == ["node3"]
    assert hosts("node.label=zone=a") == ["node2"]
    assert hosts("node.label=zone=b") == []
    assert hosts("membership=accepted") == ["node1", "node2", "node3"]
    with pytest.raises(APIError) as excinfo:
        api.client().get("/nodes", filters={"role": ["boss"]})
    assert (excinfo.value.status, excinfo.value.message) == (400, "Invalid role filter: 'boss'")


def test_inspect_by_id_prefix_hostname_and_self(api):
    code, out, _ = api.cli("node", "inspect", "self", "node2", "w3")
    assert code == 0
    assert [n["ID"] for n in json.loads(out)] == [MANAGER_ID, WORKER_ID, DOWN_ID]
    me = _node(api, "self")
    assert me["ManagerStatus"]["Leader"] is True
    swarm = api.client().get("/swarm")
    assert me["Description"]["TLSInfo"] == swarm["TLSInfo"]
    code, out, _ = api.cli("node", "inspect", "--pretty", "node2")
    assert code == 0 and "Hostname:               node2" in out
    code, _, err = api.cli("node", "inspect", "ghost")
    assert (code, err) == (1, "Error response from daemon: node ghost not found\n")
    code, _, err = api.cli("node", "inspect", "w")
    assert (code, err) == (1, "Error response from daemon: node w is ambiguous (2 matches found)\n")


def test_update_availability_labels_and_roles(api):
    code, out, err = api.cli(
        "node", "update", "--availability", "drain", "--label-add", "disk=ssd", "node2"
    )
    assert (code, out, err) == (0, "node2\n", "")
    node = _node(api, "node2")
    assert node["Spec"]["Availability"] == "drain"
    assert node["Spec"]["Labels"] == {"zone": "a", "disk": "ssd"}
    code, out, _ = api.cli("node", "promote", "node2")
    assert (code, out) == (0, "Node node2 promoted to a manager in the swarm.\n")
    assert _node(api, "node2")["Spec"]["Role"] == "manager"
    code, out, _ = api.cli("node", "demote", "node2")
    assert (code, out) == (0, "Manager node2 demoted in the swarm.\n")
    code, _, err = api.cli("node", "demote", "node1")
    assert code == 1
    assert err == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = attempting "
        "to demote the last manager of the swarm\n"
    )
    code, _, err = api.cli("node", "update", "--label-rm", "nope", "node2")
    assert (code, err) == (1, "key nope doesn't exist in node's labels\n")


def test_update_bad_spec_and_stale_version(api):
    client = api.client()
    node = _node(api, "node2")
    path = f"/nodes/{node['ID']}/update"
    with pytest.raises(APIError) as excinfo:
        client.request("POST", path, {"version": node["Version"]["Index"]}, {"Role": "boss"})
    assert excinfo.value.status == 400
    assert excinfo.value.message == 'rpc error: code = InvalidArgument desc = invalid Role: "boss"'
    client.request("POST", path, {"version": node["Version"]["Index"]}, node["Spec"])
    with pytest.raises(APIError) as excinfo:
        client.request("POST", path, {"version": node["Version"]["Index"]}, node["Spec"])
    assert excinfo.value.status == 500
    assert excinfo.value.message.endswith("update out of sequence")


def test_accept_a_pending_node(api):
    api.add_node("p4eeeeeeeeeeeeeeeeeeeeeee", "node4", membership="pending")
    code, out, err = api.cli("node", "ls", "-q", "-f", "membership=pending")
    assert out.split() == ["p4eeeeeeeeeeeeeeeeeeeeeee"]
    code, out, err = api.cli("node", "accept", "node4")
    assert (code, out) == (0, "Node node4 accepted in the swarm.\n")
    assert _node(api, "node4")["Spec"]["Membership"] == "accepted"


def test_rm_down_node_revokes_it_and_refuses_ready_or_manager(api):
    code, _, err = api.cli("node", "rm", "node2")
    assert code == 1
    assert err == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = node "
        f"{WORKER_ID} is not down and can't be removed\n"
    )
    code, _, err = api.cli("node", "rm", "node1")
    assert code == 1 and "must be demoted to worker before removal" in err
    code, out, _ = api.cli("node", "rm", "node3")
    assert (code, out) == (0, "node3\n")
    code, out, _ = api.cli("node", "rm", "--force", "node2")
    assert (code, out) == (0, "node2\n")
    assert [n["ID"] for n in api.client().get("/nodes")] == [MANAGER_ID]
    revoked = api.read(lambda s: s.cluster()["Swarmlet"]["RevokedNodes"])
    assert revoked == [DOWN_ID, WORKER_ID]
