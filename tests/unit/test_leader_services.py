"""The leader's services loop on a store, in a real trio loop, with fake workers."""

import random

import pytest
import trio

from swarmlet.manager.leader import ASSIGNED_MESSAGE, LeaderServices
from swarmlet.manager.orchestrator.tasks import state
from swarmlet.store import commands
from swarmlet.store.objects import dig, with_status
from tests.unit.leader_harness import harness, spec

pytestmark = pytest.mark.anyio


def nodes_of(tasks):
    return sorted(t["NodeID"] for t in tasks)


async def test_service_create_runs_replicas_spread_over_nodes():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=6))
        await h.eventually(lambda: h.converged(sid, 6), "6 replicas running")
        assert nodes_of(h.running(sid)) == ["node1"] * 2 + ["node2"] * 2 + ["node3"] * 2
        task = h.running(sid)[0]
        assert task["SpecVersion"] == {"Index": 0}
        # Every task went through allocation and scheduling as Docker's do.
        assert all(t["Version"]["Index"] > 0 for t in h.running(sid))


async def test_scale_up_and_down():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=5))
        await h.eventually(lambda: h.converged(sid, 5), "scaled to 5")
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=1))
        await h.eventually(lambda: h.converged(sid, 1), "scaled to 1")
        # Scale down removed the highest slots; their tasks were shut down by the worker.
        gone = [t["ID"] for t in h.store.tasks_by_service(sid) if t.get("Slot", 0) > 1]
        await h.eventually(lambda: h.all_in_state(gone, "shutdown"), "old tasks stop")


async def test_node_down_tasks_replaced_elsewhere():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "3 running")
        await h.set_node_state("node2", "down")
        await h.eventually(
            lambda: h.converged(sid, 3) and "node2" not in nodes_of(h.running(sid)),
            "tasks of node2 replaced",
        )
        assert set(nodes_of(h.running(sid))) == {"node1", "node3"}


async def test_drain_moves_tasks_off():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "3 running")
        await h.set_availability("node1", "drain")
        await h.eventually(
            lambda: h.converged(sid, 3) and "node1" not in nodes_of(h.running(sid)),
            "drained",
        )
        old = [t["ID"] for t in h.store.tasks_by_node("node1") if t["ServiceID"] == sid]
        assert old
        await h.eventually(lambda: h.all_in_state(old, "shutdown"), "old tasks stop")


async def test_global_service_follows_nodes():
    async with harness(nodes=2) as h:
        sid = await h.create_service(spec(replicas=None))
        await h.eventually(lambda: nodes_of(h.running(sid)) == ["node1", "node2"], "global")
        await h.add_node("node3")
        await h.eventually(
            lambda: nodes_of(h.running(sid)) == ["node1", "node2", "node3"], "follows join"
        )
        await h.set_availability("node2", "drain")
        await h.eventually(lambda: nodes_of(h.running(sid)) == ["node1", "node3"], "drain")


async def test_crashed_task_restarted():
    async with harness(nodes=2) as h:
        sid = await h.create_service(spec(replicas=1))
        await h.eventually(lambda: h.converged(sid, 1), "running")
        first = h.running(sid)[0]["ID"]
        h.workers.crash.add(first)
        await h.eventually(
            lambda: h.converged(sid, 1) and h.running(sid)[0]["ID"] != first, "restarted"
        )
        assert state(h.store.get("task", first)) == "failed"


async def test_rolling_update_completes():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "3 running")
        await h.update_service(
            sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:v2")
        )
        await h.eventually(
            lambda: dig(h.store.get("service", sid), "UpdateStatus.State") == "completed",
            "update completed",
        )
        assert h.converged(sid, 3)
        images = {dig(t, "Spec.ContainerSpec.Image") for t in h.running(sid)}
        assert images == {"busybox:v2"}
        service = h.store.get("service", sid)
        assert service["UpdateStatus"]["Message"] == "update completed"
        assert {t["SpecVersion"]["Index"] for t in h.running(sid)} == {
            service["SpecVersion"]["Index"]
        }


async def test_failing_update_pauses():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "3 running")
        await h.update_service(
            sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:missing")
        )
        await h.eventually(
            lambda: dig(h.store.get("service", sid), "UpdateStatus.State") == "paused",
            "update paused",
        )
        status = h.store.get("service", sid)["UpdateStatus"]
        assert status["Message"].startswith("update paused due to failure or early termination")
        # Paused: the slots not yet updated still run the old image.
        images = [dig(t, "Spec.ContainerSpec.Image") for t in h.running(sid)]
        assert images.count("busybox:latest") >= 2


async def test_failing_update_rolls_back_with_failure_action_rollback():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")

        def bad_update(s):
            s["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:missing"
            s["UpdateConfig"] = {"FailureAction": "rollback"}

        await h.update_service(sid, bad_update)
        await h.eventually(
            lambda: dig(h.store.get("service", sid), "UpdateStatus.State") == "rollback_completed",
            "rolled back",
        )
        assert h.converged(sid, 2)
        service = h.store.get("service", sid)
        assert dig(service, "Spec.TaskTemplate.ContainerSpec.Image") == "busybox:latest"
        assert {dig(t, "Spec.ContainerSpec.Image") for t in h.running(sid)} == {"busybox:latest"}


async def test_published_ports_allocated_and_conflicts_refused():
    async with harness(nodes=2) as h:
        ports = [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress"}]
        sid = await h.create_service(spec(replicas=2, EndpointSpec={"Ports": ports}))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")
        endpoint = h.store.get("service", sid)["Endpoint"]
        assert endpoint["Ports"][0]["PublishedPort"] == 30000
        assert endpoint["Spec"]["Ports"][0]["TargetPort"] == 80
        assert all(t["Endpoint"]["Ports"][0]["PublishedPort"] == 30000 for t in h.running(sid))

        # A second service with a dynamic port gets the next one.
        other = await h.create_service(spec(name="api", replicas=1, EndpointSpec={"Ports": ports}))
        await h.eventually(lambda: h.converged(other, 1), "api running")
        assert h.store.get("service", other)["Endpoint"]["Ports"][0]["PublishedPort"] == 30001

        # Two services asking for the same ingress port at once (the API's own check passed
        # for both, as when two managers take the writes): the allocator refuses the second,
        # whose tasks stay NEW with Docker's message.
        fixed = [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]
        h.stop_leader()
        first = await h.create_service(spec(name="one", replicas=1, EndpointSpec={"Ports": fixed}))
        second_cmd = _create_without_checks(h, spec(name="two", replicas=1))
        second_cmd["object"]["Spec"]["EndpointSpec"] = {"Mode": "vip", "Ports": fixed}
        second = (await h.propose(second_cmd))["ID"]
        await h.start_leader()
        await h.eventually(lambda: h.converged(first, 1), "first running")
        message = f"port '8080' is already in use by service 'one' ({first}) as an ingress port"
        await h.eventually(
            lambda: [dig(t, "Status.Err") for t in h.store.tasks_by_service(second)] == [message],
            "conflict reported",
        )
        assert [state(t) for t in h.store.tasks_by_service(second)] == ["new"]

        # The first service removed: its port is released and the second gets it.
        await h.remove_service(first)
        await h.eventually(lambda: h.converged(second, 1), "second runs once the port is free")
        assert h.store.get("service", second)["Endpoint"]["Ports"][0]["PublishedPort"] == 8080
        await h.eventually(lambda: not h.store.tasks_by_service(first), "removed tasks deleted")


def _create_without_checks(h, s):
    from swarmlet.manager import controlapi

    return controlapi.create_service(s, h.ctx.timestamp(), h.ctx.new_id())


async def test_unplaceable_task_reports_reason_once_and_is_placed_when_a_node_fits():
    async with harness(nodes=2) as h:
        constrained = spec(replicas=1)
        constrained["TaskTemplate"]["Placement"] = {"Constraints": ["node.hostname==node9"]}
        sid = await h.create_service(constrained)
        reason = "no suitable node (scheduling constraints not satisfied on 2 nodes)"
        await h.eventually(
            lambda: [dig(t, "Status.Err") for t in h.store.tasks_by_service(sid)] == [reason],
            "reason reported",
        )
        task = h.store.tasks_by_service(sid)[0]
        version = task["Version"]["Index"]
        # Scheduling runs again (another service's tasks), the reason is the same: no write.
        other = await h.create_service(spec(name="other", replicas=2))
        await h.eventually(lambda: h.converged(other, 2), "other running")
        assert h.store.get("task", task["ID"])["Version"]["Index"] == version
        await h.add_node("node3")  # one more node that does not fit: the count changes
        reason3 = "no suitable node (scheduling constraints not satisfied on 3 nodes)"
        await h.eventually(
            lambda: dig(h.store.get("task", task["ID"]), "Status.Err") == reason3, "new reason"
        )
        await h.add_node("node9")
        await h.eventually(lambda: h.converged(sid, 1), "placed on node9")
        assert nodes_of(h.running(sid)) == ["node9"]


async def test_scheduler_message_and_batch_placement():
    async with harness(nodes=4, workers=False) as h:
        sid = await h.create_service(spec(replicas=8))
        await h.eventually(
            lambda: len([t for t in h.store.tasks_by_service(sid) if state(t) == "assigned"]) == 8,
            "all assigned",
        )
        tasks = h.store.tasks_by_service(sid)
        assert {t["Status"]["Message"] for t in tasks} == {ASSIGNED_MESSAGE}
        assert nodes_of(tasks) == sorted([f"node{i}" for i in range(1, 5)] * 2)


async def test_lost_race_with_a_status_report_is_planned_again():
    """The worker's report lands between the leader's read and its proposal: the leader's
    stale write is refused ("update out of sequence") and planned again from fresh state."""
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")
        victim = h.running(sid)[0]
        raced = []
        propose = h.ctx.propose

        async def racing_propose(command):
            ops = command.get("ops") or [command]
            touches = any(dig(op, "object.ID") == victim["ID"] for op in ops)
            if touches and not raced:
                task = h.store.get("task", victim["ID"])
                report = with_status(task, "failed", h.ctx.timestamp(), "exited", Err="boom")
                raced.append(await propose(commands.update("task", report)))
            return await propose(command)

        h.ctx.propose = racing_propose
        # The leader will want to stop the victim's task (its node goes down).
        h.workers.crash.clear()
        await h.set_node_state(victim["NodeID"], "down")
        await h.eventually(
            lambda: h.converged(sid, 2) and victim["NodeID"] not in nodes_of(h.running(sid)),
            "converged after the race",
        )
        assert raced and raced[0].ok
        assert h.leader.retries >= 1
        final = h.store.get("task", victim["ID"])
        assert state(final) == "failed" and final["Status"]["Err"] == "boom"
        assert final["DesiredState"] == "shutdown"


async def test_task_history_limit_from_cluster_spec():
    async with harness(nodes=1) as h:
        from swarmlet.manager import controlapi

        await h.propose(
            controlapi.create_cluster(
                "cluster1",
                h.ctx.timestamp(),
                join_tokens={"Worker": "w", "Manager": "m"},
                root_public_key="k",
                spec={"Orchestration": {"TaskHistoryRetentionLimit": 2}},
            )
        )
        sid = await h.create_service(spec(replicas=1))
        for _ in range(4):
            await h.eventually(lambda: h.converged(sid, 1), "running")
            victim = h.running(sid)[0]["ID"]
            h.workers.crash.add(victim)
            await h.eventually(lambda v=victim: h.all_in_state([v], "failed"), "crashed")
        await h.eventually(lambda: h.converged(sid, 1), "running")
        await h.eventually(lambda: len(h.store.tasks_by_service(sid)) <= 2, "history trimmed")


async def test_loop_stops_when_cancelled_and_a_new_leader_picks_up():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")
        watchers = len(h.store._subscriptions)
        old = h.leader
        h.stop_leader()
        await h.eventually(lambda: len(h.store._subscriptions) == watchers - 1, "watch gone")
        proposals = old.proposals
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=4))
        await trio.sleep(0.05)
        assert old.proposals == proposals  # a stopped loop writes nothing
        assert len(h.running(sid)) == 2
        new = await h.start_leader()
        assert isinstance(new, LeaderServices) and new is not old
        await h.eventually(lambda: h.converged(sid, 4), "the new leader scales to 4")


async def test_restart_delay_is_kept_by_a_timer():
    async with harness(nodes=1) as h:
        delayed = spec(replicas=1)
        delayed["TaskTemplate"]["RestartPolicy"]["Delay"] = 200_000_000  # 0.2 s
        sid = await h.create_service(delayed)
        await h.eventually(lambda: h.converged(sid, 1), "running")
        first = h.running(sid)[0]["ID"]
        h.workers.crash.add(first)
        # The replacement waits (desired state ready) until its delay is over; nothing but
        # the leader's timer moves it on.
        await h.eventually(
            lambda: any(t["DesiredState"] == "ready" for t in h.store.tasks_by_service(sid)),
            "replacement waits",
        )
        await h.eventually(
            lambda: h.converged(sid, 1) and h.running(sid)[0]["ID"] != first, "restarted"
        )
        replacement = h.running(sid)[0]
        assert replacement["StartAfter"] > h.store.get("task", first)["Status"]["Timestamp"]


async def test_node_removed_tasks_replaced():
    async with harness(nodes=3) as h:
        sid = await h.create_service(spec(replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "3 running")
        await h.propose(commands.delete("node", "node3"))
        await h.eventually(
            lambda: h.converged(sid, 3) and "node3" not in nodes_of(h.running(sid)),
            "tasks of the removed node replaced",
        )


async def test_manual_rollback_completes():
    from swarmlet.manager import controlapi

    async with harness(nodes=2) as h:
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")
        await h.update_service(
            sid, lambda s: s["TaskTemplate"]["ContainerSpec"].update(Image="busybox:v2")
        )
        await h.eventually(
            lambda: dig(h.store.get("service", sid), "UpdateStatus.State") == "completed",
            "update completed",
        )
        current = h.store.get("service", sid)
        await h.propose(
            controlapi.rollback_service(current, current["Version"]["Index"], h.ctx.timestamp())
        )
        await h.eventually(
            lambda: dig(h.store.get("service", sid), "UpdateStatus.State") == "rollback_completed",
            "rollback completed",
        )
        assert h.converged(sid, 2)
        assert {dig(t, "Spec.ContainerSpec.Image") for t in h.running(sid)} == {"busybox:latest"}


async def test_no_leader_for_a_while_then_converges():
    from swarmlet.manager.context import NotLeaderError

    async with harness(nodes=2, leader=False) as h:
        propose = h.ctx.propose
        refusals = []

        async def no_quorum_at_first(command):
            if len(refusals) < 3:
                refusals.append(command)
                raise NotLeaderError("no leader")
            return await propose(command)

        barriers = []

        async def barrier_without_quorum_at_first():
            barriers.append(None)
            if len(barriers) < 3:
                raise NotLeaderError("no leader")

        h.ctx.propose = no_quorum_at_first
        h.ctx.read_barrier = barrier_without_quorum_at_first
        sid = await h.create_service(spec(replicas=2))
        await h.start_leader(retry_delay=0.01)
        await h.eventually(lambda: h.converged(sid, 2), "converged once writes go through")
        assert len(refusals) == 3 and len(barriers) == 3


async def test_follow_leadership_starts_and_stops_the_services():
    from swarmlet.manager.leader import follow_leadership

    async with harness(nodes=2, leader=False) as h:
        started = []

        def make(ctx):
            started.append(LeaderServices(ctx))
            return started[-1]

        send, receive = trio.open_memory_channel(0)
        h.nursery.start_soon(follow_leadership, h.ctx, receive, make)
        watchers = len(h.store._subscriptions)
        sid = await h.create_service(spec(replicas=2))
        await send.send(True)
        await h.eventually(lambda: h.converged(sid, 2), "converged while leading")
        await send.send(False)
        await h.eventually(lambda: len(h.store._subscriptions) == watchers, "stopped")
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=3))
        await trio.sleep(0.05)
        assert len(h.running(sid)) == 2  # nobody leads: nothing changes
        await send.send(True)
        await h.eventually(lambda: h.converged(sid, 3), "the next term picks up")
        assert len(started) == 2 and started[0] is not started[1]
        await send.aclose()


@pytest.mark.parametrize("seed", [1, 2])
async def test_converges_through_faults_with_raft_latency(seed):
    """Writes take a while to apply (so the leader's and the workers' writes interleave and
    race); tasks crash, nodes go down and come back, drain, services scale and update. Once
    the faults stop, every service converges on its last spec."""
    rng = random.Random(seed)
    async with harness(nodes=4, latency=0.003, seed=seed) as h:
        # An injected crash of a new task would pause its rollout (as it should): carry on.
        carry_on = {"FailureAction": "continue"}
        web = await h.create_service(spec(name="web", replicas=5, UpdateConfig=carry_on))
        api = await h.create_service(spec(name="api", replicas=3, UpdateConfig=carry_on))
        agent = await h.create_service(spec(name="agent", replicas=None, UpdateConfig=carry_on))
        replicas = {web: 5, api: 3}
        for step in range(40):
            fault = rng.choice(
                ["crash", "crash", "down", "up", "drain", "active", "scale", "image"]
            )
            node = f"node{rng.randint(1, 4)}"
            running = [t for sid in (web, api, agent) for t in h.running(sid)]
            if fault == "crash" and running:
                h.workers.crash.add(rng.choice(running)["ID"])
            elif fault in ("down", "up"):
                await h.set_node_state(node, "down" if fault == "down" else "ready")
            elif fault in ("drain", "active"):
                await h.set_availability(node, fault)
            elif fault == "scale":
                sid = rng.choice([web, api])
                replicas[sid] = rng.randint(1, 6)
                await h.update_service(
                    sid, lambda s, n=replicas[sid]: s["Mode"]["Replicated"].update(Replicas=n)
                )
            else:
                sid = rng.choice([web, api, agent])
                image = f"busybox:v{step}"
                await h.update_service(
                    sid,
                    lambda s, i=image: s["TaskTemplate"]["ContainerSpec"].update(Image=i),
                )
            await trio.sleep(rng.uniform(0, 0.05))
        for i in range(1, 5):
            await h.set_node_state(f"node{i}", "ready")
            await h.set_availability(f"node{i}", "active")
        for sid, n in replicas.items():
            await h.eventually(lambda sid=sid, n=n: h.converged(sid, n), f"{sid} converged")
        template = h.store.get("service", agent)["Spec"]["TaskTemplate"]
        await h.eventually(
            lambda: (
                nodes_of(h.running(agent)) == ["node1", "node2", "node3", "node4"]
                and all(t["Spec"] == template for t in h.running(agent))
            ),
            "global service converged",
        )
        # One active task per slot: nothing was created twice while racing.
        for sid in (web, api):
            active = [t for t in h.store.tasks_by_service(sid) if t["DesiredState"] == "running"]
            assert sorted(t["Slot"] for t in active) == list(range(1, replicas[sid] + 1))


async def test_an_unreadable_service_does_not_stop_the_others():
    async with harness(nodes=2) as h:
        bad = _create_without_checks(h, spec(name="bad", replicas=1))
        bad["object"]["Spec"]["Mode"] = {"Replicated": {"Replicas": "many"}}
        bad_id = (await h.propose(bad))["ID"]
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "the good service runs")
        assert h.store.tasks_by_service(bad_id) == []
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "and keeps being served")


async def test_snapshot_restore_rebuilds_the_loop_state():
    async with harness(nodes=2) as h:
        sid = await h.create_service(spec(replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "2 running")
        snapshot = h.store.snapshot()
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=4))
        await h.eventually(lambda: h.converged(sid, 4), "4 running")
        # An InstallSnapshot from a peer: the store goes back; the loop re-reads everything.
        h.store.restore(snapshot)
        assert len(h.running(sid)) == 2
        await h.add_node("node3")
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=3))
        await h.eventually(lambda: h.converged(sid, 3), "3 running after the restore")
        assert "node3" in nodes_of(h.running(sid))


async def test_host_mode_ports_one_task_per_node_and_a_port_change_rolls_tasks():
    def published(n):
        return {
            "Ports": [
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": n, "PublishMode": "host"}
            ]
        }

    async with harness(nodes=2) as h:
        sid = await h.create_service(spec(replicas=3, EndpointSpec=published(8080)))
        reason = "no suitable node (host-mode port already in use on 2 nodes)"
        await h.eventually(
            lambda: (
                len(h.running(sid)) == 2
                and [
                    dig(t, "Status.Err")
                    for t in h.store.tasks_by_service(sid)
                    if state(t) == "pending"
                ]
                == [reason]
            ),
            "two placed, the third waits for a free port",
        )
        assert nodes_of(h.running(sid)) == ["node1", "node2"]
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=2))
        await h.update_service(sid, lambda s: s.update(EndpointSpec=published(8081)))
        await h.eventually(
            lambda: (
                dig(h.store.get("service", sid), "UpdateStatus.State") == "completed"
                and h.converged(sid, 2)
            ),
            "the port change rolled out",
        )
        ports = {t["Endpoint"]["Ports"][0]["PublishedPort"] for t in h.running(sid)}
        assert ports == {8081}


async def test_replicated_job_runs_to_completion():
    async with harness(nodes=2) as h:
        job = spec(replicas=1, image="busybox:job")
        job["Mode"] = {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}}
        sid = await h.create_service(job)

        def completed():
            return [t for t in h.store.tasks_by_service(sid) if state(t) == "complete"]

        await h.eventually(lambda: len(completed()) == 5, "5 completions")
        assert sorted(t["Slot"] for t in completed()) == [1, 2, 3, 4, 5]
        await trio.sleep(0.05)
        assert len(h.store.tasks_by_service(sid)) == 5  # and no more tasks


async def test_a_flood_of_changes_overflows_the_watch_and_the_loop_rereads_the_store():
    async with harness(nodes=3, leader=False) as h:
        leader = await h.start_leader(watch_queue=5)
        sid = await h.create_service(spec(replicas=12))
        await h.eventually(lambda: h.converged(sid, 12), "12 running")
        assert leader.rebuilds > 1  # the first at start, then after each overflow
        await h.update_service(sid, lambda s: s["Mode"]["Replicated"].update(Replicas=2))
        await h.eventually(lambda: h.converged(sid, 2), "scaled down")
