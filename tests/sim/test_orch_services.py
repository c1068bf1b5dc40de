"""Orchestrators + scheduler in the deterministic cluster model (tests/sim/orch_sim.py)."""

from collections import Counter

import pytest

from swarmlet.manager.orchestrator.tasks import is_active, state
from tests.sim.orch_sim import Cluster, service_spec


def wait_converged(c: Cluster, sid: str, limit: float = 120.0, check=None) -> None:
    end = c.now + limit
    while not c.converged(sid):
        assert c.now < end, f"service {sid} did not converge: {summary(c, sid)}"
        c.step()
        if check:
            check(c)


def summary(c, sid):
    return sorted(
        (t.get("Slot") or t.get("NodeID"), state(t), t["DesiredState"], t["SpecVersion"]["Index"])
        for t in c.service_tasks(sid)
    )


def per_node(c, sid):
    return Counter(t["NodeID"] for t in c.running(sid))


def test_replicated_service_spreads_and_converges():
    c = Cluster(seed=1)
    sid = c.create_service(service_spec(replicas=3))
    wait_converged(c, sid)
    assert sorted(per_node(c, sid).values()) == [1, 1, 1]


def test_scale_up_spreads_and_scale_down_removes_highest_slots():
    c = Cluster(seed=2)
    sid = c.create_service(service_spec(replicas=2))
    wait_converged(c, sid)
    c.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=10))
    wait_converged(c, sid)
    assert sorted(per_node(c, sid).values()) == [3, 3, 4]
    keep = {t["ID"] for t in c.running(sid) if t["Slot"] <= 2}
    c.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=2))
    wait_converged(c, sid)
    assert {t["ID"] for t in c.running(sid)} == keep
    c.run(5)
    assert all(state(t) == "shutdown" for t in c.service_tasks(sid) if t["Slot"] > 2)


def test_crashed_task_is_replaced_after_restart_delay_and_kept_in_history():
    c = Cluster(seed=3)
    sid = c.create_service(service_spec(replicas=1))
    wait_converged(c, sid)
    victim = c.running(sid)[0]
    c.crash_next.add(victim["ID"])
    c.step()
    assert state(victim) == "failed"
    crashed_at = c.now
    wait_converged(c, sid)
    assert c.now - crashed_at >= 5.0  # default restart delay
    slot1 = [t for t in c.service_tasks(sid) if t["Slot"] == 1]
    assert len(slot1) == 2 and victim in slot1 and victim["DesiredState"] == "shutdown"


@pytest.mark.parametrize(
    "policy,ends_with,replaced",
    [
        ({"Condition": "none"}, "failed", False),
        ({"Condition": "on-failure"}, "complete", False),
        ({"Condition": "on-failure"}, "failed", True),
        ({"Condition": "any"}, "complete", True),
    ],
)
def test_restart_conditions(policy, ends_with, replaced):
    c = Cluster(seed=4)
    spec = service_spec(replicas=1)
    spec["TaskTemplate"]["RestartPolicy"] = {**policy, "Delay": 0}
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:exits"
    c.exit_codes["busybox:exits"] = 0 if ends_with == "complete" else 1
    sid = c.create_service(spec)
    c.run(10)
    tasks = c.service_tasks(sid)
    ended = [t for t in tasks if state(t) == ends_with]
    assert ended
    assert (len(tasks) > 1) == replaced


def test_max_attempts_stops_restarting():
    c = Cluster(seed=5)
    spec = service_spec(replicas=1)
    spec["TaskTemplate"]["RestartPolicy"] = {"Condition": "any", "Delay": 0, "MaxAttempts": 2}
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:exits"
    c.exit_codes["busybox:exits"] = 1
    sid = c.create_service(spec)
    c.run(60)
    tasks = c.service_tasks(sid)
    assert len(tasks) == 3  # the first run and two restarts
    assert all(state(t) == "failed" for t in tasks)


def test_lost_node_tasks_move_at_once_without_restart_delay():
    c = Cluster(seed=6)
    sid = c.create_service(service_spec(replicas=6))
    wait_converged(c, sid)
    lost = {t["ID"] for t in c.running(sid) if t["NodeID"] == "node3"}
    assert lost
    c.set_node("node3", state="down")
    c.step()
    fresh = [t for t in c.service_tasks(sid) if is_active(t) and t["ID"] not in lost]
    assert len(fresh) == 6  # replacements exist right away, wanted running at once
    assert all(t["DesiredState"] == "running" for t in fresh)
    wait_converged(c, sid)
    assert set(per_node(c, sid)) == {"node1", "node2"}


def test_drain_moves_tasks_off_and_global_follows_nodes():
    c = Cluster(seed=7)
    rep = c.create_service(service_spec("rep", replicas=4))
    glob = c.create_service(service_spec("glob", replicas=None))
    wait_converged(c, rep)
    wait_converged(c, glob)
    assert sorted(per_node(c, glob)) == ["node1", "node2", "node3"]
    c.set_node("node2", availability="drain")
    wait_converged(c, rep)
    wait_converged(c, glob)
    assert "node2" not in per_node(c, rep)
    assert sorted(per_node(c, glob)) == ["node1", "node3"]
    c.add_node("node4")
    wait_converged(c, glob)
    assert sorted(per_node(c, glob)) == ["node1", "node3", "node4"]


def test_global_service_honours_constraints():
    c = Cluster(seed=8)
    c.add_node("mgr", role="manager")
    spec = service_spec("g", replicas=None)
    spec["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==manager"]}
    sid = c.create_service(spec)
    c.run(10)
    assert list(per_node(c, sid)) == ["mgr"]


def _never_fewer_than(n):
    def check(c):
        for sid in c.services:
            assert len(c.running(sid)) >= n

    return check


def test_rolling_update_stop_first_one_at_a_time():
    c = Cluster(seed=9)
    sid = c.create_service(service_spec(replicas=4))
    wait_converged(c, sid)
    c.update_service(sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:v2"))
    wait_converged(c, sid, check=_never_fewer_than(3))
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in c.running(sid)} == {"busybox:v2"}
    c.step()
    assert c.services[sid]["UpdateStatus"]["State"] == "completed"


def test_rolling_update_start_first_keeps_all_replicas():
    c = Cluster(seed=10)
    spec = service_spec(replicas=3, UpdateConfig={"Parallelism": 2, "Order": "start-first"})
    sid = c.create_service(spec)
    wait_converged(c, sid)
    c.update_service(sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:v2"))
    wait_converged(c, sid, check=_never_fewer_than(3))


def test_update_delay_spaces_batches():
    c = Cluster(seed=11)
    spec = service_spec(replicas=3, UpdateConfig={"Parallelism": 1, "Delay": 10 * 10**9})
    sid = c.create_service(spec)
    wait_converged(c, sid)
    start = c.now
    c.update_service(sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:v2"))
    wait_converged(c, sid)
    assert c.now - start >= 20.0  # two pauses between three batches


def test_failing_update_pauses():
    c = Cluster(seed=12)
    sid = c.create_service(service_spec(replicas=3))
    wait_converged(c, sid)
    c.update_service(
        sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:missing")
    )
    c.run(30)
    status = c.services[sid]["UpdateStatus"]
    assert status["State"] == "paused"
    assert "update paused due to failure or early termination of task" in status["Message"]
    images = Counter(t["Spec"]["ContainerSpec"]["Image"] for t in c.running(sid))
    assert images["busybox:latest"] == 2  # one slot tried the new image, the others wait


def test_failing_update_rolls_back_when_asked():
    c = Cluster(seed=13)
    spec = service_spec(replicas=3, UpdateConfig={"FailureAction": "rollback"})
    sid = c.create_service(spec)
    wait_converged(c, sid)
    c.update_service(
        sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:missing")
    )
    c.run(20)
    wait_converged(c, sid)
    c.step()
    svc = c.services[sid]
    assert svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
    assert svc["UpdateStatus"]["State"] == "rollback_completed"
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in c.running(sid)} == {"busybox:latest"}


def test_manual_rollback():
    c = Cluster(seed=14)
    sid = c.create_service(service_spec(replicas=2))
    wait_converged(c, sid)
    c.update_service(sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:v2"))
    wait_converged(c, sid)
    c.rollback_service(sid)
    wait_converged(c, sid)
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in c.running(sid)} == {"busybox:latest"}


def test_replicated_job_runs_to_completion_within_concurrency():
    c = Cluster(seed=15)
    spec = service_spec(replicas=None)
    spec["Mode"] = {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}}
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:job"
    spec["TaskTemplate"]["RestartPolicy"] = {"Condition": "on-failure", "Delay": 0}
    c.exit_codes["busybox:job"] = 0

    def at_most_two(cl):
        live = [t for t in cl.service_tasks(sid) if is_active(t) and state(t) != "complete"]
        assert len(live) <= 2

    sid = c.create_service(spec)
    c.run(60, check=at_most_two)
    done = [t for t in c.service_tasks(sid) if state(t) == "complete"]
    assert sorted(t["Slot"] for t in done) == [1, 2, 3, 4, 5]


def test_global_job_runs_once_per_node():
    c = Cluster(seed=16)
    spec = service_spec(replicas=None)
    spec["Mode"] = {"GlobalJob": {}}
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:job"
    c.exit_codes["busybox:job"] = 0
    sid = c.create_service(spec)
    c.run(40)
    done = Counter(t["NodeID"] for t in c.service_tasks(sid) if state(t) == "complete")
    assert done == {"node1": 1, "node2": 1, "node3": 1}
    assert len(c.service_tasks(sid)) == 3


def test_history_is_trimmed_per_slot():
    c = Cluster(seed=17, history_limit=5)
    spec = service_spec(replicas=1)
    spec["TaskTemplate"]["RestartPolicy"] = {"Condition": "any", "Delay": 0}
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:exits"
    c.exit_codes["busybox:exits"] = 1
    sid = c.create_service(spec)
    c.run(120)
    assert 1 < len(c.service_tasks(sid)) <= 5


def test_reconcile_is_idempotent_on_a_converged_service():
    c = Cluster(seed=18)
    sid = c.create_service(service_spec(replicas=3))
    wait_converged(c, sid)
    c.run(5)
    plan = c.orch.reconcile(c.services[sid], c.service_tasks(sid), c.nodes, c.now)
    assert not plan


def test_removed_service_tasks_are_removed():
    c = Cluster(seed=19)
    sid = c.create_service(service_spec(replicas=3))
    wait_converged(c, sid)
    svc = c.services.pop(sid)
    for _ in range(10):
        plan = c.orch.remove_service(svc["ID"], c.service_tasks(sid), c.nodes)
        for task_id, fields in plan.update.items():
            c.set_task(c.tasks[task_id], **fields)
        for task_id in plan.delete:
            del c.tasks[task_id]
        c.work()
    assert c.service_tasks(sid) == []
