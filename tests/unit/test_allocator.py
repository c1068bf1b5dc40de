"""The allocator's published ports (pure)."""

import pytest

from swarmlet.manager.allocator import (
    AllocationError,
    Allocator,
    is_allocated,
    pending_task,
)


def svc(sid, ports=None, name=None, endpoint=None):
    spec = {"Name": name or sid, "TaskTemplate": {}, "Mode": {"Replicated": {"Replicas": 1}}}
    spec["EndpointSpec"] = {"Mode": "vip", "Ports": ports} if ports else {"Mode": "vip"}
    service = {"ID": sid, "Spec": spec, "Endpoint": endpoint or {"Spec": {}}}
    return service


def port(target, published=0, mode="ingress", proto="tcp"):
    p = {"Protocol": proto, "TargetPort": target, "PublishMode": mode}
    if published:
        p["PublishedPort"] = published
    return p


def allocate(alloc, service):
    service["Endpoint"] = alloc.endpoint(service)
    return service


def test_port_without_number_gets_lowest_free_dynamic_port():
    alloc = Allocator()
    a = allocate(alloc, svc("a", [port(80), port(443)]))
    assert [p["PublishedPort"] for p in a["Endpoint"]["Ports"]] == [30000, 30001]
    assert a["Endpoint"]["Spec"] == a["Spec"]["EndpointSpec"]
    assert a["Endpoint"]["Ports"][0] == {
        "Protocol": "tcp",
        "TargetPort": 80,
        "PublishedPort": 30000,
        "PublishMode": "ingress",
    }
    assert is_allocated(a)
    b = allocate(alloc, svc("b", [port(80)]))
    assert b["Endpoint"]["Ports"][0]["PublishedPort"] == 30002


def test_allocation_is_stable_and_idempotent():
    alloc = Allocator()
    a = allocate(alloc, svc("a", [port(80)]))
    assert not alloc.needs_update(a)
    assert alloc.endpoint(a) == a["Endpoint"]


def test_fixed_port_in_dynamic_range_is_skipped_by_dynamic_allocation():
    alloc = Allocator()
    allocate(alloc, svc("a", [port(80, 30000)]))
    b = allocate(alloc, svc("b", [port(80)]))
    assert b["Endpoint"]["Ports"][0]["PublishedPort"] == 30001


def test_ingress_conflict_is_refused_with_dockers_message_and_changes_nothing():
    alloc = Allocator()
    allocate(alloc, svc("a1", [port(80, 8080)], name="web"))
    b = svc("b1", [port(80, 8080)], name="api")
    assert alloc.needs_update(b)
    with pytest.raises(AllocationError) as err:
        alloc.endpoint(b)
    assert str(err.value) == (
        "port '8080' is already in use by service 'web' (a1) as an ingress port"
    )
    # Another protocol, or host mode, does not conflict.
    allocate(alloc, svc("c1", [port(80, 8080, proto="udp")]))
    allocate(alloc, svc("d1", [port(80, 8080, mode="host")]))


def test_ports_released_when_dropped_or_service_removed():
    alloc = Allocator()
    a = allocate(alloc, svc("a", [port(80, 8080), port(81)]))
    a["Spec"]["EndpointSpec"]["Ports"] = [port(81)]
    a = allocate(alloc, a)
    assert [p["PublishedPort"] for p in a["Endpoint"]["Ports"]] == [30000]
    allocate(alloc, svc("b", [port(80, 8080)]))  # 8080 is free again
    alloc.release("a")
    c = allocate(alloc, svc("c", [port(80)]))
    assert c["Endpoint"]["Ports"][0]["PublishedPort"] == 30000


def test_all_ports_dropped_leaves_an_empty_endpoint_spec():
    alloc = Allocator()
    a = allocate(alloc, svc("a", [port(80)]))
    a["Spec"]["EndpointSpec"] = {"Mode": "vip"}
    a = allocate(alloc, a)
    assert a["Endpoint"] == {"Spec": {}}
    assert is_allocated(a)


def test_host_mode_port_without_number_stays_without_one():
    alloc = Allocator()
    a = allocate(alloc, svc("a", [port(80, mode="host")]))
    assert "PublishedPort" not in a["Endpoint"]["Ports"][0]
    assert is_allocated(a)


def test_rebuild_from_store_gives_the_same_state():
    alloc = Allocator()
    services = [allocate(alloc, svc(f"s{i}", [port(80)])) for i in range(3)]
    fresh = Allocator()
    fresh.rebuild(services)
    assert not any(fresh.needs_update(s) for s in services)
    assert allocate(fresh, svc("s9", [port(80)]))["Endpoint"]["Ports"][0]["PublishedPort"] == 30003


def test_rebuild_keeps_a_doubly_recorded_port_with_the_lower_id():
    a = svc("a", [port(80, 8080)], endpoint={"Spec": {}, "Ports": [port(80, 8080)]})
    b = svc("b", [port(80, 8080)], endpoint={"Spec": {}, "Ports": [port(80, 8080)]})
    alloc = Allocator()
    alloc.rebuild([b, a])
    allocate(alloc, a)
    with pytest.raises(AllocationError):
        alloc.endpoint(b)


def test_dynamic_range_exhausted():
    alloc = Allocator(start=30000, end=30001)
    allocate(alloc, svc("a", [port(80), port(81)]))
    with pytest.raises(AllocationError, match="all in use"):
        alloc.endpoint(svc("b", [port(80)]))


def test_unallocated_service_is_not_ready_for_scheduling():
    assert not is_allocated(svc("a", [port(80)]))
    assert is_allocated(svc("b"))


def test_pending_task_takes_the_service_ports():
    alloc = Allocator()
    a = allocate(alloc, svc("a", [port(80)]))
    task = {"ID": "t1", "Status": {"State": "new"}, "DesiredState": "running"}
    moved = pending_task(task, a, "2026-11-27T18:00:00.000000000Z")
    assert moved["Status"]["State"] == "pending"
    assert moved["Status"]["Message"] == "pending task scheduling"
    assert moved["Endpoint"]["Ports"][0]["PublishedPort"] == 30000
    assert task["Status"]["State"] == "new"
