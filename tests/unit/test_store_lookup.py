import pytest

from swarmlet.store import Ambiguous, NotFound, Store, objects
from tests.unit.store_fixtures import apply, commands, node, service, task


@pytest.fixture
def store():
    s = Store()
    apply(
        s,
        1,
        commands.batch(
            commands.create("service", service("abc123", "web")),
            commands.create("service", service("abd456", "db")),
            commands.create("service", service("xyz789", "abc")),
            commands.create("node", node("n1aaaa", "host1", "manager")),
            commands.create("node", node("n2bbbb", "host2")),
            commands.create("node", node("n3cccc", "twin")),
            commands.create("node", node("n4dddd", "twin")),
        ),
    )
    return s


def test_resolve_by_full_id_then_name_then_prefix(store):
    assert store.resolve("service", "abc123")["Spec"]["Name"] == "web"
    assert store.resolve("service", "db")["ID"] == "abd456"
    # A name wins over an ID prefix, as in Docker.
    assert store.resolve("service", "abc")["ID"] == "xyz789"
    assert store.resolve("service", "abd")["ID"] == "abd456"
    assert store.resolve("node", "host2")["ID"] == "n2bbbb"
    assert store.resolve("node", "n1")["ID"] == "n1aaaa"


def test_resolve_ambiguous_prefix_and_name_use_dockers_words(store):
    with pytest.raises(Ambiguous) as err:
        store.resolve("service", "ab")
    assert err.value.desc == "service ab is ambiguous (2 matches found)"
    with pytest.raises(Ambiguous) as err:
        store.resolve("node", "twin")
    assert err.value.desc == "node twin is ambiguous (2 matches found)"
    with pytest.raises(Ambiguous):
        store.resolve("node", "n")


def test_resolve_not_found(store):
    with pytest.raises(NotFound) as err:
        store.resolve("service", "nothing")
    assert err.value.desc == "service nothing not found"
    with pytest.raises(NotFound):
        store.resolve("service", "")


def test_prefix_index_follows_writes_and_removals(store):
    apply(store, 2, commands.create("service", service("abc999", "api")))
    assert [s["ID"] for s in store.find_by_id_prefix("service", "abc")] == ["abc123", "abc999"]
    apply(store, 3, commands.delete("service", "abc123"))
    assert [s["ID"] for s in store.find_by_id_prefix("service", "abc")] == ["abc999"]
    assert store.resolve("service", "abc9")["Spec"]["Name"] == "api"
    # Many writes between reads take the full re-sort path.
    ops = [commands.create("service", service(f"zz{i:03}", f"s{i}")) for i in range(50)]
    apply(store, 4, commands.batch(*ops))
    assert len(store.find_by_id_prefix("service", "zz")) == 50
    assert [s["ID"] for s in store.list("service")][:3] == ["abc999", "abd456", "xyz789"]


def test_name_index_follows_renames(store):
    renamed = objects.edit(store.get("service", "abc123"))
    renamed["Spec"]["Name"] = "frontend"
    assert apply(store, 2, commands.update("service", renamed)).ok
    assert store.find_by_name("service", "web") == []
    assert store.find_by_name("service", "frontend")[0]["ID"] == "abc123"


def test_task_indexes_by_service_node_state_slot(store):
    apply(
        store,
        2,
        commands.batch(
            commands.create("task", task("t1", "abc123", 1, "n1aaaa", "running")),
            commands.create("task", task("t2", "abc123", 2, "", "pending")),
            commands.create("task", task("t3", "abd456", 1, "n1aaaa", "running")),
        ),
    )
    ids = lambda tasks: [t["ID"] for t in tasks]  # noqa: E731
    assert ids(store.tasks_by_service("abc123")) == ["t1", "t2"]
    assert ids(store.tasks_by_node("n1aaaa")) == ["t1", "t3"]
    assert ids(store.tasks_by_node("")) == ["t2"]
    assert ids(store.tasks_by_state("running")) == ["t1", "t3"]
    assert ids(store.tasks_by_desired_state("running")) == ["t1", "t2", "t3"]
    assert ids(store.tasks_by_slot("abc123", 2)) == ["t2"]
    moved = objects.edit(store.get("task", "t2"))
    moved["NodeID"] = "n2bbbb"
    moved["Status"]["State"] = "assigned"
    moved["DesiredState"] = "shutdown"
    apply(store, 3, commands.update("task", moved))
    assert ids(store.tasks_by_node("")) == []
    assert ids(store.tasks_by_node("n2bbbb")) == ["t2"]
    assert ids(store.tasks_by_state("pending")) == []
    assert ids(store.tasks_by_state("assigned")) == ["t2"]
    assert ids(store.tasks_by_desired_state("shutdown")) == ["t2"]
    apply(store, 4, commands.delete("task", "t1"))
    assert ids(store.tasks_by_service("abc123")) == ["t2"]
    assert ids(store.tasks_by_slot("abc123", 1)) == []


def test_read_view_is_frozen_while_the_store_moves_on(store):
    view = store.view()
    apply(store, 2, commands.delete("service", "abc123"))
    apply(store, 3, commands.create("task", task("t1", "abd456")))
    assert view.get("service", "abc123") is not None
    assert view.resolve("service", "web")["ID"] == "abc123"
    assert view.tasks_by_service("abd456") == []
    assert view.applied_index == 1
    assert store.get("service", "abc123") is None


def test_unknown_kind_is_invalid_argument(store):
    with pytest.raises(Exception) as err:
        store.get("widget", "x")
    assert "unknown object kind" in str(err.value)
