"""Networks, secrets and configs through the real CLI and client against the manager's routes."""

from __future__ import annotations

import base64
import json

import pytest

from swarmlet.api.client import APIError
from tests.unit.cluster_api_server import ClusterApiServer


@pytest.fixture(scope="module")
def server():
    with ClusterApiServer() as s:
        yield s


@pytest.fixture
def api(server):
    server.reset()
    return server


# -- networks ---------------------------------------------------------------------------------
def test_network_create_ls_inspect_rm(api):
    code, out, err = api.cli(
        "network", "create", "--subnet", "10.9.0.0/24", "--label", "team=a", "backend"
    )
    assert (code, err) == (0, "")
    network_id = out.strip()
    code, out, _ = api.cli("network", "ls")
    header, row = out.splitlines()
    assert header.split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert row.split() == [network_id[:12], "backend", "overlay", "swarm"]
    code, out, _ = api.cli("network", "inspect", "backend")
    (network,) = json.loads(out)
    assert network["Id"] == network_id
    assert network["Scope"] == "swarm" and network["Driver"] == "overlay"
    assert network["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24"}]
    assert network["Labels"] == {"team": "a"}
    code, out, _ = api.cli("network", "rm", network_id[:5])
    assert (code, out) == (0, f"{network_id[:5]}\n")
    assert api.client().get("/networks") == []


def test_network_create_answer_and_errors(api):
    resp = api.client()._open("POST", "/networks/create", None, {"Name": "front"})
    assert resp.status == 201
    body = json.loads(resp.read())
    assert body == {"Id": body["Id"], "Warning": ""}
    code, _, err = api.cli("network", "create", "front")
    assert (code, err) == (
        1,
        "Error response from daemon: network with name front already exists\n",
    )
    code, _, err = api.cli("network", "create", "bridge")
    assert code == 1
    assert (
        err == "Error response from daemon: bridge is a pre-defined network and cannot be created\n"
    )
    code, _, err = api.cli("network", "create", "-d", "macvlan", "mac")
    assert code == 1 and "rpc error: code = InvalidArgument" in err
    code, _, err = api.cli("network", "rm", "ghost")
    assert (code, err) == (1, "Error response from daemon: network ghost not found\n")


def test_network_in_use_cannot_be_removed_and_filters(api):
    api.cli("network", "create", "used")
    api.cli("network", "create", "--label", "keep", "idle")
    code, _, err = api.cli(
        "service", "create", "-d", "--name", "web", "--network", "used", "busybox"
    )
    assert code == 0, err
    code, _, err = api.cli("network", "rm", "used")
    assert code == 1 and "is in use by service" in err

    def names(*filters):
        args = [a for f in filters for a in ("-f", f)]
        code, out, err = api.cli("network", "ls", "--format", "{{.Name}}", *args)
        assert code == 0, err
        return sorted(out.split())

    assert names("dangling=true") == ["idle"]
    assert names("dangling=false") == ["used"]
    assert names("name=us") == ["used"]
    assert names("label=keep") == ["idle"]
    assert names("driver=overlay") == ["idle", "used"]
    assert names("type=builtin") == []


# -- secrets and configs ----------------------------------------------------------------------
def test_secret_crud_never_returns_data(api, tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_bytes(b"hunter2")
    code, out, err = api.cli("secret", "create", "-l", "env=prod", "db_pw", str(secret_file))
    assert (code, err) == (0, "")
    secret_id = out.strip()
    code, out, _ = api.cli("secret", "ls")
    header, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]
    assert row.split()[:2] == [secret_id, "db_pw"]
    code, out, _ = api.cli("secret", "inspect", "db_pw")
    (secret,) = json.loads(out)
    assert secret["ID"] == secret_id and "Data" not in secret["Spec"]
    assert secret["Spec"]["Labels"] == {"env": "prod"}
    assert all("Data" not in s["Spec"] for s in api.client().get("/secrets"))
    code, _, err = api.cli("secret", "create", "db_pw", str(secret_file))
    assert (code, err) == (
        1,
        "Error response from daemon: rpc error: code = AlreadyExists desc = secret db_pw "
        "already exists\n",
    )
    code, out, _ = api.cli("secret", "rm", "db_pw")
    assert (code, out) == (0, "db_pw\n")
    assert api.client().get("/secrets") == []


def test_secret_create_answer_update_and_use(api):
    client = api.client()
    data = base64.b64encode(b"x").decode()
    resp = client._open("POST", "/secrets/create", None, {"Name": "s1", "Data": data})
    assert resp.status == 201 and set(json.loads(resp.read())) == {"ID"}
    secret = client.get("/secrets/s1")
    version = {"version": secret["Version"]["Index"]}
    client.request(
        "POST", f"/secrets/{secret['ID']}/update", version, {"Name": "s1", "Labels": {"a": "b"}}
    )
    assert client.get("/secrets/s1")["Spec"]["Labels"] == {"a": "b"}
    with pytest.raises(APIError) as excinfo:  # the old version again
        client.request("POST", f"/secrets/{secret['ID']}/update", version, {"Name": "s1"})
    assert excinfo.value.message.endswith("update out of sequence")
    fresh = {"version": client.get("/secrets/s1")["Version"]["Index"]}
    with pytest.raises(APIError) as excinfo:
        client.request(
            "POST", f"/secrets/{secret['ID']}/update", fresh, {"Name": "s1", "Data": "eQ=="}
        )
    assert (
        excinfo.value.status == 400
        and "only updates to Labels are allowed" in excinfo.value.message
    )
    code, _, err = api.cli("service", "create", "-d", "--name", "web", "--secret", "s1", "busybox")
    assert code == 0, err
    code, _, err = api.cli("secret", "rm", "s1")
    assert code == 1
    assert err == (
        "Error response from daemon: rpc error: code = InvalidArgument desc = secret 's1' is "
        "in use by the following service: web\n"
    )
    code, _, err = api.cli("service", "create", "-d", "--name", "x", "--secret", "ghost", "busybox")
    assert (code, err) == (1, "secret not found: ghost\n")


def test_config_crud_keeps_data_and_filters(api):
    for name, label in (("app.conf", "a"), ("app.env", "b"), ("other", "a")):
        code, _, err = api.cli("config", "create", "-l", f"grp={label}", name, "-", stdin=b"k=v\n")
        assert code == 0, err
    config = api.client().get("/configs/app.conf")
    assert base64.b64decode(config["Spec"]["Data"]) == b"k=v\n"

    def names(*filters):
        args = [a for f in filters for a in ("-f", f)]
        code, out, err = api.cli("config", "ls", "--format", "{{.Name}}", *args)
        assert code == 0, err
        return sorted(out.split())

    assert names("name=app") == ["app.conf", "app.env"]
    assert names("names=app") == []
    assert names("names=other") == ["other"]
    assert names("label=grp=a") == ["app.conf", "other"]
    assert names(f"id={config['ID'][:10]}") == ["app.conf"]
    code, _, err = api.cli("config", "inspect", "app.")
    assert (code, err) == (1, "Error response from daemon: config app. not found\n")
    code, out, _ = api.cli("config", "rm", "app.conf", "ghost")
    assert code == 1 and out == "app.conf\n"
    code, _, err = api.cli("config", "create", "bad name", "-", stdin=b"x")
    assert code == 1 and "invalid name" in err
    code, _, err = api.cli("config", "create", "empty", "-", stdin=b"")
    assert code == 1 and "data must be larger than 0" in err
