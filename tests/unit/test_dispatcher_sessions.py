"""The dispatcher and the worker's session over real secure sessions on loopback, with a real
agent (on an in-memory executor) and a LocalCluster store."""

import pytest
import trio

from swarmlet.manager.context import LocalCluster
from swarmlet.manager.dispatcher_protocol import SESSION_REQUEST, STATUS_REQUEST
from swarmlet.store.objects import NODE, TASK, dig
from swarmlet.wire.mux import RemoteError, Router
from swarmlet.wire.peers import Transport

from .dispatcher_fixtures import (
    FAST_PERIOD_NS,
    ManagerNode,
    WorkerNode,
    add_task,
    eventually,
    setup_store,
)
from .store_fixtures import task
from .wire_fixtures import TestCluster

pytestmark = pytest.mark.anyio


def state_of(cluster, kind, obj_id):
    obj = cluster.store.get(kind, obj_id)
    return dig(obj, "Status.State") if obj else None


async def test_an_assigned_task_runs_and_the_store_hears_it():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        worker = WorkerNode(cl.creds("worker"), [mgr.address])
        host = {
            "Hostname": "box1",
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 1 << 30},
            "Engine": {"EngineVersion": "27.5.1", "Labels": {"zone": "a"}},
        }
        worker.session.description = host
        await setup_store(cluster, [worker.node_id])
        await worker.start(nursery)
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "ready", what="ready")
        described = cluster.store.get(NODE, worker.node_id)["Description"]
        assert {k: described[k] for k in host} == host

        await add_task(cluster, "task1", worker.node_id)
        await eventually(lambda: state_of(cluster, TASK, "task1") == "running", what="running")
        status = cluster.store.get(TASK, "task1")["Status"]
        assert status["ContainerStatus"] == {"ContainerID": "c-task1", "PID": 4242}
        assert worker.executor.containers["task1"]["running"]
        # the worker was given the service's name with the task
        assert worker.session.assigned["task1"]["ServiceAnnotations"] == {"Name": "web"}
        nursery.cancel_scope.cancel()


async def test_a_worker_that_stops_heartbeating_is_marked_down():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        worker = WorkerNode(cl.creds("worker"), [mgr.address])
        await setup_store(cluster, [worker.node_id], period_ns=FAST_PERIOD_NS)
        await worker.start(nursery)
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "ready", what="ready")

        worker.stop_session()
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "down", what="down")
        assert cluster.store.get(NODE, worker.node_id)["Status"]["Message"] == "heartbeat failure"

        await worker.start_session(nursery)  # it comes back: ready again
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "ready", what="back")
        nursery.cancel_scope.cancel()


async def test_gossip_verdict_marks_a_node_down_at_once():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        await setup_store(cluster, ["silentnode"], period_ns=60 * 1_000_000_000)
        assert mgr.dispatcher.node_dead("silentnode")
        await eventually(lambda: state_of(cluster, NODE, "silentnode") == "down", what="down")
        assert cluster.store.get(NODE, "silentnode")["Status"]["Message"] == "node unreachable"
        nursery.cancel_scope.cancel()


async def test_reconnect_after_dispatcher_restart_reports_what_happened_meanwhile():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        worker = WorkerNode(cl.creds("worker"), [mgr.address])
        await setup_store(cluster, [worker.node_id])
        await worker.start(nursery)
        await add_task(cluster, "job1", worker.node_id)
        await add_task(cluster, "svc1", worker.node_id, slot=2)
        await eventually(lambda: state_of(cluster, TASK, "job1") == "running", what="running")
        await eventually(lambda: state_of(cluster, TASK, "svc1") == "running", what="running")
        first = worker.session.registrations

        mgr.stop_dispatcher()  # leadership lost; no manager serves for a while
        await eventually(lambda: worker.session.session_id is None, what="session ended")
        worker.executor.exit("job1", 0)  # the task completes while nobody listens
        await eventually(lambda: worker.agent.tasks["job1"]["Status"]["State"] == "complete")
        assert state_of(cluster, TASK, "job1") == "running"
        assert worker.executor.containers["svc1"]["running"]  # the other one keeps running

        await mgr.start_dispatcher(nursery)  # a leader again
        await eventually(lambda: state_of(cluster, TASK, "job1") == "complete", what="caught up")
        assert worker.session.registrations > first
        assert state_of(cluster, TASK, "svc1") == "running"
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "ready", what="ready")
        nursery.cancel_scope.cancel()


async def test_all_managers_gone_then_a_new_one_at_another_address():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        managers = [mgr.address]
        worker = WorkerNode(cl.creds("worker"), lambda: list(managers))
        await setup_store(cluster, [worker.node_id])
        await worker.start(nursery)
        await add_task(cluster, "job1", worker.node_id)
        await eventually(lambda: state_of(cluster, TASK, "job1") == "running", what="running")

        mgr.stop()  # no manager at all: dials fail, the worker keeps retrying
        await eventually(lambda: worker.session.session_id is None, what="session ended")
        worker.executor.exit("job1", 3)
        await eventually(lambda: worker.agent.tasks["job1"]["Status"]["State"] == "failed")

        replacement = ManagerNode(cl.creds("manager"), cluster)
        await replacement.start(nursery)
        managers[:] = [replacement.address]  # membership now knows this manager only
        await eventually(lambda: state_of(cluster, TASK, "job1") == "failed", what="caught up")
        assert cluster.store.get(TASK, "job1")["Status"]["Err"] == "task: non-zero exit (3)"
        assert worker.session.leader == replacement.address
        nursery.cancel_scope.cancel()


async def test_a_follower_redirects_the_worker_to_the_leader():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        leader = ManagerNode(cl.creds("manager"), cluster)
        await leader.start(nursery)
        follower = ManagerNode(cl.creds("manager"), cluster, leader=leader)
        await follower.start(nursery, dispatcher=False)
        worker = WorkerNode(cl.creds("worker"), [follower.address])  # knows the follower only
        await setup_store(cluster, [worker.node_id])
        await worker.start(nursery)
        await add_task(cluster, "task1", worker.node_id)
        await eventually(lambda: state_of(cluster, TASK, "task1") == "running", what="running")
        assert worker.session.leader == leader.address

        with pytest.raises(RemoteError) as err:
            await worker.transport.request(
                follower.address, "dispatcher.heartbeat", {"session_id": "x"}
            )
        assert err.value.code == "not_leader" and err.value.message == leader.address
        nursery.cancel_scope.cancel()


async def test_a_hostile_worker_cannot_touch_another_nodes_tasks():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        worker = WorkerNode(cl.creds("worker"), [mgr.address])
        hostile_creds = cl.creds("worker")
        await setup_store(cluster, [worker.node_id, hostile_creds.identity.node_id])
        await worker.start(nursery)
        await add_task(cluster, "task1", worker.node_id)
        await eventually(lambda: state_of(cluster, TASK, "task1") == "running", what="running")
        victim_session = worker.session.session_id

        hostile = Transport(hostile_creds, Router())
        await nursery.start(hostile.run)
        conn = await hostile.connection(mgr.address)
        async with conn.stream("dispatcher.session", {}) as reader:
            hello = await reader.__anext__()
            full = await reader.__anext__()
            assert full["full"] and full["updates"] == []  # it sees none of the victim's tasks
            reply = await conn.request(
                "dispatcher.status",
                {
                    "session_id": hello["session_id"],
                    "updates": [{"task_id": "task1", "status": {"State": "failed"}}],
                },
            )
            assert reply == {"rejected": 1}
            # the victim's session ID does not work from another node
            with pytest.raises(RemoteError) as err:
                await conn.request(
                    "dispatcher.status",
                    {
                        "session_id": victim_session,
                        "updates": [{"task_id": "task1", "status": {"State": "failed"}}],
                    },
                )
            assert err.value.code == "invalid_session"
            with pytest.raises(RemoteError) as err:
                await conn.request("dispatcher.heartbeat", {"session_id": victim_session})
            assert err.value.code == "invalid_session"
        assert mgr.dispatcher.core.pending == 0  # nothing was queued to write
        assert state_of(cluster, TASK, "task1") == "running"
        nursery.cancel_scope.cancel()


async def test_an_unknown_node_cannot_register():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        await setup_store(cluster, [])
        stranger = Transport(cl.creds("worker"), Router())
        await nursery.start(stranger.run)
        conn = await stranger.connection(mgr.address)
        with pytest.raises(RemoteError) as err:
            async with conn.stream("dispatcher.session", {}) as reader:
                await reader.__anext__()
        assert err.value.code == "unknown_node"
        nursery.cancel_scope.cancel()


async def test_the_leaders_own_worker_uses_the_same_transport():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        await setup_store(cluster, [mgr.node_id])
        own = WorkerNode(mgr.creds, [mgr.address], transport=mgr.transport)
        await own.start(nursery)
        await add_task(cluster, "task1", mgr.node_id)
        await eventually(lambda: state_of(cluster, TASK, "task1") == "running", what="running")
        await eventually(lambda: state_of(cluster, NODE, mgr.node_id) == "ready", what="ready")
        nursery.cancel_scope.cancel()


async def test_the_worker_rebuilds_chunked_full_sets_and_registers_again_after_a_gap():
    cl = TestCluster()
    opened = []
    reports = []

    async def session(peer, body, out):
        opened.append(peer.node_id)
        await out.send({"session_id": f"s{len(opened)}", "period": 30.0})
        for seq, tid, more in ((1, "a", True), (2, "b", False)):
            t = task(tid, "svc1", seq, peer.node_id, "assigned")
            msg = {"seq": seq, "full": True, "more": more, "updates": [t], "removals": []}
            await out.send(msg)
        if len(opened) == 1:  # a message went missing: 3 never arrives
            await out.send(
                {"seq": 4, "full": False, "more": False, "updates": [], "removals": ["a"]}
            )
        await trio.sleep_forever()

    async def status(peer, body):
        reports.extend(u["task_id"] for u in body["updates"])
        return {"rejected": 0}

    router = Router()
    router.stream("dispatcher.session", SESSION_REQUEST, session)
    router.request("dispatcher.status", STATUS_REQUEST, status)
    async with trio.open_nursery() as nursery:
        manager = Transport(cl.creds("manager"), router, listen=("127.0.0.1", 0))
        address = f"127.0.0.1:{await nursery.start(manager.run)}"
        worker = WorkerNode(cl.creds("worker"), [address])
        await worker.start(nursery)
        await eventually(lambda: len(opened) == 2, what="a second registration")
        await eventually(lambda: sorted(worker.agent.tasks) == ["a", "b"], what="both tasks")
        assert sorted(worker.session.assigned) == ["a", "b"]  # the removal after the gap is ignored
        await eventually(lambda: {"a", "b"} <= set(reports), what="reports")
        nursery.cancel_scope.cancel()


async def test_the_worker_follows_a_change_of_leader():
    cl, cluster = TestCluster(), LocalCluster()
    async with trio.open_nursery() as nursery:
        first = ManagerNode(cl.creds("manager"), cluster)
        await first.start(nursery)
        second = ManagerNode(cl.creds("manager"), cluster, leader=first)
        await second.start(nursery, dispatcher=False)
        worker = WorkerNode(cl.creds("worker"), [first.address, second.address])
        await setup_store(cluster, [worker.node_id])
        await worker.start(nursery)
        await add_task(cluster, "task1", worker.node_id)
        await eventually(lambda: state_of(cluster, TASK, "task1") == "running", what="running")
        assert worker.session.leader == first.address

        first.stop_dispatcher()  # leadership moves to the second manager
        first.leader, second.leader = second, None
        await second.start_dispatcher(nursery)
        await eventually(lambda: worker.session.leader == second.address, what="followed")
        await eventually(lambda: worker.session.session_id is not None, what="registered")
        worker.executor.exit("task1", 0)
        await eventually(lambda: state_of(cluster, TASK, "task1") == "complete", what="complete")
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "ready", what="ready")
        nursery.cancel_scope.cancel()


async def test_a_manager_that_never_answers_the_session_start_is_passed_over():
    """A manager cut off by the network can look connected; the worker gives up on it after
    the hello deadline and registers with the next one."""
    from swarmlet.manager.dispatcher_protocol import SESSION_ROUTE

    cl, cluster = TestCluster(), LocalCluster()
    silent_router = Router()

    async def never_answer(peer, body, out):
        await trio.sleep_forever()

    silent_router.stream(SESSION_ROUTE, SESSION_REQUEST, never_answer)
    async with trio.open_nursery() as nursery:
        silent = Transport(cl.creds("manager"), silent_router, listen=("127.0.0.1", 0))
        silent_address = f"127.0.0.1:{await nursery.start(silent.run)}"
        mgr = ManagerNode(cl.creds("manager"), cluster)
        await mgr.start(nursery)
        worker = WorkerNode(cl.creds("worker"), [silent_address, mgr.address])
        worker.session.hello_timeout = 2.0  # the real manager answers well within it
        await setup_store(cluster, [worker.node_id])
        await worker.start(nursery)
        await eventually(lambda: state_of(cluster, NODE, worker.node_id) == "ready", what="ready")
        await eventually(lambda: worker.session.leader == mgr.address, what="session with mgr")
        nursery.cancel_scope.cancel()
