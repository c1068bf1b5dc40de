"""Random command sequences keep every index equal to a brute-force recomputation."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmlet.store import Store, objects
from tests.unit.store_fixtures import commands, service, task

IDS = [f"i{n}" for n in range(6)]
NAMES = ["a", "b", "c", "A"]
STATES = list(objects.TASK_STATES)


def _op(draw):
    kind = draw(st.sampled_from(["task", "service"]))
    action = draw(st.sampled_from(["create", "update", "delete"]))
    obj_id = draw(st.sampled_from(IDS))
    if action == "delete":
        version = draw(st.one_of(st.none(), st.integers(0, 40)))
        return commands.delete(kind, obj_id, version)
    if kind == "task":
        obj = task(
            obj_id,
            draw(st.sampled_from(IDS)),
            draw(st.integers(0, 2)),
            draw(st.sampled_from(["", "n1", "n2"])),
            draw(st.sampled_from(STATES)),
        )
        obj["DesiredState"] = draw(st.sampled_from(["running", "shutdown"]))
    else:
        obj = service(obj_id, draw(st.sampled_from(NAMES)))
    obj["Version"]["Index"] = draw(st.integers(0, 40))
    return {"op": action, "kind": kind, "object": obj}


@st.composite
def command_logs(draw):
    log = []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            log.append(_op(draw))
        else:
            log.append(commands.batch(*[_op(draw) for _ in range(draw(st.integers(1, 4)))]))
    return log


def _brute_force(store: Store) -> dict:
    names = {k: {} for k in objects.KINDS}
    ids = {}
    task_idx = [{}, {}, {}, {}, {}]
    for kind in objects.KINDS:
        everything = list(store._tables[kind].values())
        ids[kind] = sorted(o["ID"] for o in everything)
        for o in everything:
            name = objects.name_of(kind, o) if kind != "task" else ""
            if name:
                names[kind].setdefault(name.lower(), []).append(o["ID"])
            if kind == "task":
                keys = (
                    o.get("ServiceID", ""),
                    o.get("NodeID", ""),
                    objects.dig(o, "Status.State") or "new",
                    o.get("DesiredState", ""),
                    (o.get("ServiceID", ""), o.get("Slot", 0) or 0),
                )
                for idx, key in zip(task_idx, keys, strict=True):
                    idx.setdefault(key, []).append(o["ID"])
    return {
        "names": {k: {n: sorted(v) for n, v in sorted(d.items())} for k, d in names.items()},
        "ids": ids,
        "tasks": [sorted((repr(k), sorted(v)) for k, v in idx.items()) for idx in task_idx],
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_logs())
def test_indexes_match_brute_force_after_random_commands(log):
    store = Store()
    for index, cmd in enumerate(log, 1):
        before = store.snapshot()
        result = store.apply(index, commands.encode(cmd))
        if not result.ok:
            probe = Store()
            probe.restore(before)
            for kind in objects.KINDS:
                assert probe.list(kind) == store.list(kind)
        assert store.index_dump() == _brute_force(store)
        for name, found in store.index_dump()["names"]["service"].items():
            assert len(found) == 1, f"service name {name} not unique"
    restored = Store()
    restored.restore(store.snapshot())
    assert restored.index_dump() == store.index_dump()


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.sampled_from(STATES),
)
FIELDS = ["ServiceID", "NodeID", "Slot", "Status", "DesiredState", "Spec", "Version", "Labels"]


@st.composite
def junk_commands(draw):
    kind = draw(st.sampled_from(["task", "service", "node", "secret"]))
    obj = task("i0", "s") if kind == "task" else service("i0", "a")
    obj["ID"] = draw(st.sampled_from(["i0", "i1"]))
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        obj[key] = draw(JUNK)
    if draw(st.booleans()) and isinstance(obj.get("Status"), dict):
        obj["Status"]["State"] = draw(JUNK)
    if draw(st.booleans()) and isinstance(obj.get("Spec"), dict):
        obj["Spec"]["Name"] = draw(JUNK)
    return {"op": draw(st.sampled_from(["create", "update"])), "kind": kind, "object": obj}


@settings(max_examples=200, deadline=None)
@given(st.lists(junk_commands(), min_size=1, max_size=8))
def test_junk_field_values_never_break_apply_or_indexes(log):
    store = Store()
    for index, cmd in enumerate(log, 1):
        result = store.apply(index, commands.encode(cmd))
        assert result.ok or result.error is not None
        assert "internal error" not in str(result.error or "")
        assert store.index_dump() == _brute_force(store)
