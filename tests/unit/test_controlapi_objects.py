"""Control API for nodes, the cluster, networks, secrets and configs."""

import base64
import copy

import pytest

from swarmlet.manager import controlapi
from swarmlet.manager.specs.cluster import auto_accept_policy, default_cluster_spec
from swarmlet.store import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    Store,
    commands,
    objects,
)

NOW = "2026-11-27T18:00:00.000000000Z"
LATER = "2026-11-27T18:05:00.000000000Z"
TOKENS = {"Worker": "SWMTKN-1-aaa-www", "Manager": "SWMTKN-1-aaa-mmm"}


def run(store: Store, command: dict):
    return store.apply(store.applied_index + 1, commands.encode(command)).unwrap()


@pytest.fixture
def store() -> Store:
    s = Store()
    run(s, controlapi.create_cluster("c1", NOW, join_tokens=TOKENS, root_public_key="pk"))
    run(s, controlapi.new_node("m1", NOW, "host1", "manager", "10.0.0.1:2377"))
    run(s, controlapi.new_node("w1", NOW, "host2", "worker", "10.0.0.2"))
    return s


# -- cluster ----------------------------------------------------------------------------------
def test_cluster_has_dockers_shape_and_swarmlet_fields_apart(store):
    cluster = store.cluster()
    assert cluster["Spec"] == default_cluster_spec()
    assert cluster["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 5}
    assert cluster["Spec"]["CAConfig"] == {"NodeCertExpiry": 90 * 24 * 3600 * 10**9}
    assert cluster["JoinTokens"] == TOKENS
    assert cluster["DefaultAddrPool"] == ["10.0.0.0/8"]
    assert cluster["SubnetSize"] == 24 and cluster["DataPathPort"] == 4789
    assert cluster["RootRotationInProgress"] is False
    assert cluster["Swarmlet"] == {
        "RootPublicKey": "pk",
        "AutoAccept": {"worker": True, "manager": True},
        "RevokedNodes": [],
    }
    public = objects.docker_view("cluster", cluster)
    assert "Swarmlet" not in public and public["JoinTokens"] == TOKENS


def test_cluster_update_merges_fields_checks_them_and_uses_cas(store):
    cluster = store.cluster()
    cmd = controlapi.update_cluster(
        cluster,
        {
            "Orchestration": {"TaskHistoryRetentionLimit": 10},
            "Dispatcher": {"HeartbeatPeriod": 2 * 10**9},
        },
        cluster["Version"]["Index"],
        LATER,
        join_tokens={"Worker": "SWMTKN-1-aaa-new"},
        swarmlet={"AutoAccept": auto_accept_policy(["manager"])},
    )
    updated = run(store, cmd)
    assert updated["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 10
    assert updated["Spec"]["Raft"] == cluster["Spec"]["Raft"]
    assert updated["JoinTokens"] == {"Worker": "SWMTKN-1-aaa-new", "Manager": TOKENS["Manager"]}
    assert updated["Swarmlet"]["AutoAccept"] == {"worker": False, "manager": True}
    assert updated["Swarmlet"]["RootPublicKey"] == "pk"
    stale = controlapi.update_cluster(updated, {}, cluster["Version"]["Index"], LATER)
    assert not store.apply(store.applied_index + 1, commands.encode(stale)).ok


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"CAConfig": {"NodeCertExpiry": 60 * 10**9}},
            "minimum certificate expiry time is: 1h0m0s",
        ),
        (
            {"Dispatcher": {"HeartbeatPeriod": -1}},
            "heartbeat time period cannot be a negative duration",
        ),
        ({"Orchestration": {"TaskHistoryRetentionLimit": -2}}, "TaskHistoryRetentionLimit"),
        ({"Raft": {"ElectionTick": 1, "HeartbeatTick": 1}}, "ElectionTick must be greater"),
        ({"Raft": {"SnapshotInterval": "often"}}, "Raft.SnapshotInterval must be an integer"),
        ({"EncryptionConfig": {"AutoLockManagers": "yes"}}, "AutoLockManagers must be a boolean"),
        ({"Labels": {"k": 1}}, "invalid label value"),
    ],
)
def test_bad_cluster_updates(store, change, message):
    with pytest.raises(InvalidArgument, match=message):
        controlapi.update_cluster(store.cluster(), change, 1, LATER)


def test_auto_accept_policy():
    assert auto_accept_policy(["worker", "manager"]) == {"worker": True, "manager": True}
    assert auto_accept_policy("none") == {"worker": False, "manager": False}
    with pytest.raises(InvalidArgument):
        auto_accept_policy(["everyone"])
    with pytest.raises(InvalidArgument):
        auto_accept_policy(["none", "worker"])


def test_create_cluster_checks_its_arguments():
    with pytest.raises(InvalidArgument, match="data path port"):
        controlapi.create_cluster(
            "c", NOW, join_tokens=TOKENS, root_public_key="k", data_path_port=80
        )
    with pytest.raises(InvalidArgument, match="subnet size"):
        controlapi.create_cluster("c", NOW, join_tokens=TOKENS, root_public_key="k", subnet_size=40)


# -- nodes ------------------------------------------------------------------------------------
def test_new_node_shape(store):
    m1 = store.get("node", "m1")
    assert m1["Spec"] == {
        "Labels": {},
        "Role": "manager",
        "Availability": "active",
        "Membership": "accepted",
    }
    assert m1["Description"]["Hostname"] == "host1"
    assert m1["Status"] == {"State": "unknown", "Addr": "10.0.0.1"}
    assert m1["ManagerStatus"] == {"Reachability": "unknown", "Addr": "10.0.0.1:2377"}
    assert "ManagerStatus" not in store.get("node", "w1")
    assert store.resolve("node", "host2")["ID"] == "w1"


def test_node_update_availability_labels_and_role(store):
    w1 = store.get("node", "w1")
    spec = {"Labels": {"zone": "a"}, "Availability": "DRAIN"}
    updated = run(store, controlapi.update_node(w1, spec, w1["Version"]["Index"], LATER, store))
    assert updated["Spec"] == {
        "Labels": {"zone": "a"},
        "Role": "worker",
        "Availability": "drain",
        "Membership": "accepted",
    }
    promoted = run(
        store,
        controlapi.update_node(
            updated,
            {**updated["Spec"], "Role": "manager"},
            updated["Version"]["Index"],
            LATER,
            store,
        ),
    )
    assert promoted["Spec"]["Role"] == "manager"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Role": "boss"}, 'invalid Role: "boss"'),
        ({"Availability": "sleeping"}, 'invalid Availability: "sleeping"'),
        ({"Membership": "maybe"}, 'invalid Membership: "maybe"'),
        ({"Labels": {"a": None}}, "invalid label value"),
        ({"Name": 5}, "NodeSpec.Name must be a string"),
        ("drain", "node spec must be an object"),
    ],
)
def test_bad_node_specs(store, spec, message):
    with pytest.raises(InvalidArgument, match=message):
        controlapi.update_node(store.get("node", "w1"), spec, 1, LATER, store)


def test_demoting_the_last_manager_is_refused(store):
    m1 = store.get("node", "m1")
    with pytest.raises(FailedPrecondition) as err:
        controlapi.update_node(m1, {"Role": "worker"}, m1["Version"]["Index"], LATER, store)
    assert str(err.value) == (
        "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm"
    )


def test_node_removal_rules_and_revocation(store):
    with pytest.raises(FailedPrecondition, match="must be demoted to worker before removal"):
        controlapi.remove_node(store.get("node", "m1"), True, store.cluster(), LATER)
    w1 = copy.deepcopy(store.get("node", "w1"))
    w1["Status"]["State"] = "ready"
    w1 = run(store, commands.update("node", w1))
    with pytest.raises(FailedPrecondition, match="node w1 is not down and can't be removed"):
        controlapi.remove_node(w1, False, store.cluster(), LATER)
    run(store, controlapi.remove_node(w1, True, store.cluster(), LATER))
    assert store.get("node", "w1") is None
    assert store.cluster()["Swarmlet"]["RevokedNodes"] == ["w1"]


def test_pending_node_is_accepted_once(store):
    run(store, controlapi.new_node("p1", NOW, "host3", "worker", "10.0.0.3", membership="pending"))
    pending = store.get("node", "p1")
    accepted = run(store, controlapi.accept_node(pending, LATER))
    assert accepted["Spec"]["Membership"] == "accepted"
    with pytest.raises(FailedPrecondition, match="already accepted"):
        controlapi.accept_node(accepted, LATER)


# -- networks ---------------------------------------------------------------------------------
def test_network_create_builds_the_swarm_network_object(store):
    request = {
        "Name": "backend",
        "Driver": "overlay",
        "Attachable": True,
        "Options": {"encrypted": ""},
        "Labels": {"team": "a"},
        "IPAM": {"Config": [{"Subnet": "10.10.0.0/24", "Gateway": "10.10.0.1"}]},
    }
    net = run(store, controlapi.create_network(request, NOW, "n1", store))
    assert net["Spec"] == {
        "Name": "backend",
        "Labels": {"team": "a"},
        "DriverConfiguration": {"Name": "overlay", "Options": {"encrypted": ""}},
        "IPv6Enabled": False,
        "Internal": False,
        "Attachable": True,
        "Ingress": False,
        "IPAMOptions": {
            "Driver": {"Name": "default", "Options": {}},
            "Configs": [{"Subnet": "10.10.0.0/24", "Gateway": "10.10.0.1"}],
        },
        "Scope": "swarm",
    }
    dup = controlapi.create_network({"Name": "backend"}, NOW, "n2", store)
    assert isinstance(
        store.apply(store.applied_index + 1, commands.encode(dup)).error, AlreadyExists
    )


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"Name": ""}, "meta: name must be provided"),
        ({"Name": "bad/name"}, "invalid network name 'bad/name'"),
        ({"Name": "n", "Driver": "bridge"}, 'network driver "bridge" is not supported in a swarm'),
        (
            {"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.0.300/24"}]}},
            "invalid subnet 10.0.0.300/24",
        ),
        (
            {"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.0.1/24"}]}},
            "invalid subnet 10.0.0.1/24",
        ),
        (
            {"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "Gateway": "10.9.0.1"}]}},
            "invalid gateway 10.9.0.1",
        ),
        (
            {
                "Name": "n",
                "IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "IPRange": "10.1.0.0/25"}]},
            },
            "invalid ip range",
        ),
        ({"Name": "n", "Attachable": "yes"}, "Attachable must be a boolean"),
        (
            {"Name": "n", "Ingress": True, "Attachable": True},
            "ingress network cannot be attachable",
        ),
        ({"Name": "n", "Options": {"mtu": 1400}}, "invalid label value"),
    ],
)
def test_bad_network_requests(request_body, message):
    with pytest.raises(InvalidArgument, match=message):
        controlapi.create_network(request_body, NOW, "n1")


def test_only_one_ingress_network(store):
    run(store, controlapi.create_network({"Name": "ingress", "Ingress": True}, NOW, "i1", store))
    with pytest.raises(FailedPrecondition, match=r"ingress network \(i1\) is already present"):
        controlapi.create_network({"Name": "ingress2", "Ingress": True}, NOW, "i2", store)


def test_network_in_use_cannot_be_removed(store):
    net = run(store, controlapi.create_network({"Name": "appnet"}, NOW, "n1", store))
    svc = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}, "Networks": [{"Target": "appnet"}]},
    }
    run(store, controlapi.create_service(svc, NOW, "s1", store))
    with pytest.raises(FailedPrecondition, match="network n1 is in use by service s1"):
        controlapi.remove_network(net, store)
    run(store, controlapi.remove_service(store.get("service", "s1")))
    run(store, controlapi.remove_network(net, store))
    assert store.get("network", "n1") is None


# -- secrets and configs ----------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("kind", ["secret", "config"])
def test_secret_and_config_life_cycle(store, kind):
    create = getattr(controlapi, f"create_{kind}")
    update = getattr(controlapi, f"update_{kind}")
    remove = getattr(controlapi, f"remove_{kind}")
    obj = run(store, create({"Name": "db.pass", "Data": b64(b"hunter2")}, NOW, "x1"))
    assert obj["Spec"] == {"Name": "db.pass", "Labels": {}, "Data": b64(b"hunter2")}
    relabelled = run(
        store,
        update(obj, {"Name": "db.pass", "Labels": {"a": "b"}}, obj["Version"]["Index"], LATER),
    )
    assert relabelled["Spec"]["Labels"] == {"a": "b"}
    assert relabelled["Spec"]["Data"] == b64(b"hunter2")
    with pytest.raises(InvalidArgument, match="only updates to Labels are allowed"):
        update(relabelled, {"Name": "db.pass", "Data": b64(b"other")}, 1, LATER)
    with pytest.raises(InvalidArgument, match="only updates to Labels are allowed"):
        update(relabelled, {"Name": "renamed"}, 1, LATER)
    ref_key = "SecretID" if kind == "secret" else "ConfigID"
    svc = {
        "Name": "web",
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox",
                f"{kind.capitalize()}s": [
                    {
                        "File": {"Name": "f", "UID": "0", "GID": "0", "Mode": 0o444},
                        ref_key: "x1",
                        f"{kind.capitalize()}Name": "db.pass",
                    }
                ],
            }
        },
    }
    run(store, controlapi.create_service(svc, NOW, "s1", store))
    with pytest.raises(InvalidArgument) as err:
        remove(relabelled, store)
    assert err.value.desc == f"{kind} 'db.pass' is in use by the following service: web"
    run(store, controlapi.remove_service(store.get("service", "s1")))
    run(store, remove(relabelled, store))


def test_secret_data_is_hidden_from_docker_view(store):
    obj = run(store, controlapi.create_secret({"Name": "s", "Data": b64(b"x")}, NOW, "x1"))
    assert "Data" not in objects.docker_view("secret", obj)["Spec"]
    assert obj["Spec"]["Data"] == b64(b"x")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Name": "", "Data": b64(b"x")}, "meta: name must be provided"),
        (
            {"Name": "-bad", "Data": b64(b"x")},
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed",
        ),
        ({"Name": "a" * 65, "Data": b64(b"x")}, "invalid name"),
        ({"Name": "ok"}, "secret data must be base64-encoded"),
        ({"Name": "ok", "Data": "not base64!"}, "secret data must be base64-encoded"),
        (
            {"Name": "ok", "Data": ""},
            "secret data must be larger than 0 and less than 512000 bytes",
        ),
        (
            {"Name": "ok", "Data": b64(b"x" * 512000)},
            "secret data must be larger than 0 and less than 512000 bytes",
        ),
        ({"Name": "ok", "Data": b64(b"x"), "Labels": {"a": 1}}, "invalid label value"),
    ],
)
def test_bad_secret_specs(spec, message):
    with pytest.raises(InvalidArgument) as err:
        controlapi.create_secret(spec, NOW, "x1")
    assert message in err.value.desc


def test_largest_allowed_secret():
    controlapi.create_secret({"Name": "big", "Data": b64(b"x" * (512000 - 1))}, NOW, "x1")
