"""`/swarm` (inspect, update, join token rotation, unlock key hooks) and the answers of a node
that is not a manager."""

from __future__ import annotations

import dataclasses
import json

import pytest

from swarmlet.api.client import APIError
from swarmlet.api.cluster_routes import NOT_IN_SWARM, WORKER_NODE, not_a_manager
from swarmlet.manager.context import NotLeaderError
from swarmlet.security.tokens import parse_token
from tests.unit.cluster_api_server import CLUSTER_ID, ClusterApiServer


@pytest.fixture(scope="module")
def server():
    with ClusterApiServer() as s:
        yield s


@pytest.fixture
def api(server):
    server.reset()
    yield server
    server.state = "manager"


def test_inspect_is_dockers_swarm_object(api):
    code, out, err = api.cli("swarm", "inspect")
    assert (code, err) == (0, "")
    (swarm,) = json.loads(out)
    assert list(swarm) == [
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Spec",
        "TLSInfo",
        "RootRotationInProgress",
        "DefaultAddrPool",
        "SubnetSize",
        "DataPathPort",
        "JoinTokens",
    ]
    assert swarm["ID"] == CLUSTER_ID
    assert "Swarmlet" not in swarm
    trust_root = swarm["TLSInfo"]["TrustRoot"]
    assert trust_root.startswith("-----BEGIN SWARMLET ROOT PUBLIC KEY-----\n")
    code, out, _ = api.cli("swarm", "ca")
    assert (code, out) == (0, trust_root)
    token = parse_token(swarm["JoinTokens"]["Worker"])
    assert token.matches_root(api.root_public_key)


def test_update_spec_and_version_checks(api):
    code, out, err = api.cli("swarm", "update", "--task-history-limit", "7")
    assert (code, out, err) == (0, "Swarm updated.\n", "")
    swarm = api.client().get("/swarm")
    assert swarm["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 7
    code, _, err = api.cli("swarm", "update", "--cert-expiry", "1m")
    assert code == 1
    assert err == (
        "Error response from daemon: rpc error: code = InvalidArgument desc = minimum "
        "certificate expiry time is: 1h0m0s\n"
    )
    client = api.client()
    stale = swarm["Version"]["Index"] - 1
    with pytest.raises(APIError) as excinfo:
        client.request("POST", "/swarm/update", {"version": stale}, swarm["Spec"])
    assert excinfo.value.message == "rpc error: code = Unknown desc = update out of sequence"
    with pytest.raises(APIError) as excinfo:
        client.request("POST", "/swarm/update", None, swarm["Spec"])
    assert excinfo.value.message == (
        "invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax"
    )


def test_join_token_rotation_keeps_the_root_digest(api):
    before = api.client().get("/swarm")["JoinTokens"]
    code, out, _ = api.cli("swarm", "join-token", "--rotate", "worker")
    assert code == 0
    assert out.startswith("Successfully rotated worker join token.\n")
    after = api.client().get("/swarm")["JoinTokens"]
    assert after["Manager"] == before["Manager"]
    assert after["Worker"] != before["Worker"]
    assert after["Worker"] in out
    old, new = parse_token(before["Worker"]), parse_token(after["Worker"])
    assert new.root_digest == old.root_digest and new.secret != old.secret
    code, out, _ = api.cli("swarm", "join-token", "-q", "--rotate", "manager")
    assert out.strip() == api.client().get("/swarm")["JoinTokens"]["Manager"] != before["Manager"]


def test_auto_accept_policy_is_kept_in_swarmlet_fields(api):
    code, _, err = api.cli("swarm", "update", "--auto-accept", "worker")
    assert (code, err) == (0, "")
    accept = api.read(lambda s: s.cluster()["Swarmlet"]["AutoAccept"])
    assert accept == {"worker": True, "manager": False}
    assert "AcceptancePolicy" not in api.client().get("/swarm")["Spec"]


def test_unlock_key_without_hooks_is_501(api):
    code, _, err = api.cli("swarm", "unlock-key")
    assert (code, err) == (
        1,
        "Error response from daemon: the unlock key is not available on this node\n",
    )
    swarm = api.client().get("/swarm")
    with pytest.raises(APIError) as excinfo:
        api.client().request(
            "POST",
            "/swarm/update",
            {"version": swarm["Version"]["Index"], "rotateManagerUnlockKey": "true"},
            swarm["Spec"],
        )
    assert excinfo.value.status == 501
    assert api.client().get("/swarm")["Version"] == swarm["Version"]  # nothing applied


def test_unlock_key_hooks_rotate_with_the_cluster_update(api):
    keys = ["SWMKEY-1-first"]

    class WithHooks:
        def __init__(self, ctx):
            self._ctx = ctx

        def __getattr__(self, name):
            return getattr(self._ctx, name)

        def unlock_key(self):
            return keys[-1]

        async def rotate_unlock_key(self, cluster):
            keys.append("SWMKEY-1-second")
            return {"UnlockKeyDigest": "d2"}

    local = api.local
    original = local.context
    local.context = lambda: WithHooks(original())
    try:
        code, out, _ = api.cli("swarm", "update", "--autolock")
        assert code == 0 and "SWMKEY-1-first" in out
        code, out, _ = api.cli("swarm", "unlock-key", "--rotate", "-q")
        assert (code, out) == (0, "SWMKEY-1-second\n")
        assert api.read(lambda s: s.cluster()["Swarmlet"]["UnlockKeyDigest"]) == "d2"
        swarm = api.client().get("/swarm")
        for version, spec, status in (
            (swarm["Version"]["Index"] - 1, swarm["Spec"], 500),  # stale
            (swarm["Version"]["Index"], {"Raft": {"ElectionTick": 0}}, 400),  # bad spec
        ):
            with pytest.raises(APIError) as excinfo:
                api.client().request(
                    "POST",
                    "/swarm/update",
                    {"version": version, "rotateManagerUnlockKey": "1"},
                    spec,
                )
            assert excinfo.value.status == status
        assert len(keys) == 2  # no key was made for a refused update
    finally:
        local.context = original


@pytest.mark.parametrize(
    ("state", "message"),
    [("inactive", NOT_IN_SWARM), ("worker", WORKER_NODE)],
)
def test_a_node_that_is_not_a_manager_says_so(api, state, message):
    api.state = state
    for argv in (
        ("node", "ls"),
        ("service", "ls"),
        ("service", "create", "-d", "busybox"),
        ("swarm", "inspect"),
        ("network", "ls"),
        ("secret", "ls"),
    ):
        code, out, err = api.cli(*argv)
        assert (code, out, err) == (1, "", f"Error response from daemon: {message}\n"), argv
    with pytest.raises(APIError) as excinfo:
        api.client().get("/tasks")
    assert excinfo.value.status == 503


def test_not_a_manager_messages_are_dockers_with_swarmlet():
    assert not_a_manager("inactive").message == (
        'This node is not a swarm manager. Use "swarmlet swarm init" or "swarmlet swarm join" '
        "to connect this node to swarm and try again."
    )
    assert not_a_manager("worker").message == (
        "This node is not a swarm manager. Worker nodes can't be used to view or modify "
        "cluster state. Please run this command on a manager node or promote the current "
        "node to a manager."
    )
    assert not_a_manager("locked").status == 503
    with pytest.raises(ValueError):
        not_a_manager("sleepy")


def test_reads_pass_the_barrier_and_writes_go_through_propose(api):
    """Every read waits for the read barrier; every write is one proposal; a cluster without
    a leader refuses with 503 and the proposer's message."""
    calls = []
    no_leader = "The swarm does not have a leader. It's possible that too few managers are online."

    local = api.local
    original = local.context

    def counting_context():
        ctx = original()

        async def read_barrier():
            calls.append("barrier")

        async def propose(command):
            calls.append(command["op"])
            if fail:
                raise NotLeaderError(no_leader)
            return await local.propose(command)

        return dataclasses.replace(ctx, read_barrier=read_barrier, propose=propose)

    fail = False
    local.context = counting_context
    try:
        api.client().get("/nodes")
        assert calls == ["barrier"]
        calls.clear()
        code, _, err = api.cli("service", "create", "-d", "--name", "web", "busybox")
        assert (code, err, calls) == (0, "", ["barrier", "create"])
        fail = True
        calls.clear()
        with pytest.raises(APIError) as excinfo:
            api.client().delete("/services/web")
        assert (excinfo.value.status, excinfo.value.message) == (503, no_leader)
        assert calls == ["barrier", "delete"]
    finally:
        local.context = original
    assert [s["Spec"]["Name"] for s in api.client().get("/services")] == ["web"]
