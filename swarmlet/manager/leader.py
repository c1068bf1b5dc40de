"""The leader's services loop: keeps every service converged on its spec.

On the raft leader only, against the replicated store. The node runs
`follow_leadership(ctx, role_changes)` for the life of the manager: it starts a fresh
`LeaderServices(ctx).run()` each time raft reports this node leader and cancels it when
raft reports otherwise (a cancelled loop drops its store watch and leaves nothing behind;
a write it had in flight is either committed or planned again by the next leader). The
loop:

- allocate: services get their published ports; NEW tasks of allocated services move to
  PENDING with those ports;
- orchestrate: each service touched by a change (its spec, its tasks, the nodes its tasks
  run on; every global service on any node change) is reconciled by the pure
  `Orchestrator`, and each non-empty plan is proposed as one batch;
- schedule: pending tasks are placed in batches by the pure `Scheduler` (a short gathering
  window lets a burst of identical tasks be placed together);
- timers: a plan's `wake_at` (restart delays, update delays) reconciles its service again.

All of it is level-triggered: after any change the loop recomputes from the store, so a
write that loses a race ("update out of sequence", because a worker's status landed between
read and proposal) is simply planned again from the fresh state, never applied stale. The
state kept here (scheduler's view, port allocation) is rebuilt from the store at start, so
a new leader picks up where the last one left.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterable, Callable

import trio

from swarmlet import trace
from swarmlet.manager.allocator import AllocationError, Allocator, is_allocated, pending_task
from swarmlet.manager.context import ClusterContext, NotLeaderError
from swarmlet.manager.orchestrator.reconcile import Orchestrator, service_mode
from swarmlet.manager.orchestrator.tasks import DEFAULT_HISTORY_LIMIT, is_active
from swarmlet.sched.scheduler import Scheduler
from swarmlet.store import RESET, OutOfSequence, commands
from swarmlet.store.errors import NotFound
from swarmlet.store.objects import dig, edit

log = logging.getLogger(__name__)

WATCHED_KINDS = ("service", "task", "node", "cluster")
ASSIGNED_MESSAGE = "scheduler assigned task to node"
# Gather changes this long after the first one before acting, so that a burst (a service
# created with many replicas, many status reports) is handled, and scheduled, together.
BATCH_WINDOW = 0.005
# A write refused for another reason than a lost race is tried again after this long.
RETRY_DELAY = 1.0
# Without any change, look again this often (a safety net; changes wake the loop at once).
IDLE_POLL = 5.0
# A timer key that only asks for another pass (allocation and scheduling look at the store).
_PASS = ""


def history_limit(cluster: dict | None) -> int:
    limit = dig(cluster, "Spec.Orchestration.TaskHistoryRetentionLimit")
    return DEFAULT_HISTORY_LIMIT if limit is None else int(limit)


def _lost_race(error) -> bool:
    return isinstance(error, OutOfSequence | NotFound)


class LeaderServices:
    """Allocator, orchestrators and scheduler, driven by the store's changes."""

    def __init__(
        self,
        ctx: ClusterContext,
        *,
        batch_window: float = BATCH_WINDOW,
        retry_delay: float = RETRY_DELAY,
        watch_queue: int = 100_000,
    ) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.batch_window = batch_window
        self.retry_delay = retry_delay
        # Events held between passes; beyond this the watch overflows and the loop re-reads
        # the whole store instead (cheaper than following a flood event by event).
        self.watch_queue = watch_queue
        self.orchestrator = Orchestrator(ctx.new_id, history_limit(self.store.cluster()))
        self.scheduler = Scheduler()
        self.allocator = Allocator()
        self._dirty: set[str] = set()  # services to reconcile
        self._wake: dict[str, float] = {}  # service ID -> when to reconcile it again
        self._schedule = False
        self._alloc_errors: dict[str, str] = {}  # service ID -> why its ports are refused
        self._changed = trio.Event()
        self._nodes_at = -1
        self._nodes: dict[str, dict] = {}
        # What happened, for logs and tests: proposals made and lost races retried.
        self.proposals = 0
        self.retries = 0
        self.rebuilds = 0

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        sub = self._subscribe()
        try:
            # A new leader may not have applied all that its predecessor committed: plan
            # from everything, or it would create tasks for slots already filled.
            await self._catch_up()
            self._rebuild()
            while True:
                try:
                    await self._converge()
                except Exception:  # a bug must not take the leader's services down for good
                    log.exception("leader services: pass failed; trying again")
                    await trio.sleep(self.retry_delay)
                    self._schedule = True
                await self._wait(sub)
                if sub.overflowed or sub.closed:
                    if sub.closed:  # cannot happen with our predicate; re-subscribe anyway
                        self.store.unwatch(sub)
                        sub = self._subscribe()
                    sub.drain()
                    sub.resync()
                    self._rebuild()
                else:
                    self._absorb(sub.drain())
        finally:
            self.store.unwatch(sub)

    def _subscribe(self):
        return self.store.watch(
            kinds=WATCHED_KINDS, predicate=self._poke, max_queue=self.watch_queue
        )

    async def _catch_up(self) -> None:
        while True:
            try:
                await self.ctx.read_barrier()
                return
            except NotLeaderError as exc:  # between terms: the node cancels us if it must
                log.warning("leader services: waiting for the store to catch up: %s", exc)
                await trio.sleep(self.retry_delay)

    def _poke(self, event) -> bool:
        """Watch predicate: wakes the loop (the store applies on the trio thread)."""
        try:
            self._changed.set()
        except RuntimeError:  # applied outside trio: the idle poll picks it up
            pass
        return True

    async def _wait(self, sub) -> None:
        self._changed = trio.Event()
        if not (len(sub) or sub.overflowed or self._dirty or self._schedule):
            now = self.ctx.now()
            timeout = min(self._wake.values(), default=now + IDLE_POLL) - now
            with trio.move_on_after(max(timeout, 0.0)):
                await self._changed.wait()
            await trio.sleep(self.batch_window)
        else:
            await trio.sleep(0)
        now = self.ctx.now()
        for sid, at in list(self._wake.items()):
            if at <= now:
                del self._wake[sid]
                self._dirty.add(sid)
                self._schedule = True
        self._dirty.discard(_PASS)

    def _rebuild(self) -> None:
        """Derive everything from the store (at start, after a snapshot restore or an
        overflowed watch)."""
        self.rebuilds += 1
        self.scheduler = Scheduler()
        for node in self.store.list("node"):
            self._guarded(self.scheduler.upsert_node, node)
        tasks = self.store.list("task")
        for task in tasks:
            self._guarded(self.scheduler.track_task, task)
        services = self.store.list("service")
        self.allocator.rebuild(services)
        self.orchestrator.history_limit = history_limit(self.store.cluster())
        self._dirty = {s["ID"] for s in services} | {t.get("ServiceID", "") for t in tasks}
        self._dirty.discard("")
        self._schedule = True

    def _guarded(self, take_in, obj: dict) -> None:
        try:
            take_in(obj)
        except Exception:  # an object the scheduler cannot read: it is left out
            log.exception("leader services: cannot take in %s", obj.get("ID"))

    def _absorb(self, events) -> None:
        for event in events:
            try:
                self._absorb_one(event)
            except Exception:  # an object the scheduler cannot read: it is skipped
                log.exception("leader services: cannot take in %s %s", event.kind, event.action)
            if event.action == RESET:
                return
        self._dirty.discard("")

    def _absorb_one(self, event) -> None:
        if event.action == RESET:
            self._rebuild()
            return
        obj = event.object
        if event.kind == "service":
            self._dirty.add(obj["ID"])
        elif event.kind == "task":
            self._dirty.add(obj.get("ServiceID", ""))
            self._schedule = True
            if event.action == "remove":
                self.scheduler.forget_task(obj["ID"])
            else:
                self.scheduler.track_task(obj)
        elif event.kind == "node":
            self._node_changed(event)
        elif event.kind == "cluster":
            limit = history_limit(obj if event.action != "remove" else None)
            if limit != self.orchestrator.history_limit:
                self.orchestrator.history_limit = limit
                self._dirty.update(s["ID"] for s in self.store.list("service"))

    def _node_changed(self, event) -> None:
        node = event.object
        self._dirty.update(t.get("ServiceID", "") for t in self.store.tasks_by_node(node["ID"]))
        self._dirty.update(
            s["ID"]
            for s in self.store.list("service")
            if service_mode(s) in ("global", "global-job")
        )
        self._schedule = True
        if event.action == "remove":
            self.scheduler.remove_node(node["ID"])
        else:
            self.scheduler.upsert_node(node)

    async def _converge(self) -> None:
        await self._allocate_services()
        await self._reconcile()
        await self._allocate_tasks()
        await self._run_scheduler()

    # -- proposing ------------------------------------------------------------------------

    async def _propose(self, command: dict, what: str) -> bool | None:
        """True when applied; False when it lost a race (plan again from fresh state);
        None when refused otherwise (logged, tried again after a delay)."""
        self.proposals += 1
        try:
            result = await self.ctx.propose(command)
        except NotLeaderError as exc:
            log.warning("%s: not proposed: %s", what, exc)
            await trio.sleep(self.retry_delay)
            return None
        if result.ok:
            return True
        if _lost_race(result.error):
            self.retries += 1
            return False
        log.error("%s: refused by the store: %s", what, result.error)
        return None

    def _service(self, service_id: str) -> dict | None:
        return self.store.get("service", service_id)

    def _retry_later(self, service_id: str) -> None:
        at = self.ctx.now() + self.retry_delay
        self._wake[service_id] = min(self._wake.get(service_id, at), at)

    # -- allocation -----------------------------------------------------------------------

    async def _allocate_services(self) -> None:
        # Releases first, and the services refused for lack of a port last, so that a port
        # freed in this pass goes to a service that waits for it.
        services = []
        for sid in sorted(self._dirty):
            service = self.store.get("service", sid)
            if service is None:
                self.allocator.release(sid)
                self._alloc_errors.pop(sid, None)
            elif sid not in self._alloc_errors:
                services.append(service)
        services.extend(filter(None, map(self._service, sorted(self._alloc_errors))))
        for service in services:
            sid = service["ID"]
            try:
                if not self.allocator.needs_update(service):
                    self._alloc_errors.pop(sid, None)
                    continue
                endpoint = self.allocator.endpoint(service)
            except AllocationError as exc:
                if self._alloc_errors.get(sid) != str(exc):
                    log.warning("service %s: %s", sid, exc)
                self._alloc_errors[sid] = str(exc)
                continue
            except Exception:
                log.exception("service %s: cannot allocate", sid)
                self._retry_later(sid)
                continue
            self._alloc_errors.pop(sid, None)
            updated = edit(service)
            updated["Endpoint"] = endpoint
            updated["UpdatedAt"] = self.ctx.timestamp()
            done = await self._propose(commands.update("service", updated), f"service {sid}")
            if done is None:
                self._retry_later(sid)

    async def _allocate_tasks(self) -> None:
        now = self.ctx.timestamp()
        ops = []
        for task in self.store.tasks_by_state("new"):
            service = self.store.get("service", task.get("ServiceID", ""))
            if service is None or not is_active(task):
                continue
            error = self._alloc_errors.get(service["ID"])
            if error is not None:
                if dig(task, "Status.Err") != error:
                    updated = dict(task)
                    updated["Status"] = {**task["Status"], "Err": error}
                    ops.append(commands.update("task", updated))
            elif is_allocated(service):
                ops.append(commands.update("task", pending_task(task, service, now)))
        if ops:
            done = await self._propose(commands.batch(*ops), f"allocating {len(ops)} tasks")
            if done:
                trace.mark("tasks.pending", n=len(ops))
            if done is None:  # a lost race needs nothing: its write woke the loop already
                self._retry_later(_PASS)

    # -- orchestration --------------------------------------------------------------------

    def _nodes_by_id(self) -> dict[str, dict]:
        if self._nodes_at != self.store.applied_index:
            self._nodes = {n["ID"]: n for n in self.store.list("node")}
            self._nodes_at = self.store.applied_index
        return self._nodes

    async def _reconcile(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for sid in sorted(dirty):
            service = self.store.get("service", sid)
            tasks = self.store.tasks_by_service(sid)
            nodes = self._nodes_by_id()
            if service is None and not tasks:
                self._wake.pop(sid, None)
                continue
            try:
                if service is None:
                    plan = self.orchestrator.remove_service(sid, tasks, nodes)
                else:
                    plan = self.orchestrator.reconcile(service, tasks, nodes, self.ctx.now())
            except Exception:  # an object the orchestrator cannot read: skip it, not the loop
                log.exception("service %s: cannot reconcile", sid)
                self._retry_later(sid)
                continue
            if plan.wake_at is not None:  # an earlier timer may stay: it plans nothing new
                self._wake[sid] = min(self._wake.get(sid, plan.wake_at), plan.wake_at)
            if not plan:
                continue
            command = self._plan_command(service, plan)
            done = False if command is None else await self._propose(command, f"service {sid}")
            if done and plan.create:
                trace.mark("tasks.created", service=sid, n=len(plan.create))
            if done is False:
                self._dirty.add(sid)  # plan again from what the store says now
            elif done is None:
                self._retry_later(sid)

    def _plan_command(self, service: dict | None, plan) -> dict | None:
        """The plan as one batch of CAS writes on the objects it was made from; None when
        one of them is already gone (the plan is stale)."""
        now = self.ctx.timestamp()
        ops = [commands.create("task", task) for task in plan.create]
        deleted = set(plan.delete)
        for task_id, fields in plan.update.items():
            if task_id in deleted:
                continue
            current = self.store.get("task", task_id)
            if current is None:
                return None
            updated = dict(current)
            updated.update(copy.deepcopy(fields))
            updated["UpdatedAt"] = now
            ops.append(commands.update("task", updated))
        for task_id in plan.delete:
            current = self.store.get("task", task_id)
            if current is not None:
                ops.append(commands.delete("task", task_id, current["Version"]["Index"]))
        if plan.service and service is not None:
            updated = edit(service)
            updated.update(copy.deepcopy(plan.service))
            if "Spec" in plan.service:  # a rollback: the tasks of the other spec are dirty
                updated["SpecVersion"] = {"Index": service["Version"]["Index"]}
            updated["UpdatedAt"] = now
            ops.append(commands.update("service", updated))
        return commands.batch(*ops) if ops else None

    # -- scheduling -----------------------------------------------------------------------

    async def _run_scheduler(self) -> None:
        if not self._schedule:
            return
        self._schedule = False
        pending = [t for t in self.store.tasks_by_state("pending") if is_active(t)]
        if not pending:
            return
        try:
            result = self.scheduler.schedule(pending)
        except Exception:  # a task the scheduler cannot read: log, try again later
            log.exception("scheduling %d tasks failed", len(pending))
            self._retry_later(_PASS)
            return
        now = self.ctx.timestamp()
        ops = []
        for task, node_id in result.assigned:
            updated = dict(task)
            updated["NodeID"] = node_id
            updated["Status"] = {"Timestamp": now, "State": "assigned", "Message": ASSIGNED_MESSAGE}
            updated["UpdatedAt"] = now
            ops.append(commands.update("task", updated))
        for task, reason in result.unassigned:
            if dig(task, "Status.Err") != reason:
                updated = dict(task)
                updated["Status"] = {**task["Status"], "Err": reason}
                ops.append(commands.update("task", updated))
        if not ops:
            return
        done = await self._propose(commands.batch(*ops), f"scheduling {len(result.assigned)} tasks")
        if done and result.assigned:
            trace.mark("tasks.assigned", n=len(result.assigned))
        if not done:
            for task, _ in result.assigned:  # not placed after all
                self.scheduler.forget_task(task["ID"])
            if done is False:
                self._schedule = True
            else:
                self._retry_later(_PASS)


async def follow_leadership(
    ctx: ClusterContext,
    leading: AsyncIterable[bool],
    services: Callable[[ClusterContext], LeaderServices] | None = None,
) -> None:
    """Run the leader's services while this node leads: a fresh `LeaderServices` (state
    rebuilt from the store) each time `leading` says True, cancelled when it says False.
    The node feeds it its raft role changes; it returns when `leading` ends."""
    make = services or LeaderServices
    async with trio.open_nursery() as nursery:
        scope: trio.CancelScope | None = None
        async for now_leading in leading:
            if now_leading and scope is None:
                scope = await nursery.start(_run_in_scope, make(ctx))
            elif not now_leading and scope is not None:
                scope.cancel()
                scope = None
        nursery.cancel_scope.cancel()


async def _run_in_scope(services: LeaderServices, task_status=trio.TASK_STATUS_IGNORED) -> None:
    with trio.CancelScope() as scope:
        task_status.started(scope)
        await services.run()
