"""Services and tasks through the real CLI and client against the manager's API routes."""

from __future__ import annotations

import json

import pytest

from swarmlet.api.client import APIError
from swarmlet.store import objects
from swarmlet.store.commands import create, update
from tests.unit.cluster_api_server import MANAGER_ID, ClusterApiServer


@pytest.fixture(scope="module")
def server():
    with ClusterApiServer() as s:
        yield s


@pytest.fixture
def api(server):
    server.reset()
    return server


def _service(api, name: str) -> dict:
    return api.client().get(f"/services/{name}")


def _put_task(api, task: dict, state: str, node: str, desired: str = "running") -> dict:
    task = objects.with_status(task, state, api.now(), state)
    task["NodeID"] = node
    task["DesiredState"] = desired
    return api.propose(create(objects.TASK, task))


def _task(api, task_id: str, service: dict, slot: int, state: str, **kw) -> dict:
    task = objects.new_task(task_id, service, api.now(), slot=slot)
    return _put_task(api, task, state, kw.pop("node", MANAGER_ID), **kw)


def test_create_ls_inspect_columns(api):
    code, out, err = api.cli(
        "service", "create", "-d", "--name", "web", "--replicas", "3", "-p", "8080:80", "busybox"
    )
    assert (code, err) == (0, "")
    service_id = out.strip()
    assert len(service_id) == 25
    service = _service(api, "web")
    assert service["ID"] == service_id
    assert service["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox"
    assert service["Endpoint"]["Spec"]["Ports"][0]["PublishedPort"] == 8080
    for slot, state in ((1, "running"), (2, "running"), (3, "pending")):
        _task(api, f"t{slot}" + "x" * 23, service, slot, state)
    code, out, err = api.cli("service", "ls")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert row.split() == [service_id[:12], "web", "replicated", "2/3", "busybox", "*:8080->80/tcp"]
    code, out, _ = api.cli("service", "inspect", "web")
    assert code == 0
    inspected = json.loads(out)
    assert [s["ID"] for s in inspected] == [service_id]
    assert list(inspected[0])[:5] == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec"]
    assert "ServiceStatus" not in inspected[0]
    code, out, _ = api.cli("service", "inspect", "--format", "{{.Spec.Name}}", service_id[:6])
    assert (code, out) == (0, "web\n")


def test_create_answers_201_with_id_and_null_warnings(api):
    resp = api.client()._open(
        "POST",
        "/v1.41/services/create",
        None,
        {"Name": "api", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}},
    )
    body = json.loads(resp.read())
    assert resp.status == 201
    assert set(body) == {"ID", "Warnings"} and body["Warnings"] is None


def test_create_without_name_gets_a_generated_one(api):
    api.cli("service", "create", "-d", "busybox")
    (service,) = api.client().get("/services")
    adjective, _, surname = service["Spec"]["Name"].partition("_")
    assert adjective and surname


def test_status_counts_like_docker(api):
    api.cli("service", "create", "-d", "--name", "g", "--mode", "global", "busybox")
    g = _service(api, "g")
    _task(api, "g1" + "x" * 23, g, 0, "running", desired="running")
    _task(api, "g2" + "x" * 23, g, 0, "pending", desired="running")
    _task(api, "g3" + "x" * 23, g, 0, "shutdown", desired="shutdown")
    api.cli("service", "create", "-d", "--name", "job", "--mode", "replicated-job", "busybox")
    job = _service(api, "job")
    _task(api, "j1" + "x" * 23, job, 1, "complete", desired="complete")
    listed = {
        s["Spec"]["Name"]: s["ServiceStatus"] for s in api.client().get("/services", status="true")
    }
    assert listed["g"] == {"RunningTasks": 1, "DesiredTasks": 2}
    assert listed["job"] == {"RunningTasks": 0, "DesiredTasks": 1, "CompletedTasks": 1}
    assert all("ServiceStatus" not in s for s in api.client().get("/services"))


def test_ls_filters(api):
    api.cli("service", "create", "-d", "--name", "web", "-l", "tier=front", "busybox")
    api.cli("service", "create", "-d", "--name", "worker", "--mode", "global", "busybox")
    api.cli("service", "create", "-d", "--name", "db", "-l", "tier=back", "busybox")

    def names(*filters):
        args = [a for f in filters for a in ("-f", f)]
        code, out, err = api.cli("service", "ls", "--format", "{{.Name}}", *args)
        assert code == 0, err
        return sorted(out.split())

    assert names("name=w") == ["web", "worker"]
    assert names("mode=global") == ["worker"]
    assert names("label=tier") == ["db", "web"]
    assert names("label=tier=back") == ["db"]
    assert names("name=w", "mode=replicated") == ["web"]
    assert names(f"id={_service(api, 'db')['ID'][:8]}") == ["db"]
    with pytest.raises(APIError) as excinfo:
        api.client().get("/services", filters={"colour": {"red": True}})
    assert (excinfo.value.status, excinfo.value.message) == (400, "invalid filter 'colour'")


def test_update_scale_rollback_rm(api):
    api.cli("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox:1")
    before = _service(api, "web")
    code, out, err = api.cli("service", "update", "-d", "--image", "busybox:2", "web")
    assert (code, out, err) == (0, "web\n", "")
    updated = _service(api, "web")
    assert updated["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:2"
    assert updated["PreviousSpec"] == before["Spec"]
    assert updated["Version"]["Index"] > before["Version"]["Index"]
    code, out, _ = api.cli("service", "scale", "web=5")
    assert (code, out) == (0, "web scaled to 5\n")
    assert _service(api, "web")["Spec"]["Mode"]["Replicated"]["Replicas"] == 5
    code, out, _ = api.cli("service", "rollback", "-d", "web")
    assert (code, out) == (0, "web\n")
    rolled = _service(api, "web")
    assert rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:2"
    assert rolled["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    assert rolled["UpdateStatus"]["State"] == "rollback_started"
    code, out, _ = api.cli("service", "update", "-d", "--rollback", "web")
    assert code == 0
    assert _service(api, "web")["Spec"]["Mode"]["Replicated"]["Replicas"] == 5
    code, out, _ = api.cli("service", "rm", "web")
    assert (code, out) == (0, "web\n")
    assert api.client().get("/services") == []


def test_update_answers_warnings_null(api):
    api.cli("service", "create", "-d", "--name", "web", "busybox")
    service = _service(api, "web")
    resp = api.client().request(
        "POST",
        f"/services/{service['ID']}/update",
        {"version": service["Version"]["Index"]},
        service["Spec"],
    )
    assert resp == {"Warnings": None}


def test_version_mismatch_is_out_of_sequence_and_not_retried(api):
    api.cli("service", "create", "-d", "--name", "web", "busybox")
    service = _service(api, "web")
    client = api.client()
    path = f"/services/{service['ID']}/update"
    version = {"version": service["Version"]["Index"]}
    client.request("POST", path, version, service["Spec"])
    stale = dict(service["Spec"], Labels={"late": "1"})
    with pytest.raises(APIError) as excinfo:
        client.request("POST", path, version, stale)
    assert excinfo.value.status == 500
    assert excinfo.value.message == "rpc error: code = Unknown desc = update out of sequence"
    assert "late" not in _service(api, "web")["Spec"]["Labels"]
    for bad in ({}, {"version": "x"}):
        with pytest.raises(APIError) as excinfo:
            client.request("POST", path, bad, service["Spec"])
        assert excinfo.value.status == 400
        assert excinfo.value.message.startswith("invalid service version '")


def test_errors_bad_spec_unknown_ambiguous_conflict(api):
    code, _, err = api.cli("service", "create", "-d", "--name", "web", "busybox")
    assert code == 0
    code, _, err = api.cli("service", "create", "-d", "--name", "web", "busybox")
    assert code == 1
    assert err == (
        "Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts "
        "with an existing object: service web already exists\n"
    )
    code, _, err = api.cli("service", "create", "-d", "--name", "bad", "NOT/VALID:")
    assert code == 1
    assert err.startswith("Error response from daemon: rpc error: code = InvalidArgument desc = ")
    code, _, err = api.cli("service", "inspect", "ghost")
    assert (code, err) == (1, "Error response from daemon: service ghost not found\n")
    code, _, err = api.cli("service", "rm", "ghost")
    assert (code, err) == (1, "Error response from daemon: service ghost not found\n")
    # Two services whose IDs share a prefix.
    spec = _service(api, "web")["Spec"]
    for sid, name in (("abc1" + "x" * 21, "one"), ("abc2" + "x" * 21, "two")):
        api.propose(
            create(
                objects.SERVICE,
                {"ID": sid, "Version": {"Index": 0}, "Spec": {**spec, "Name": name}},
            )
        )
    code, _, err = api.cli("service", "inspect", "abc")
    assert (code, err) == (
        1,
        "Error response from daemon: service abc is ambiguous (2 matches found)\n",
    )
    with pytest.raises(APIError) as excinfo:
        api.client().get("/services/abc")
    assert excinfo.value.status == 400
    code, out, err = api.cli("service", "scale", "one=2", "ghost=1")
    assert code == 1
    assert out == "one scaled to 2\n"
    assert err == "Error response from daemon: service ghost not found\n"


def test_unchanged_state_when_a_write_fails(api):
    api.cli("service", "create", "-d", "--name", "web", "-p", "80:80", "busybox")
    code, _, err = api.cli("service", "create", "-d", "--name", "other", "-p", "80:80", "busybox")
    assert code == 1
    assert "port '80' is already in use by service 'web'" in err
    assert [s["Spec"]["Name"] for s in api.client().get("/services")] == ["web"]


def test_ps_and_task_filters(api):
    api.add_node("w2bbbbbbbbbbbbbbbbbbbbbbb", "node2")
    api.cli("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox")
    api.cli("service", "create", "-d", "--name", "db", "busybox")
    web, db = _service(api, "web"), _service(api, "db")
    _task(api, "wa" + "x" * 23, web, 1, "shutdown", desired="shutdown")
    _task(api, "wb" + "x" * 23, web, 1, "running")
    _task(api, "wc" + "x" * 23, web, 2, "running", node="w2bbbbbbbbbbbbbbbbbbbbbbb")
    _task(api, "da" + "x" * 23, db, 1, "running")
    code, out, err = api.cli("service", "ps", "web")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "NAME", "IMAGE", "NODE"]
    names = [line.split()[1] if "\\_" not in line else line.split()[2] for line in lines[1:]]
    assert names == ["web.1", "web.1", "web.2"]
    assert "\\_ web.1" in lines[2]
    assert lines[3].split()[3] == "node2"

    def ids(*filters, cmd=("service", "ps", "-q", "web")):
        args = [a for f in filters for a in ("-f", f)]
        code, out, err = api.cli(*cmd, *args)
        assert code == 0, err
        return sorted(t[:2] for t in out.split())

    assert ids("desired-state=running") == ["wb", "wc"]
    assert ids("node=node2") == ["wc"]
    assert ids("name=web.2") == ["wc"]
    assert ids("id=wa") == ["wa"]
    assert ids(cmd=("node", "ps", "-q", "node2")) == ["wc"]
    assert ids(cmd=("node", "ps", "-q")) == ["da", "wa", "wb"]  # self
    assert ids(cmd=("service", "ps", "-q", "web", "db")) == ["da", "wa", "wb", "wc"]
    client = api.client()
    assert [t["ID"][:2] for t in client.get("/tasks", filters={"service": ["db"]})] == ["da"]
    with pytest.raises(APIError) as excinfo:
        client.get("/tasks", filters={"service": ["ghost"]})
    assert (excinfo.value.status, excinfo.value.message) == (404, "service ghost not found")
    with pytest.raises(APIError) as excinfo:
        client.get("/tasks", filters={"desired-state": ["sleeping"]})
    assert excinfo.value.message == "Invalid desired-state filter: 'sleeping'"
    api.cli("service", "update", "-d", "--image", "busybox:2", "db")
    assert client.get("/tasks", filters={"_up-to-date": ["true"], "service": ["db"]}) == []


def test_task_inspect_by_id_prefix_and_name(api):
    api.cli("service", "create", "-d", "--name", "web", "busybox")
    web = _service(api, "web")
    _task(api, "ta" + "x" * 23, web, 1, "running")
    _task(api, "tb" + "x" * 23, web, 2, "running")
    client = api.client()
    assert client.get("/tasks/ta")["ID"] == "ta" + "x" * 23
    assert client.get(f"/tasks/web.2.{'tb' + 'x' * 23}")["Slot"] == 2
    with pytest.raises(APIError) as excinfo:
        client.get("/tasks/t")
    assert (excinfo.value.status, excinfo.value.message) == (
        400,
        "task t is ambiguous (2 matches found)",
    )
    with pytest.raises(APIError) as excinfo:
        client.get("/tasks/zz")
    assert (excinfo.value.status, excinfo.value.message) == (404, "task zz not found")


def test_concurrent_change_between_read_and_write_is_reported(api):
    """A write built on a version someone else replaced fails; nothing is merged."""
    api.cli("service", "create", "-d", "--name", "web", "busybox")
    service = _service(api, "web")
    changed = objects.edit(api.read(lambda s: s.resolve(objects.SERVICE, "web")))
    changed["Spec"]["Labels"] = {"by": "other"}
    api.propose(update(objects.SERVICE, changed))
    code, _, err = api.cli("service", "update", "-d", "--label-add", "by=me", service["ID"])
    assert code == 0  # the CLI re-reads the service: its version is current
    assert _service(api, "web")["Spec"]["Labels"] == {"by": "me"}
    with pytest.raises(APIError):
        api.client().request(
            "POST",
            f"/services/{service['ID']}/update",
            {"version": service["Version"]["Index"]},
            service["Spec"],
        )
