from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmlet.sched.constraints import ConstraintError, parse_constraint
from swarmlet.sched.scheduler import Scheduler

GB = 1024**3


def node(
    nid,
    *,
    state="ready",
    avail="active",
    role="worker",
    labels=None,
    host=None,
    cpus=4_000_000_000,
    mem=8 * GB,
    engine_labels=None,
    arch="x86_64",
    addr="10.0.0.1",
):
    return {
        "ID": nid,
        "Spec": {"Role": role, "Availability": avail, "Labels": labels or {}},
        "Description": {
            "Hostname": host or nid,
            "Platform": {"OS": "linux", "Architecture": arch},
            "Resources": {"NanoCPUs": cpus, "MemoryBytes": mem},
            "Engine": {"Labels": engine_labels or {}},
        },
        "Status": {"State": state, "Addr": addr},
    }


def task(
    tid,
    svc="svc",
    *,
    version=1,
    constraints=None,
    prefs=None,
    cpus=0,
    mem=0,
    max_replicas=0,
    host_port=None,
    node_id=None,
    platforms=None,
):
    spec = {
        "ContainerSpec": {"Image": "busybox"},
        "Placement": {
            "Constraints": constraints or [],
            "Preferences": [{"Spread": {"SpreadDescriptor": p}} for p in prefs or []],
            "MaxReplicas": max_replicas,
            "Platforms": platforms or [],
        },
        "Resources": {"Reservations": {"NanoCPUs": cpus, "MemoryBytes": mem}},
    }
    t = {
        "ID": tid,
        "ServiceID": svc,
        "SpecVersion": {"Index": version},
        "Spec": spec,
        "Status": {"State": "pending"},
        "DesiredState": "running",
    }
    if host_port:
        t["Endpoint"] = {
            "Ports": [
                {
                    "Protocol": "tcp",
                    "TargetPort": 80,
                    "PublishedPort": host_port,
                    "PublishMode": "host",
                }
            ]
        }
    if node_id:
        t["NodeID"] = node_id
    return t


def sched_with(*nodes):
    s = Scheduler()
    for n in nodes:
        s.upsert_node(n)
    return s


def placements(result):
    return Counter(node_id for _, node_id in result.assigned)


def test_tasks_spread_evenly_over_ready_nodes():
    s = sched_with(node("n1"), node("n2"), node("n3"))
    r = s.schedule([task(f"t{i}") for i in range(10)])
    assert not r.unassigned
    assert sorted(placements(r).values()) == [3, 3, 4]


def test_fewest_tasks_of_the_service_then_fewest_overall():
    s = sched_with(node("n1"), node("n2"))
    s.schedule([task("a1", "other"), task("a2", "other")])  # both nodes get one "other" task
    s.schedule([task("b1", "busy", version=7)])  # n1 gets it (tie broken by ID)
    r = s.schedule([task("c1", "fresh")])
    assert r.assigned[0][1] == "n2"  # same count of "fresh" (0), fewer tasks overall


def test_nodes_not_ready_or_not_active_are_explained():
    s = sched_with(node("n1", state="down"), node("n2", avail="drain"), node("n3", avail="pause"))
    r = s.schedule([task("t1")])
    assert r.unassigned[0][1] == "no suitable node (3 nodes not available for new tasks)"


def test_reasons_are_counted_per_first_failing_filter_most_frequent_first():
    s = sched_with(
        node("n1", state="down"),
        node("n2", mem=GB),
        node("n3", mem=GB),
        node("n4", role="worker"),
    )
    r = s.schedule([task("t1", mem=2 * GB, constraints=["node.role==manager"])])
    assert r.unassigned[0][1] == (
        "no suitable node (insufficient resources on 2 nodes; "
        "1 node not available for new tasks; scheduling constraints not satisfied on 1 node)"
    )


def test_constraints():
    s = sched_with(
        node("n1", role="manager", labels={"zone": "East"}),
        node("n2", engine_labels={"disk": "ssd"}, host="web2"),
        node("n3"),
    )
    one = lambda c: {n for _, n in s.schedule([task("x" + c, "s" + c, constraints=[c])]).assigned}  # noqa: E731
    assert one("node.role==manager") == {"n1"}
    assert one("node.labels.zone==east") == {"n1"}  # case-insensitive like Swarm
    assert one("engine.labels.disk==ssd") == {"n2"}
    assert one("node.hostname==web2") == {"n2"}
    assert one("node.id==n3") == {"n3"}
    r = s.schedule([task(f"y{i}", "ne", constraints=["node.labels.zone!=east"]) for i in range(4)])
    assert set(placements(r)) == {"n2", "n3"}  # a missing label is "not equal"


def test_node_ip_constraint_accepts_cidr():
    s = sched_with(node("n1", addr="198.18.5.2"), node("n2", addr="10.1.1.1"))
    r = s.schedule([task("t", constraints=["node.ip==198.18.0.0/16"])])
    assert r.assigned[0][1] == "n1"


@pytest.mark.parametrize(
    "bad",
    [
        "node.role",
        "node.role=manager",
        "==x",
        "node.bogus==1",
        "node.labels.==x",
        "node.ip==notanip",
        "a==b==c",
    ],
)
def test_bad_constraints_are_refused(bad):
    with pytest.raises(ConstraintError):
        parse_constraint(bad)


def test_reservations_fill_nodes_then_tasks_wait():
    s = sched_with(node("n1", mem=4 * GB), node("n2", mem=4 * GB))
    r = s.schedule([task(f"t{i}", mem=3 * GB) for i in range(3)])
    assert len(r.assigned) == 2 and set(placements(r)) == {"n1", "n2"}
    assert r.unassigned[0][1] == "no suitable node (insufficient resources on 2 nodes)"
    # a node that fits joins: the waiting task is placed on it
    s.upsert_node(node("n3", mem=4 * GB))
    r2 = s.schedule([t for t, _ in r.unassigned])
    assert placements(r2) == {"n3": 1}


def test_releasing_a_task_frees_its_reservation():
    s = sched_with(node("n1", cpus=1_000_000_000))
    r = s.schedule([task("t1", cpus=1_000_000_000)])
    assert r.assigned
    assert s.schedule([task("t2", cpus=1_000_000_000)]).unassigned
    s.forget_task("t1")
    assert s.schedule([task("t3", cpus=1_000_000_000)]).assigned


def test_track_task_counts_only_tasks_holding_a_node():
    s = sched_with(node("n1", mem=2 * GB))
    t = task("t1", mem=2 * GB, node_id="n1")
    t["Status"]["State"] = "running"
    s.track_task(t)
    s.track_task(t)  # idempotent
    assert s.nodes["n1"].total == 1 and s.nodes["n1"].free_memory == 0
    t["Status"]["State"] = "failed"
    s.track_task(t)
    assert s.nodes["n1"].total == 0 and s.nodes["n1"].free_memory == 2 * GB


def test_max_replicas_per_node():
    s = sched_with(node("n1"), node("n2"))
    r = s.schedule([task(f"t{i}", max_replicas=1) for i in range(3)])
    assert placements(r) == {"n1": 1, "n2": 1}
    assert r.unassigned[0][1] == "no suitable node (max replicas per node limit exceed)"


def test_host_mode_ports_conflict():
    s = sched_with(node("n1"), node("n2"))
    r = s.schedule([task(f"t{i}", host_port=8080) for i in range(3)])
    assert placements(r) == {"n1": 1, "n2": 1}
    assert r.unassigned[0][1] == "no suitable node (host-mode port already in use on 2 nodes)"
    other = s.schedule([task("u", "other", host_port=9090)])
    assert other.assigned


def test_platform_filter():
    s = sched_with(node("n1", arch="x86_64"), node("n2", arch="aarch64"))
    r = s.schedule([task("t", platforms=[{"OS": "linux", "Architecture": "arm64"}])])
    assert r.assigned[0][1] == "n2"
    r = s.schedule([task("u", "s2", platforms=[{"OS": "windows", "Architecture": "amd64"}])])
    assert r.unassigned[0][1] == "no suitable node (unsupported platform on 2 nodes)"


def test_spread_preference_balances_label_values_before_nodes():
    s = sched_with(
        node("a1", labels={"zone": "a"}),
        node("b1", labels={"zone": "b"}),
        node("b2", labels={"zone": "b"}),
        node("b3", labels={"zone": "b"}),
    )
    r = s.schedule([task(f"t{i}", prefs=["node.labels.zone"]) for i in range(6)])
    p = placements(r)
    assert p["a1"] == 3
    assert p["b1"] + p["b2"] + p["b3"] == 3


def test_spread_overflows_to_other_branches_when_one_is_full():
    s = sched_with(node("a1", labels={"zone": "a"}, mem=GB), node("b1", labels={"zone": "b"}))
    r = s.schedule([task(f"t{i}", prefs=["node.labels.zone"], mem=GB) for i in range(4)])
    assert placements(r) == {"a1": 1, "b1": 3}


def test_preset_node_for_global_tasks():
    s = sched_with(node("n1"), node("n2", avail="drain"))
    r = s.schedule([task("g1", "glob", node_id="n1"), task("g2", "glob", node_id="n2")])
    assert r.assigned == [(r.assigned[0][0], "n1")]
    assert r.unassigned[0][1] == "no suitable node (1 node not available for new tasks)"


def test_no_nodes_at_all():
    r = Scheduler().schedule([task("t")])
    assert r.unassigned[0][1] == "no suitable node"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from(["x", "y"]), st.integers(1, 4)),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 40),
    st.sampled_from([None, "node.labels.zone==x", "node.labels.zone!=x"]),
)
def test_assignments_respect_filters_and_stay_balanced(nodes, n_tasks, constraint):
    s = sched_with(
        *[
            node(f"n{i:02}", state="ready" if ok else "down", labels={"zone": z}, mem=m * GB)
            for i, (ok, z, m) in enumerate(nodes)
        ]
    )
    tasks = [
        task(f"t{i}", constraints=[constraint] if constraint else None, mem=GB)
        for i in range(n_tasks)
    ]
    r = s.schedule(tasks)
    assert len(r.assigned) + len(r.unassigned) == n_tasks
    capacity = {}
    for i, (ok, z, m) in enumerate(nodes):
        fits = ok and (constraint is None or (constraint.endswith("==x") == (z == "x")))
        capacity[f"n{i:02}"] = m if fits else 0
    p = placements(r)
    for nid, count in p.items():
        assert count <= capacity[nid]
    # everything that could be placed was placed
    assert len(r.assigned) == min(n_tasks, sum(capacity.values()))
    # balance: a node with room left never has 2+ fewer tasks than another
    if r.unassigned == []:
        open_nodes = [nid for nid in capacity if capacity[nid] > p.get(nid, 0)]
        if open_nodes:
            low = min(p.get(nid, 0) for nid in open_nodes)
            assert all(c <= low + 1 for c in p.values())
