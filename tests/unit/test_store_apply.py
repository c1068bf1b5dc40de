import json

import pytest

from swarmlet.store import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    OutOfSequence,
    Store,
    codec,
    objects,
)
from swarmlet.store.errors import StoreError
from tests.unit.store_fixtures import apply, commands, node, secret, service, task


def test_task_states_keep_dockers_numeric_order():
    assert objects.TASK_STATES["new"] == 0
    assert objects.TASK_STATES["running"] == 512
    assert objects.TASK_STATES["orphaned"] == 832
    order = list(objects.TASK_STATES.values())
    assert order == sorted(order)


def test_can_transition_only_forward():
    assert objects.can_transition("new", "pending")
    assert objects.can_transition("assigned", "running")
    assert objects.can_transition("running", "failed")
    assert not objects.can_transition("running", "running")
    assert not objects.can_transition("running", "assigned")
    assert not objects.can_transition("failed", "running")
    with pytest.raises(ValueError):
        objects.can_transition("running", "bogus")


def test_object_json_round_trip_is_exact():
    store = Store()
    svc = service("s1", "web")
    svc["Spec"]["UpdateConfig"] = {"Parallelism": 1, "MaxFailureRatio": 0.25}
    created = apply(store, 1, commands.create("service", svc)).unwrap()
    text = objects.to_json(created)
    assert objects.from_json(text) == created
    assert objects.to_json(objects.from_json(text)) == text
    assert json.loads(json.dumps(created)) == created


def test_create_sets_version_to_raft_index_and_keeps_given_fields():
    store = Store()
    res = apply(store, 7, commands.create("service", service("s1", "web")))
    assert res.ok
    got = store.get("service", "s1")
    assert got["Version"] == {"Index": 7}
    assert got["CreatedAt"] == "2026-11-27T18:00:00.000000000Z"
    assert got["Spec"]["Name"] == "web"
    assert store.applied_index == 7


def test_update_with_current_version_replaces_and_bumps_version():
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    edited = objects.edit(store.get("service", "s1"))
    edited["Spec"]["Mode"]["Replicated"]["Replicas"] = 5
    res = apply(store, 2, commands.update("service", edited))
    assert res.ok
    assert store.get("service", "s1")["Version"]["Index"] == 2
    assert objects.dig(store.get("service", "s1"), "Spec.Mode.Replicated.Replicas") == 5


def test_stale_version_is_update_out_of_sequence_and_changes_nothing():
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    stale = objects.edit(store.get("service", "s1"))
    fresh = objects.edit(stale)
    fresh["Spec"]["Labels"] = {"a": "b"}
    assert apply(store, 2, commands.update("service", fresh)).ok
    before = store.snapshot()
    stale["Spec"]["Labels"] = {"x": "y"}
    res = apply(store, 3, commands.update("service", stale))
    assert isinstance(res.error, OutOfSequence)
    assert str(res.error) == "rpc error: code = Unknown desc = update out of sequence"
    assert store.get("service", "s1")["Spec"]["Labels"] == {"a": "b"}
    # Only the applied index moved.
    after = Store()
    after.restore(before)
    assert after.list("service") == store.list("service")
    assert store.applied_index == 3


def test_delete_and_delete_with_stale_version():
    store = Store()
    apply(store, 1, commands.create("secret", secret("x1", "pw")))
    res = apply(store, 2, commands.delete("secret", "x1", version=0))
    assert isinstance(res.error, OutOfSequence)
    assert store.get("secret", "x1") is not None
    assert apply(store, 3, commands.delete("secret", "x1", version=1)).ok
    assert store.get("secret", "x1") is None
    res = apply(store, 4, commands.delete("secret", "x1"))
    assert isinstance(res.error, NotFound)
    assert str(res.error) == "rpc error: code = NotFound desc = secret x1 not found"


def test_update_of_missing_object_is_not_found():
    store = Store()
    res = apply(store, 1, commands.update("service", service("nope", "web")))
    assert isinstance(res.error, NotFound)


def test_create_of_existing_id_fails():
    store = Store()
    apply(store, 1, commands.create("node", node("n1", "h1")))
    res = apply(store, 2, commands.create("node", node("n1", "h2")))
    assert isinstance(res.error, AlreadyExists)
    assert store.get("node", "n1")["Description"]["Hostname"] == "h1"


@pytest.mark.parametrize("kind", ["service", "secret", "network", "config"])
def test_name_conflicts_on_create_and_rename(kind):
    store = Store()
    apply(store, 1, commands.create(kind, secret("a1", "one")))
    apply(store, 2, commands.create(kind, secret("b1", "two")))
    res = apply(store, 3, commands.create(kind, secret("c1", "one")))
    assert isinstance(res.error, AlreadyExists)
    assert str(res.error) == (
        "rpc error: code = AlreadyExists desc = name conflicts with an existing object"
    )
    renamed = objects.edit(store.get(kind, "b1"))
    renamed["Spec"]["Name"] = "one"
    assert isinstance(apply(store, 4, commands.update(kind, renamed)).error, AlreadyExists)
    # Keeping one's own name is no conflict; a freed name can be taken.
    same = objects.edit(store.get(kind, "a1"))
    assert apply(store, 5, commands.update(kind, same)).ok
    assert apply(store, 6, commands.delete(kind, "a1")).ok
    assert apply(store, 7, commands.update(kind, renamed | {"Version": {"Index": 2}})).ok


def test_names_conflict_regardless_of_case_but_lookups_are_exact():
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    res = apply(store, 2, commands.create("service", service("s2", "WEB")))
    assert isinstance(res.error, AlreadyExists)
    assert store.find_by_name("service", "WEB") == []
    assert store.find_by_name("service", "web")[0]["ID"] == "s1"
    # Renaming to a different case of one's own name is allowed.
    renamed = objects.edit(store.get("service", "s1"))
    renamed["Spec"]["Name"] = "Web"
    assert apply(store, 3, commands.update("service", renamed)).ok


def test_nodes_may_share_a_hostname():
    store = Store()
    assert apply(store, 1, commands.create("node", node("n1", "h"))).ok
    assert apply(store, 2, commands.create("node", node("n2", "h"))).ok


def test_batch_is_all_or_nothing():
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    before = store.snapshot()
    sub = store.watch()
    cmd = commands.batch(
        commands.create("task", task("t1", "s1")),
        commands.create("task", task("t2", "s1", slot=2)),
        commands.create("service", service("s2", "web")),  # name conflict: all undone
    )
    res = apply(store, 2, cmd)
    assert isinstance(res.error, AlreadyExists)
    assert store.count("task") == 0
    assert store.tasks_by_service("s1") == []
    assert sub.drain() == []
    restored = Store()
    restored.restore(before)
    assert restored.index_dump() == store.index_dump()
    ok = apply(store, 3, commands.batch(*cmd["ops"][:2]))
    assert ok.ok and [o["ID"] for o in ok.objects] == ["t1", "t2"]
    assert [t["ID"] for t in store.tasks_by_service("s1")] == ["t1", "t2"]


def test_batch_can_touch_one_object_twice_with_versions_in_order():
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    first = objects.edit(store.get("service", "s1"))
    first["Spec"]["Labels"] = {"v": "1"}
    second = objects.edit(first)
    second["Version"] = {"Index": 2}
    second["Spec"]["Labels"] = {"v": "2"}
    res = apply(
        store,
        2,
        commands.batch(commands.update("service", first), commands.update("service", second)),
    )
    assert res.ok
    assert store.get("service", "s1")["Spec"]["Labels"] == {"v": "2"}


def test_task_status_cannot_move_backwards_in_the_store():
    store = Store()
    apply(store, 1, commands.create("task", task("t1", "s1", state="running")))
    back = objects.edit(store.get("task", "t1"))
    back["Status"]["State"] = "assigned"
    res = apply(store, 2, commands.update("task", back))
    assert isinstance(res.error, InvalidArgument)
    assert "invalid task state transition from running to assigned" in str(res.error)
    fwd = objects.edit(store.get("task", "t1"))
    fwd["Status"]["State"] = "failed"
    assert apply(store, 3, commands.update("task", fwd)).ok
    bogus = objects.edit(store.get("task", "t1"))
    bogus["DesiredState"] = "dancing"
    assert isinstance(apply(store, 4, commands.update("task", bogus)).error, InvalidArgument)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",
        commands.encode([1, 2]),
        commands.encode({"op": "explode", "kind": "service"}),
        commands.encode({"op": "create", "kind": "widget", "object": {"ID": "x"}}),
        commands.encode({"op": "create", "kind": "service", "object": {"ID": ""}}),
        commands.encode({"op": "create", "kind": "service", "object": "x"}),
        commands.encode({"op": "batch", "ops": []}),
        commands.encode({"op": "batch", "ops": [1]}),
        commands.encode({"op": "delete", "kind": "service", "id": 5}),
        commands.encode({"op": "create", "kind": "service", "object": {"ID": "x"}}) + b"\x00",
    ],
)
def test_bad_commands_are_refused_without_change(data):
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    before = store.snapshot()
    res = store.apply(2, data)
    assert not res.ok
    assert isinstance(res.error, StoreError)
    assert store.applied_index == 2
    probe = Store()
    probe.restore(before)
    assert probe.list("service") == store.list("service")


def test_an_index_already_applied_is_refused():
    store = Store()
    apply(store, 5, commands.create("service", service("s1", "web")))
    res = apply(store, 5, commands.create("service", service("s2", "db")))
    assert not res.ok
    assert store.get("service", "s2") is None
    assert store.applied_index == 5
    assert not store.apply(3, b"\xff").ok
    assert store.applied_index == 5


def test_unwrap_raises_the_commands_error():
    store = Store()
    res = apply(store, 1, commands.delete("service", "nope"))
    with pytest.raises(NotFound):
        res.unwrap()


def test_error_round_trips_through_a_dict():
    err = AlreadyExists("name conflicts with an existing object")
    back = StoreError.from_dict(err.to_dict())
    assert type(back) is AlreadyExists and str(back) == str(err)
    assert back.http_status == 409


def test_new_task_shape_and_status_moves():
    svc = service("s1", "web")
    t = objects.new_task("t1", svc, "2026-11-27T18:01:00Z", slot=2)
    assert list(t) == [
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Labels",
        "Spec",
        "ServiceID",
        "Slot",
        "Status",
        "DesiredState",
    ]
    assert t["Spec"] == svc["Spec"]["TaskTemplate"] and t["Spec"] is not svc["Spec"]["TaskTemplate"]
    assert t["Status"]["State"] == "new" and t["DesiredState"] == "running"
    g = objects.new_task(
        "t2", {**svc, "JobStatus": {"JobIteration": {"Index": 3}}}, "now", node_id="n1"
    )
    assert g["NodeID"] == "n1" and "Slot" not in g and g["JobIteration"] == {"Index": 3}
    store = Store()
    apply(store, 1, commands.create("task", t))
    running = objects.with_status(
        store.get("task", "t1"),
        "running",
        "later",
        "started",
        ContainerStatus={"ContainerID": "c1", "PID": 42, "ExitCode": 0},
    )
    got = apply(store, 2, commands.update("task", running)).unwrap()
    assert got["Status"]["ContainerStatus"]["PID"] == 42
    assert store.tasks_by_state("running")[0]["ID"] == "t1"
    with pytest.raises(ValueError):
        objects.with_status(got, "pending", "later")


def test_apply_result_crosses_the_wire():
    store = Store()
    ok = apply(store, 1, commands.create("service", service("s1", "web")))
    back = type(ok).from_wire(codec.decode(codec.encode(ok.to_wire())))
    assert back.ok and back.unwrap() == ok.unwrap() and back.index == 1
    bad = apply(store, 2, commands.create("service", service("s2", "web")))
    back = type(bad).from_wire(codec.decode(codec.encode(bad.to_wire())))
    assert isinstance(back.error, AlreadyExists) and str(back.error) == str(bad.error)


def test_empty_entry_is_a_no_op():
    store = Store()
    before = store.snapshot()
    res = store.apply(1, b"")
    assert res.ok and res.objects == []
    assert store.applied_index == 1
    assert store.list("service") == [] and before != store.snapshot()
