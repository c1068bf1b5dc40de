import random

import pytest

from swarmlet.store import InvalidArgument, Store, codec, objects
from tests.unit.store_fixtures import apply, commands, node, secret, service, task


def _command_log(seed: int, n: int = 300) -> list[bytes]:
    """A seeded log of creates, updates (some stale), deletes and batches."""
    rng = random.Random(seed)
    shadow = Store()
    log = []
    for index in range(1, n + 1):
        roll = rng.random()
        tasks = shadow.list("task")
        if roll < 0.4 or not tasks:
            cmd = commands.create(
                "task",
                task(
                    f"t{index:04}",
                    f"s{rng.randrange(5)}",
                    rng.randrange(1, 4),
                    rng.choice(["", "n1", "n2"]),
                ),
            )
        elif roll < 0.75:
            t = objects.edit(rng.choice(tasks))
            t["NodeID"] = rng.choice(["", "n1", "n2", "n3"])
            t["Status"]["State"] = rng.choice(list(objects.TASK_STATES))
            if rng.random() < 0.2:
                t["Version"]["Index"] -= 1
            cmd = commands.update("task", t)
        elif roll < 0.85:
            cmd = commands.delete("task", rng.choice(tasks)["ID"])
        else:
            cmd = commands.batch(
                commands.create("service", service(f"s{index}", f"name{rng.randrange(20)}")),
                commands.create("secret", secret(f"x{index}", f"sec{rng.randrange(20)}")),
            )
        data = commands.encode(cmd)
        shadow.apply(index, data)
        log.append(data)
    return log


def _replay(log: list[bytes]) -> Store:
    store = Store()
    for index, data in enumerate(log, 1):
        store.apply(index, data)
    return store


def test_two_stores_applying_one_log_end_byte_equal():
    log = _command_log(7)
    a, b = _replay(log), _replay(log)
    assert a.snapshot() == b.snapshot()
    assert a.index_dump() == b.index_dump()
    assert a.count("task") > 10


def test_restore_of_snapshot_gives_identical_state_and_indexes():
    original = _replay(_command_log(11))
    snap = original.snapshot()
    copy = Store()
    copy.restore(snap)
    assert copy.snapshot() == snap
    assert copy.applied_index == original.applied_index
    assert copy.index_dump() == original.index_dump()
    for kind in objects.KINDS:
        assert copy.list(kind) == original.list(kind)


def test_restored_store_keeps_applying_like_the_original():
    log = _command_log(3, 200)
    full = _replay(log)
    half = _replay(log[:100])
    resumed = Store()
    resumed.restore(half.snapshot())
    for index, data in enumerate(log[100:], 101):
        resumed.apply(index, data)
    assert resumed.snapshot() == full.snapshot()


def test_snapshot_lists_objects_by_id_and_keeps_field_order():
    store = Store()
    apply(store, 1, commands.create("node", node("nb", "b")))
    apply(store, 2, commands.create("node", node("na", "a")))
    snap = codec.decode(store.snapshot())
    assert snap["index"] == 2
    assert [n["ID"] for n in snap["objects"]["node"]] == ["na", "nb"]
    assert codec.encode(snap) == store.snapshot()
    assert list(snap["objects"]["node"][0]) == [
        "ID",
        "Version",
        "CreatedAt",
        "UpdatedAt",
        "Spec",
        "Description",
        "Status",
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"garbage",
        codec.encode({"format": 99, "index": 1, "objects": {}}),
        codec.encode({"format": 1, "index": -1, "objects": {}}),
        codec.encode({"format": 1, "index": 1, "objects": {"task": "x"}}),
        codec.encode({"format": 1, "index": 1, "objects": {"task": [{"no": "id"}]}}),
    ],
)
def test_bad_snapshot_changes_nothing(data):
    store = Store()
    apply(store, 1, commands.create("service", service("s1", "web")))
    before = store.snapshot()
    with pytest.raises(InvalidArgument):
        store.restore(data)
    assert store.snapshot() == before
