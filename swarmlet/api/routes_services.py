"""`/services` and `/tasks`: create, list (with Docker 1.41's ServiceStatus), inspect, update
(and `rollback=previous`), remove; task listing with the filters `service ps` and `node ps`
send, and task inspect."""

from __future__ import annotations

import random

from swarmlet import trace
from swarmlet.api.cluster_common import (
    Cluster,
    api_errors,
    body_object,
    create_with_name,
    kv_filters,
    lookup,
    match_exact,
    match_labels,
    match_prefix,
    version_param,
)
from swarmlet.api.logstream import RAW_STREAM, LogOptionError, LogOptions, log_options
from swarmlet.api.router import ApiError, Request, Response, Router, StreamResponse
from swarmlet.api.routes_nodes import resolve_node
from swarmlet.manager import controlapi
from swarmlet.manager.orchestrator.update import is_dirty
from swarmlet.manager.specs.names import random_name
from swarmlet.store.errors import NAME_CONFLICT, NotFound
from swarmlet.store.objects import (
    SERVICE,
    TASK,
    TASK_STATES,
    dig,
    ordered,
    service_mode,
    task_name,
)
from swarmlet.store.state import ReadView

SERVICE_FILTERS = frozenset({"id", "label", "mode", "name", "runtime"})
TASK_FILTERS = frozenset(
    {"id", "name", "node", "desired-state", "service", "label", "runtime", "_up-to-date"}
)
_NAME_RNG = random.SystemRandom()


def register(router: Router, cluster: Cluster) -> None:
    @api_errors
    async def list_services(request: Request, params: dict[str, str]):
        filters = request.filters(SERVICE_FILTERS)
        with_status = request.bool_param("status")
        ctx = await cluster.read(request)
        out = []
        for service in ctx.store.list(SERVICE):
            if not service_matches(service, filters):
                continue
            view = ordered(service, "Service")
            if with_status:
                view = ordered(
                    {**view, "ServiceStatus": service_status(ctx.store, service)}, "Service"
                )
            out.append(view)
        return out

    @api_errors
    async def create_service(request: Request, params: dict[str, str]):
        trace.mark("service.received")
        spec = body_object(request, "service spec")
        ctx = await cluster.read(request)
        name = None if spec.get("Name") else random_name(_NAME_RNG)
        command = controlapi.create_service(spec, ctx.timestamp(), ctx.new_id(), ctx.store, name)
        created = await create_with_name(
            cluster,
            ctx,
            command,
            f"{NAME_CONFLICT}: service {command['object']['Spec']['Name']} already exists",
        )
        trace.mark("service.committed", service=created["ID"])
        return Response(201, {"ID": created["ID"], "Warnings": None})

    @api_errors
    async def inspect_service(request: Request, params: dict[str, str]):
        request.bool_param("insertDefaults")  # stored specs already carry the defaults
        ctx = await cluster.read(request)
        return ordered(lookup(ctx.store, SERVICE, params["id"]), "Service")

    @api_errors
    async def update_service(request: Request, params: dict[str, str]):
        version = version_param(request, "service")
        rollback = request.param("rollback", "") or ""
        if rollback not in ("", "none", "previous"):
            raise ApiError(400, f"unrecognized rollback option {rollback}")
        spec = body_object(request, "service spec")
        ctx = await cluster.read(request)
        current = lookup(ctx.store, SERVICE, params["id"])
        now = ctx.timestamp()
        if rollback == "previous":
            command = controlapi.rollback_service(current, version, now)
        else:
            command = controlapi.update_service(current, spec, version, now, ctx.store)
        await cluster.write(ctx, command)
        return {"Warnings": None}

    @api_errors
    async def remove_service(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        current = lookup(ctx.store, SERVICE, params["id"])
        await cluster.write(ctx, controlapi.remove_service(current))
        return None

    @api_errors
    async def list_tasks(request: Request, params: dict[str, str]):
        filters = request.filters(TASK_FILTERS)
        desired = _desired_states(filters.get("desired-state"))
        ctx = await cluster.read(request)
        view = ctx.store
        # Services and nodes named in filters are resolved first, as Docker's daemon does:
        # an unknown one is an error, not an empty list.
        service_ids = [lookup(view, SERVICE, ref)["ID"] for ref in filters.get("service", [])]
        node_ids = [resolve_node(ctx, ref)["ID"] for ref in filters.get("node", [])]
        return [
            ordered(task, "Task")
            for task in _candidate_tasks(view, service_ids, node_ids)
            if task_matches(view, task, filters, service_ids, node_ids, desired)
        ]

    @api_errors
    async def inspect_task(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        return ordered(resolve_task(ctx.store, params["id"]), "Task")

    @api_errors
    async def service_logs(request: Request, params: dict[str, str]):
        opts = request_log_options(request)
        ctx = await cluster.read(request)
        service = lookup(ctx.store, SERVICE, params["id"])
        tty = bool(dig(service, "Spec.TaskTemplate.ContainerSpec.TTY", False))
        return logs_response(ctx, opts, lambda: ctx.store.tasks_by_service(service["ID"]), tty)

    @api_errors
    async def task_logs(request: Request, params: dict[str, str]):
        opts = request_log_options(request)
        ctx = await cluster.read(request)
        task_id = resolve_task(ctx.store, params["id"])["ID"]

        def select() -> list[dict]:
            task = ctx.store.get(TASK, task_id)
            return [task] if task is not None else []

        tty = bool(dig(ctx.store.get(TASK, task_id), "Spec.ContainerSpec.TTY", False))
        return logs_response(ctx, opts, select, tty)

    router.add("GET", "/services", list_services)
    router.add("POST", "/services/create", create_service)
    router.add("GET", "/services/{id}", inspect_service)
    router.add("POST", "/services/{id}/update", update_service)
    router.add("DELETE", "/services/{id}", remove_service)
    router.add("GET", "/tasks", list_tasks)
    router.add("GET", "/tasks/{id}", inspect_task)
    router.add("GET", "/services/{id}/logs", service_logs)
    router.add("GET", "/tasks/{id}/logs", task_logs)


# -- logs -------------------------------------------------------------------------------------
def request_log_options(request: Request) -> LogOptions:
    """Docker's logs query (`stdout`, `stderr`, `follow`, `timestamps`, `details`, `tail`,
    `since`), refused with its daemon's texts."""
    try:
        return log_options(
            stdout=request.bool_param("stdout"),
            stderr=request.bool_param("stderr"),
            follow=request.bool_param("follow"),
            timestamps=request.bool_param("timestamps"),
            details=request.bool_param("details"),
            tail=request.param("tail"),
            since=request.param("since"),
        )
    except LogOptionError as exc:
        raise ApiError(400, str(exc)) from None


def logs_response(ctx, opts: LogOptions, select, tty: bool) -> StreamResponse:
    """The merged logs of the tasks `select()` names, streamed (Docker's raw-stream type)."""
    import trio

    from swarmlet.manager.logs import LogMerger

    if ctx.node_stream is None:
        raise ApiError(503, "this manager cannot reach the swarm's nodes for logs")
    merger = LogMerger(ctx.store, ctx.node_stream, opts, select, tty=tty)

    @trio.as_safe_channel
    async def lines():
        send, recv = trio.open_memory_channel(64)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(merger.run, send)
            async with recv:
                async for data in recv:
                    yield data

    return StreamResponse(lines(), content_type=RAW_STREAM)


# -- services ---------------------------------------------------------------------------------
def service_matches(service: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's service filters: name and id prefixes, labels, exact mode."""
    runtimes = filters.get("runtime")
    return (
        match_prefix(dig(service, "Spec.Name", "") or "", filters.get("name"))
        and match_prefix(service["ID"], filters.get("id"))
        and match_labels(dig(service, "Spec.Labels"), kv_filters(filters.get("label", [])))
        and match_exact(service_mode(service), filters.get("mode"))
        and match_exact(
            dig(service, "Spec.TaskTemplate.Runtime", "container") or "container", runtimes
        )
    )


def service_status(view: ReadView, service: dict) -> dict:
    """Docker 1.41's ServiceStatus, counted as swarmkit's ListServiceStatuses counts it:
    running tasks; desired = replicas (max concurrent for a replicated job), or for global
    modes the tasks meant to run (or to complete); jobs count completions of this iteration."""
    mode = dig(service, "Spec.Mode", {}) or {}
    is_global = "Global" in mode or "GlobalJob" in mode
    if "Replicated" in mode:
        desired = dig(mode, "Replicated.Replicas", 0) or 0
    elif "ReplicatedJob" in mode:
        desired = dig(mode, "ReplicatedJob.MaxConcurrent", 0) or 0
    else:
        desired = 0
    iteration = dig(service, "JobStatus.JobIteration.Index")
    running = completed = 0
    for task in view.tasks_by_service(service["ID"]):
        state = dig(task, "Status.State")
        if iteration is not None:
            if dig(task, "JobIteration.Index") != iteration:
                continue
            if state == "complete":
                completed += 1
        if state == "running":
            running += 1
        wanted = task.get("DesiredState")
        if is_global and (wanted == "running" or (wanted == "complete" and state != "complete")):
            desired += 1
    status = {"RunningTasks": running, "DesiredTasks": desired}
    if iteration is not None:
        status["CompletedTasks"] = completed
    return status


# -- tasks ------------------------------------------------------------------------------------
def _desired_states(values: list[str] | None) -> list[str]:
    states = []
    for value in values or ():
        if value.lower() in TASK_STATES:
            states.append(value.lower())
        elif value:
            raise ApiError(400, f"Invalid desired-state filter: '{value}'")
    return states


def _candidate_tasks(view: ReadView, service_ids: list[str], node_ids: list[str]) -> list[dict]:
    """Use the store's indexes when the filters name services or nodes."""
    if service_ids:
        found = {t["ID"]: t for sid in service_ids for t in view.tasks_by_service(sid)}
    elif node_ids:
        found = {t["ID"]: t for nid in node_ids for t in view.tasks_by_node(nid)}
    else:
        return view.list(TASK)
    return [found[i] for i in sorted(found)]


def full_task_name(view: ReadView, task: dict) -> str:
    """swarmkit's task name: `svc.slot.id` (replicated) or `svc.nodeid.id` (global)."""
    service = view.get(SERVICE, task.get("ServiceID", ""))
    service_name = dig(service, "Spec.Name", "") if service else ""
    return task_name(task, service_name or task.get("ServiceID", ""))


def task_matches(
    view: ReadView,
    task: dict,
    filters: dict[str, list[str]],
    service_ids: list[str],
    node_ids: list[str],
    desired: list[str],
) -> bool:
    """swarmkit's task filters: name and id prefixes (the name as `svc.slot.id`), the
    service's labels, services, nodes, desired states, and tasks running the current spec."""
    if not match_exact(task.get("ServiceID", ""), service_ids):
        return False
    if not match_exact(task.get("NodeID", "") or "", node_ids):
        return False
    if not match_exact(task.get("DesiredState", ""), desired):
        return False
    if not match_prefix(task["ID"], filters.get("id")):
        return False
    if filters.get("name") and not match_prefix(full_task_name(view, task), filters["name"]):
        return False
    service = view.get(SERVICE, task.get("ServiceID", ""))
    labels = kv_filters(filters.get("label", []))
    if labels and not match_labels(dig(service, "Spec.Labels"), labels):
        return False
    runtime = dig(task, "Spec.Runtime", "container") or "container"
    if not match_exact(runtime, filters.get("runtime")):
        return False
    stale = service is None or is_dirty(task, dig(service, "Spec.TaskTemplate"))
    return not (filters.get("_up-to-date") and stale)


def resolve_task(view: ReadView, ref: str) -> dict:
    """A task by full ID, name (`svc.slot.id`) or unique ID prefix, with Docker's texts."""
    task = view.get(TASK, ref)
    if task is not None:
        return task
    service_name = ref.split(".", 1)[0]
    named = [
        t
        for s in view.find_by_name(SERVICE, service_name)
        for t in view.tasks_by_service(s["ID"])
        if full_task_name(view, t) == ref
    ]
    found = named or (view.find_by_id_prefix(TASK, ref) if ref else [])
    if not found:
        raise ApiError(NotFound.http_status, f"task {ref} not found")
    if len(found) > 1:
        raise ApiError(400, f"task {ref} is ambiguous ({len(found)} matches found)")
    return found[0]
