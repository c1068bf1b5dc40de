"""`/secrets` and `/configs`: list, create, inspect (a secret's data is never returned),
labels-only update, remove. The two kinds differ only in their names and controlapi calls."""

from __future__ import annotations

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
from swarmlet.api.router import Request, Response, Router
from swarmlet.manager import controlapi
from swarmlet.store.objects import CONFIG, SECRET, dig, docker_view, ordered

DATA_FILTERS = frozenset({"id", "label", "name", "names"})
_CALLS = {
    SECRET: (
        controlapi.create_secret,
        controlapi.update_secret,
        controlapi.remove_secret,
    ),
    CONFIG: (
        controlapi.create_config,
        controlapi.update_config,
        controlapi.remove_config,
    ),
}


def register(router: Router, cluster: Cluster) -> None:
    for kind in (SECRET, CONFIG):
        _register_kind(router, cluster, kind)


def _register_kind(router: Router, cluster: Cluster, kind: str) -> None:
    create, update, remove = _CALLS[kind]
    collection = f"/{kind}s"

    @api_errors
    async def list_objects(request: Request, params: dict[str, str]):
        filters = request.filters(DATA_FILTERS)
        ctx = await cluster.read(request)
        return [data_view(kind, o) for o in ctx.store.list(kind) if data_matches(o, filters)]

    @api_errors
    async def create_object(request: Request, params: dict[str, str]):
        spec = body_object(request, f"{kind} spec")
        ctx = await cluster.read(request)
        command = create(spec, ctx.timestamp(), ctx.new_id())
        name = command["object"]["Spec"]["Name"]
        created = await create_with_name(cluster, ctx, command, f"{kind} {name} already exists")
        return Response(201, {"ID": created["ID"]})

    @api_errors
    async def inspect_object(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        return data_view(kind, lookup(ctx.store, kind, params["id"]))

    @api_errors
    async def update_object(request: Request, params: dict[str, str]):
        version = version_param(request, kind)
        spec = body_object(request, f"{kind} spec")
        ctx = await cluster.read(request)
        current = lookup(ctx.store, kind, params["id"])
        await cluster.write(ctx, update(current, spec, version, ctx.timestamp()))
        return None

    @api_errors
    async def remove_object(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        current = lookup(ctx.store, kind, params["id"])
        await cluster.write(ctx, remove(current, ctx.store))
        return Response(204, b"")

    for name, handler in (
        ("list", list_objects),
        ("create", create_object),
        ("inspect", inspect_object),
        ("update", update_object),
        ("remove", remove_object),
    ):
        handler.__name__ = f"{name}_{kind}"
    router.add("GET", collection, list_objects)
    router.add("POST", f"{collection}/create", create_object)
    router.add("GET", f"{collection}/{{id}}", inspect_object)
    router.add("POST", f"{collection}/{{id}}/update", update_object)
    router.add("DELETE", f"{collection}/{{id}}", remove_object)


def data_view(kind: str, obj: dict) -> dict:
    """What Docker returns: a secret without its data, a config with it."""
    view = ordered(docker_view(kind, obj), "Secret")
    return {**view, "Spec": ordered(view.get("Spec") or {}, "SecretSpec")}


def data_matches(obj: dict, filters: dict[str, list[str]]) -> bool:
    """swarmkit's secret/config filters: `names` exact, `name` and `id` prefixes, labels."""
    name = dig(obj, "Spec.Name", "") or ""
    return (
        match_exact(name, filters.get("names"))
        and match_prefix(name, filters.get("name"))
        and match_prefix(obj["ID"], filters.get("id"))
        and match_labels(dig(obj, "Spec.Labels"), kv_filters(filters.get("label", [])))
    )
