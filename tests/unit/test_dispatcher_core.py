"""The dispatcher core: heartbeats and grace, assignment messages, status validation."""

from swarmlet.manager.dispatcher_core import STATUS_FIELDS, DispatcherCore, heartbeat_period
from swarmlet.manager.dispatcher_protocol import STATUS, worker_status
from swarmlet.store import Store, commands
from swarmlet.store.objects import TASK, edit, with_status

from .store_fixtures import T0, apply, node, service, task


class World:
    """A store plus a core that follows it, as the runner wires them."""

    def __init__(self, **options):
        self.store = Store()
        self.index = 0
        self.core = DispatcherCore(0.0, **options)
        self.sub = self.store.watch(kinds={"task"})
        self.do(commands.create("service", service("svc1", "web")))
        for n in ("n1", "n2"):
            self.do(commands.create("node", node(n, f"host-{n}")))

    def do(self, command):
        self.index += 1
        result = apply(self.store, self.index, command)
        assert result.ok, result.error
        self.core.on_events(self.sub.drain())
        return result

    def add_task(self, tid, node_id="n1", state="assigned", slot=1):
        return self.do(commands.create(TASK, task(tid, "svc1", slot, node_id, state)))

    def change(self, tid, **fields):
        t = edit(self.store.get(TASK, tid))
        t.update(fields)
        return self.do(commands.update(TASK, t))

    def set_state(self, tid, state):
        return self.do(commands.update(TASK, with_status(self.store.get(TASK, tid), state, T0)))


def status(state, **extra):
    return {"Timestamp": T0, "State": state, "Message": state, **extra}


# -- heartbeats ---------------------------------------------------------------------------------


def test_a_node_missing_three_periods_expires():
    core = DispatcherCore(0.0, period=1.0)
    core.register("n1", "s1", now=0.0)
    assert core.tick(2.9) == []
    assert core.heartbeat("n1", "s1", now=2.5)
    assert core.tick(5.4) == []
    assert core.tick(5.5) == ["n1"]
    assert not core.is_current("n1", "s1")
    assert core.tick(100.0) == []  # expired once, then forgotten until it registers again


def test_a_new_leader_gives_known_nodes_a_grace():
    nodes = [node("n1", "a"), node("n2", "b"), {**node("n3", "c"), "Status": {"State": "down"}}]
    core = DispatcherCore(10.0, period=1.0, leader_grace=2.0)
    core.adopt_nodes(nodes, now=10.0)
    assert core.tick(12.0) == []  # the usual 3 periods are not enough
    assert core.tick(15.9) == []
    core.register("n1", "s1", now=15.0)
    assert core.tick(16.0) == ["n2"]  # silent since the leader change: down; n3 was down already
    assert core.tick(17.9) == []
    assert core.tick(18.0) == ["n1"]


def test_heartbeat_of_a_replaced_session_is_refused():
    core = DispatcherCore(0.0)
    core.register("n1", "old", now=0.0)
    assert core.register("n1", "new", now=1.0) == "old"
    assert not core.heartbeat("n1", "old", now=1.5)
    assert core.heartbeat("n1", "new", now=1.5)


def test_period_follows_the_cluster_spec():
    assert heartbeat_period({"Spec": {"Dispatcher": {"HeartbeatPeriod": 250_000_000}}}) == 0.25
    assert heartbeat_period(None) == 1.0
    core = DispatcherCore(0.0, period=1.0)
    core.set_period(0.5)
    core.register("n1", "s1", now=0.0)
    assert core.tick(1.4) == [] and core.tick(1.5) == ["n1"]


def test_gossip_drop_ends_the_session():
    core = DispatcherCore(0.0)
    core.register("n1", "s1", now=0.0)
    assert core.drop("n1") == "s1"
    assert core.next_deadline() is None
    assert core.report("n1", "s1", [], Store()) is None


# -- assignments -------------------------------------------------------------------------------


def test_a_session_starts_with_the_full_set_of_assigned_tasks():
    w = World(chunk=2)
    for i, state in enumerate(("assigned", "running", "pending", "complete", "assigned")):
        w.add_task(f"t{i}", state=state, slot=i + 1)
    w.add_task("other", node_id="n2")
    w.core.register("n1", "s1", now=0.0)
    msgs = w.core.take("n1", w.store)
    assert [m["seq"] for m in msgs] == [1, 2]
    assert [m["more"] for m in msgs] == [True, False] and all(m["full"] for m in msgs)
    ids = [t["ID"] for m in msgs for t in m["updates"]]
    assert ids == ["t0", "t1", "t3", "t4"]  # pending is not yet the node's; n2's is not sent
    assert msgs[0]["updates"][0]["ServiceAnnotations"] == {"Name": "web"}
    assert w.core.take("n1", w.store) == []


def test_an_empty_node_still_gets_a_full_set():
    w = World()
    w.core.register("n1", "s1", now=0.0)
    assert w.core.take("n1", w.store) == [
        {"seq": 1, "full": True, "more": False, "updates": [], "removals": []}
    ]


def test_changes_after_the_full_set_are_incremental():
    w = World()
    w.add_task("t1")
    w.core.register("n1", "s1", now=0.0)
    w.core.take("n1", w.store)
    w.add_task("t2", slot=2)  # new
    w.change("t1", DesiredState="shutdown")  # the orchestrator stops it
    assert w.core.has_messages("n1")
    (msg,) = w.core.take("n1", w.store)
    assert msg["seq"] == 2 and not msg["full"]
    assert sorted(t["ID"] for t in msg["updates"]) == ["t1", "t2"]
    assert [t["DesiredState"] for t in msg["updates"] if t["ID"] == "t1"] == ["shutdown"]
    w.do(commands.delete(TASK, "t1"))
    (msg,) = w.core.take("n1", w.store)
    assert msg["seq"] == 3 and msg["updates"] == [] and msg["removals"] == ["t1"]


def test_status_only_changes_are_not_sent_back():
    w = World()
    w.add_task("t1")
    w.core.register("n1", "s1", now=0.0)
    w.core.take("n1", w.store)
    w.set_state("t1", "running")  # what the worker itself reported
    assert not w.core.has_messages("n1")
    assert w.core.take("n1", w.store) == []


def test_a_task_becoming_assigned_is_sent_and_other_nodes_are_untouched():
    w = World()
    w.core.register("n1", "s1", now=0.0)
    w.core.register("n2", "s2", now=0.0)
    w.core.take("n1", w.store), w.core.take("n2", w.store)
    w.add_task("t1", state="pending")
    assert w.core.take("n1", w.store) == []  # not yet assigned: nothing to say
    w.set_state("t1", "assigned")
    (msg,) = w.core.take("n1", w.store)
    assert [t["ID"] for t in msg["updates"]] == ["t1"]
    assert w.core.take("n2", w.store) == []


def test_resync_sends_a_full_set_again():
    w = World()
    w.add_task("t1")
    w.core.register("n1", "s1", now=0.0)
    w.core.take("n1", w.store)
    assert w.core.resync_all() == {"n1"}
    (msg,) = w.core.take("n1", w.store)
    assert msg["full"] and msg["seq"] == 2 and [t["ID"] for t in msg["updates"]] == ["t1"]


# -- status reports ----------------------------------------------------------------------------


def test_reports_are_batched_into_one_command():
    w = World()
    w.add_task("t1")
    w.add_task("t2", slot=2)
    w.core.register("n1", "s1", now=0.0)
    assert w.core.report("n1", "s1", [("t1", status("accepted"))], w.store) == []
    assert (
        w.core.report("n1", "s1", [("t1", status("running")), ("t2", status("preparing"))], w.store)
        == []
    )
    assert w.core.pending == 2
    command, taken = w.core.flush(w.store, "now")
    assert command["op"] == "batch" and len(command["ops"]) == 2
    assert sorted(taken) == ["t1", "t2"] and w.core.pending == 0
    w.do(command)
    assert w.store.get(TASK, "t1")["Status"]["State"] == "running"
    assert w.store.get(TASK, "t1")["UpdatedAt"] == "now"
    assert w.store.get(TASK, "t2")["Status"]["State"] == "preparing"


def test_stale_and_duplicate_reports_are_dropped():
    w = World()
    w.add_task("t1")
    w.core.register("n1", "s1", now=0.0)
    w.core.report("n1", "s1", [("t1", status("running"))], w.store)
    w.core.report("n1", "s1", [("t1", status("starting")), ("t1", status("running"))], w.store)
    command, _ = w.core.flush(w.store, "now")
    assert command["op"] == "update" and command["object"]["Status"]["State"] == "running"
    w.do(command)
    assert w.core.report("n1", "s1", [("t1", status("running"))], w.store) == []
    assert w.core.pending == 0
    w.core.report("n1", "s1", [("gone", status("running"))], w.store)  # deleted task: stale
    assert w.core.pending == 0


def test_a_worker_cannot_move_another_nodes_task_or_manager_states():
    w = World()
    w.add_task("mine")
    w.add_task("theirs", node_id="n2", slot=2)
    w.core.register("n1", "s1", now=0.0)
    refused = w.core.report(
        "n1",
        "s1",
        [
            ("theirs", status("failed")),
            ("mine", status("pending")),
            ("mine", status("orphaned")),
            ("mine", status("remove")),
            ("mine", status("bogus")),
        ],
        w.store,
    )
    assert [r.task_id for r in refused] == ["theirs", "mine", "mine", "mine", "mine"]
    assert "not assigned to node n1" in refused[0].reason
    assert w.core.pending == 0
    assert w.core.report("n1", "wrong-session", [("mine", status("running"))], w.store) is None


def test_a_report_keeps_only_status_fields():
    w = World()
    w.add_task("t1")
    w.core.register("n1", "s1", now=0.0)
    w.core.report("n1", "s1", [("t1", status("running", ContainerStatus={"PID": 5}))], w.store)
    command, _ = w.core.flush(w.store, "now")
    assert command["object"]["Status"]["ContainerStatus"] == {"PID": 5}
    assert command["object"]["DesiredState"] == "running"


def test_flush_respects_the_batch_size_and_retry_keeps_newer_reports():
    w = World(max_batch=2)
    for i in range(5):
        w.add_task(f"t{i}", slot=i + 1)
    w.core.register("n1", "s1", now=0.0)
    w.core.report("n1", "s1", [(f"t{i}", status("accepted")) for i in range(5)], w.store)
    command, taken = w.core.flush(w.store, "now")
    assert len(command["ops"]) == 2 and w.core.pending == 3
    w.core.report("n1", "s1", [("t0", status("running"))], w.store)
    w.core.retry(taken)  # the command failed: t1 goes back, t0's newer report stays
    assert w.core.pending == 5
    command, _ = w.core.flush(w.store, "now", limit=10)
    states = {op["object"]["ID"]: op["object"]["Status"]["State"] for op in command["ops"]}
    assert states == {"t0": "running", **{f"t{i}": "accepted" for i in range(1, 5)}}


def test_flush_rechecks_against_the_store():
    w = World()
    w.add_task("t1")
    w.core.register("n1", "s1", now=0.0)
    w.core.report("n1", "s1", [("t1", status("running"))], w.store)
    w.set_state("t1", "complete")  # moved further meanwhile (an earlier batch)
    command, _ = w.core.flush(w.store, "now")
    assert command is None


def test_large_tasks_are_split_across_messages():
    w = World(chunk_bytes=3000)
    for i in range(3):
        t = task(f"t{i}", "svc1", i + 1, "n1", "assigned")
        t["Spec"]["ContainerSpec"]["Env"] = [f"BLOB={'x' * 2000}"]
        w.do(commands.create(TASK, t))
    w.core.register("n1", "s1", now=0.0)
    msgs = w.core.take("n1", w.store)
    assert [len(m["updates"]) for m in msgs] == [1, 1, 1]
    assert [m["more"] for m in msgs] == [True, True, False]
    w.do(commands.delete(TASK, "t0"))
    for i in (1, 2):
        w.change(f"t{i}", DesiredState="shutdown")
    msgs = w.core.take("n1", w.store)
    assert [(len(m["updates"]), m["removals"]) for m in msgs] == [(1, ["t0"]), (1, [])]
    assert [m["seq"] for m in msgs] == [4, 5]


def test_worker_status_fits_the_wire_schema():
    long = {"Timestamp": T0, "State": "failed", "Message": "m", "Err": "e" * 10_000}
    fitted = worker_status({**long, "Extra": 1, "ContainerStatus": {"PID": 3, "Bad": [1]}})
    assert STATUS.validate(fitted) == fitted
    assert len(fitted["Err"]) == 4000 and "Extra" not in fitted
    assert fitted["ContainerStatus"] == {"PID": 3}
    assert worker_status({"State": "assigned"}) is None
    assert worker_status({"State": "orphaned"}) is None
    assert tuple(STATUS.fields) == STATUS_FIELDS


def test_a_batch_of_large_tasks_is_cut_by_size():
    w = World(batch_bytes=5000)
    for i in range(4):
        t = task(f"t{i}", "svc1", i + 1, "n1", "assigned")
        t["Spec"]["ContainerSpec"]["Env"] = [f"BLOB={'x' * 2000}"]
        w.do(commands.create(TASK, t))
    w.core.register("n1", "s1", now=0.0)
    w.core.report("n1", "s1", [(f"t{i}", status("running")) for i in range(4)], w.store)
    sizes = []
    while w.core.pending:
        command, _ = w.core.flush(w.store, "now")
        sizes.append(len(command["ops"]) if command["op"] == "batch" else 1)
        w.do(command)
    assert sizes == [3, 1]  # over the byte budget after the third
    assert all(w.store.get(TASK, f"t{i}")["Status"]["State"] == "running" for i in range(4))
