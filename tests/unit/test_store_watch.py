from swarmlet.store import CREATE, REMOVE, RESET, UPDATE, Store, objects
from tests.unit.store_fixtures import apply, commands, service, task


def test_events_arrive_in_apply_order_with_old_objects():
    store = Store()
    sub = store.watch()
    apply(store, 1, commands.create("service", service("s1", "web")))
    edited = objects.edit(store.get("service", "s1"))
    edited["Spec"]["Labels"] = {"k": "v"}
    apply(store, 2, commands.update("service", edited))
    apply(store, 3, commands.delete("service", "s1"))
    events = sub.drain()
    assert [(e.kind, e.action, e.index) for e in events] == [
        ("service", CREATE, 1),
        ("service", UPDATE, 2),
        ("service", REMOVE, 3),
    ]
    assert events[0].old is None
    assert events[1].old["Spec"]["Labels"] == {}
    assert events[1].object["Spec"]["Labels"] == {"k": "v"}
    assert events[2].object["ID"] == "s1"
    assert sub.drain() == []


def test_batch_events_in_op_order_and_failed_commands_send_nothing():
    store = Store()
    sub = store.watch()
    apply(
        store,
        1,
        commands.batch(
            commands.create("task", task("t2", "s1")),
            commands.create("task", task("t1", "s1")),
        ),
    )
    apply(store, 2, commands.delete("task", "missing"))
    assert [e.object["ID"] for e in sub.drain()] == ["t2", "t1"]


def test_filters_by_kind_id_and_action():
    store = Store()
    tasks_only = store.watch(kinds={"task"})
    one = store.watch(ids={"t1"})
    removals = store.watch(actions={REMOVE})
    apply(store, 1, commands.create("service", service("s1", "web")))
    apply(store, 2, commands.create("task", task("t1", "s1")))
    apply(store, 3, commands.create("task", task("t2", "s1")))
    apply(store, 4, commands.delete("task", "t1"))
    assert [(e.object["ID"], e.action) for e in tasks_only.drain()] == [
        ("t1", CREATE),
        ("t2", CREATE),
        ("t1", REMOVE),
    ]
    assert [(e.object["ID"], e.action) for e in one.drain()] == [("t1", CREATE), ("t1", REMOVE)]
    assert [e.object["ID"] for e in removals.drain()] == ["t1"]


def test_unwatch_stops_delivery():
    store = Store()
    sub = store.watch()
    store.unwatch(sub)
    apply(store, 1, commands.create("service", service("s1", "web")))
    assert sub.drain() == []


def test_slow_subscriber_overflows_and_resyncs():
    store = Store()
    sub = store.watch(max_queue=2)
    for i in range(3):
        apply(store, i + 1, commands.create("service", service(f"s{i}", f"n{i}")))
    assert sub.overflowed
    assert sub.drain() == []
    apply(store, 4, commands.create("service", service("s9", "n9")))
    assert sub.drain() == []
    sub.resync()
    apply(store, 5, commands.delete("service", "s9"))
    assert [e.action for e in sub.drain()] == [REMOVE]


def test_restore_sends_reset_to_every_subscriber():
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    snap = store.snapshot()
    sub = store.watch(kinds={"task"}, ids={"none"})
    store.restore(snap)
    events = sub.drain()
    assert [(e.action, e.index) for e in events] == [(RESET, 1)]


def test_predicate_follows_the_tasks_of_one_node():
    store = Store()

    def on_n1(event):
        return "n1" in (event.object.get("NodeID"), (event.old or {}).get("NodeID"))

    sub = store.watch(kinds={"task"}, predicate=on_n1)
    apply(store, 1, commands.create("task", task("t1", "s1", node_id="n1")))
    apply(store, 2, commands.create("task", task("t2", "s1", node_id="n2")))
    moved = objects.edit(store.get("task", "t1"))
    moved["NodeID"] = "n2"
    apply(store, 3, commands.update("task", moved))
    assert [(e.object["ID"], e.action) for e in sub.drain()] == [("t1", CREATE), ("t1", UPDATE)]


def test_a_failing_predicate_closes_its_subscription_not_the_store():
    store = Store()
    broken = store.watch(predicate=lambda event: 1 / 0)
    healthy = store.watch()
    assert apply(store, 1, commands.create("service", service("s1", "web"))).ok
    assert broken.closed and isinstance(broken.error, ZeroDivisionError)
    assert len(healthy.drain()) == 1
