"""The worker's runner: one controller per assigned task, driven by `controller.decide`.

The manager's dispatcher hands over assignments (`assign`); each status the worker reaches is
passed to `report` (the dispatcher client batches them to the leader). The worker keeps its
tasks running whether or not a manager is reachable, and a restarted worker adopts the
containers it finds by their deterministic names instead of making new ones.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import trio

from swarmlet import trace
from swarmlet.worker import controller as ctl
from swarmlet.worker.docker_executor import LABEL_TASK_ID, ExecutorError

log = logging.getLogger(__name__)

# A controller looks again this often even without an engine event, in case one was lost.
RECHECK_SECONDS = 10.0


def _stamp(task: dict, status: ctl.Status, now: str, container: ctl.Container | None) -> dict:
    out = {"Timestamp": now, "State": status.state, "Message": status.message}
    if status.err:
        out["Err"] = status.err
    if container is not None and container.id:
        cs = {"ContainerID": container.id, "PID": container.pid if container.running else 0}
        if container.exit_code is not None:
            cs["ExitCode"] = container.exit_code
        out["ContainerStatus"] = cs
    elif (task.get("Status") or {}).get("ContainerStatus"):
        out["ContainerStatus"] = task["Status"]["ContainerStatus"]
    return out


class Agent:
    def __init__(self, executor, report: Callable[[str, dict], None], clock: Callable[[], str]):
        self.executor = executor
        self.report = report
        self.clock = clock
        self.tasks: dict[str, dict] = {}
        self._wake: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None
        self._orphans: dict[str, str] = {}  # task ID -> container name, found at start
        self._synced = False  # a complete assignment arrived: unassigned containers may go

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self._orphans = await self.executor.task_containers()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._follow_events)
            for task_id in list(self.tasks):
                nursery.start_soon(self._control, task_id)
            self._clean_orphans()
            task_status.started()
            await trio.sleep(math.inf)

    # -- assignments ----------------------------------------------------------------------

    def assign(self, tasks: list[dict], complete: bool = True) -> None:
        """Take the manager's view of this node's tasks (all of them when `complete`)."""
        seen = set()
        for task in tasks:
            seen.add(task["ID"])
            mine = self.tasks.get(task["ID"])
            if mine is None:
                self.tasks[task["ID"]] = task
                self._orphans.pop(task["ID"], None)
                if self._nursery is not None:
                    self._nursery.start_soon(self._control, task["ID"])
                continue
            # the manager owns the desired state and the spec; the worker owns the status,
            # unless the manager's copy is further along (reported before a restart)
            merged = dict(task)
            if ctl.value(ctl_state(mine)) > ctl.value(ctl_state(task)):
                merged["Status"] = mine["Status"]
            self.tasks[task["ID"]] = merged
            self._poke(task["ID"])
        if complete:
            for task_id in [t for t in self.tasks if t not in seen]:
                del self.tasks[task_id]
                self._poke(task_id)
            self._synced = True
            self._clean_orphans()

    def _clean_orphans(self) -> None:
        """Containers of tasks the manager no longer gives this node go, once it has said so."""
        if not self._synced or self._nursery is None:
            return
        for task_id, name in list(self._orphans.items()):
            if task_id not in self.tasks:
                del self._orphans[task_id]
                self._nursery.start_soon(self._remove_orphan, name)

    def statuses(self) -> dict[str, dict]:
        """The latest status of every task, to resend after the manager was unreachable."""
        return {tid: t.get("Status") or {} for tid, t in self.tasks.items()}

    # -- controllers ----------------------------------------------------------------------

    def _poke(self, task_id: str) -> None:
        event = self._wake.get(task_id)
        if event is not None:
            event.set()

    def _set_status(
        self, task: dict, status: ctl.Status, container: ctl.Container | None = None
    ) -> None:
        task["Status"] = _stamp(task, status, self.clock(), container)
        self.report(task["ID"], task["Status"])
        trace.mark("task.state", task=task["ID"], state=status.state)

    async def _control(self, task_id: str) -> None:
        # What the engine showed of the container, while `fresh` (nothing was done since):
        # after a step that only reported a status, the next decision reuses it instead of
        # asking the engine again. The wake event is renewed before each look, so an engine
        # event after the look still wakes the controller.
        looked: ctl.Container | None = None
        fresh = False
        while True:
            if not fresh:
                self._wake[task_id] = trio.Event()
            task = self.tasks.get(task_id)
            if task is None:
                await self._retire(task_id)
                return
            current = ctl_state(task)
            desired = task.get("DesiredState") or "running"
            if not fresh and ctl.needs_container(current, desired):
                looked, fresh = await self.executor.observe(task), True
            container = looked if fresh else None
            step = ctl.decide(current, desired, container)
            if step.report:
                self._set_status(task, step.report, container)
            if step.action:
                fresh = False
                try:
                    made = await self._perform(step.action, task)
                except ExecutorError as exc:
                    self._set_status(task, ctl.failure(ctl_state(task), str(exc)), container)
                except Exception as exc:  # an engine or SDK surprise fails this task only
                    log.exception("task %s: %s failed", task_id, step.action)
                    self._set_status(task, ctl.failure(ctl_state(task), f"{step.action}: {exc}"))
                else:
                    if step.then:
                        self._wake[task_id] = trio.Event()
                        # a container just made is known without asking the engine
                        looked = made if made is not None else await self.executor.observe(task)
                        fresh = True
                        self._set_status(task, step.then, looked)
            if step.report or step.action:
                continue
            fresh = False
            with trio.move_on_after(RECHECK_SECONDS):
                await self._wake[task_id].wait()

    async def _perform(self, action: str, task: dict) -> ctl.Container | None:
        """Carry out an action; PREPARE may return the container it made."""
        if action == ctl.PREPARE:
            return await self.executor.prepare(task)
        elif action == ctl.START:
            await self.executor.start(task)
        elif action == ctl.STOP:
            await self.executor.stop(task)
        elif action == ctl.REMOVE:
            await self.executor.remove(task)
        return None

    async def _retire(self, task_id: str) -> None:
        """The task is no longer this node's: its container goes, stopped first."""
        self._wake.pop(task_id, None)
        name = self._orphans.pop(task_id, None)
        try:
            if name:
                await self.executor.remove(name)
            else:
                await self.executor.remove_task_container(task_id)
        except ExecutorError as exc:
            log.warning("could not remove the container of task %s: %s", task_id, exc)

    async def _remove_orphan(self, name: str) -> None:
        try:
            await self.executor.remove(name)
        except ExecutorError as exc:
            log.warning("could not remove container %s: %s", name, exc)

    async def _follow_events(self) -> None:
        """Engine events wake the controller of the task they concern."""
        token = trio.lowlevel.current_trio_token()

        def pump(client, stream):
            try:
                for event in stream:
                    labels = ((event.get("Actor") or {}).get("Attributes")) or {}
                    task_id = labels.get(LABEL_TASK_ID)
                    if task_id:
                        trio.from_thread.run_sync(self._poke, task_id, trio_token=token)
            except Exception as exc:  # the stream ends when the engine goes away
                log.info("engine event stream ended: %s", exc)

        while True:
            client, stream = await trio.to_thread.run_sync(self.executor.events)
            try:
                await trio.to_thread.run_sync(pump, client, stream, abandon_on_cancel=True)
            finally:
                client.close()
            await trio.sleep(1.0)  # the engine restarts: follow it again


def ctl_state(task: dict) -> str:
    return (task.get("Status") or {}).get("State") or "new"
