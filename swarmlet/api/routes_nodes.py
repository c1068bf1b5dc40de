"""`/nodes`: list, inspect (`self` names the local node), update (availability, labels, role,
1.12's accept through Membership) and remove."""

from __future__ import annotations

from swarmlet.api.cluster_common import (
    Cluster,
    api_errors,
    body_object,
    kv_filters,
    lookup,
    match_exact,
    match_labels,
    match_prefix,
    version_param,
)
from swarmlet.api.router import ApiError, Request, Router
from swarmlet.api.routes_swarm import tls_info
from swarmlet.manager import controlapi
from swarmlet.manager.context import ClusterContext
from swarmlet.store.objects import NODE, NODE_MEMBERSHIPS, NODE_ROLES, dig, ordered

NODE_FILTERS = frozenset({"id", "label", "node.label", "membership", "name", "role"})


def register(router: Router, cluster: Cluster) -> None:
    @api_errors
    async def list_nodes(request: Request, params: dict[str, str]):
        filters = request.filters(NODE_FILTERS)
        _check_enum(filters.get("role"), NODE_ROLES, "role")
        _check_enum(filters.get("membership"), NODE_MEMBERSHIPS, "membership")
        ctx = await cluster.read(request)
        return [node_view(ctx, n) for n in ctx.store.list(NODE) if node_matches(n, filters)]

    @api_errors
    async def inspect_node(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        return node_view(ctx, resolve_node(ctx, params["id"]))

    @api_errors
    async def update_node(request: Request, params: dict[str, str]):
        version = version_param(request, "node")
        spec = body_object(request, "node spec")
        ctx = await cluster.read(request)
        current = resolve_node(ctx, params["id"])
        command = controlapi.update_node(current, spec, version, ctx.timestamp(), ctx.store)
        await cluster.write(ctx, command)
        return None

    @api_errors
    async def remove_node(request: Request, params: dict[str, str]):
        force = request.bool_param("force")
        ctx = await cluster.read(request)
        current = resolve_node(ctx, params["id"])
        command = controlapi.remove_node(current, force, ctx.store.cluster(), ctx.timestamp())
        await cluster.write(ctx, command)
        return None

    router.add("GET", "/nodes", list_nodes)
    router.add("GET", "/nodes/{id}", inspect_node)
    router.add("POST", "/nodes/{id}/update", update_node)
    router.add("DELETE", "/nodes/{id}", remove_node)


def resolve_node(ctx: ClusterContext, ref: str) -> dict:
    """A node by ID, hostname or ID prefix; `self` is the node serving the request."""
    if ref == "self":
        ref = ctx.node_id
    return lookup(ctx.store, NODE, ref)


def _check_enum(values: list[str] | None, allowed, what: str) -> None:
    for value in values or ():
        if value and value.lower() not in allowed:
            raise ApiError(400, f"Invalid {what} filter: '{value}'")


def node_matches(node: dict, filters: dict[str, list[str]]) -> bool:
    """swarmkit's node filters: name and id are prefixes (the name is the hostname), label
    matches engine labels, node.label the node's own labels."""
    roles = [r.lower() for r in filters.get("role", []) if r]
    memberships = [m.lower() for m in filters.get("membership", []) if m]
    return (
        match_prefix(dig(node, "Description.Hostname", "") or "", filters.get("name"))
        and match_prefix(node["ID"], filters.get("id"))
        and match_labels(
            dig(node, "Description.Engine.Labels"), kv_filters(filters.get("label", []))
        )
        and match_labels(dig(node, "Spec.Labels"), kv_filters(filters.get("node.label", [])))
        and match_exact(dig(node, "Spec.Role", "") or "", roles)
        and match_exact(dig(node, "Spec.Membership", "accepted") or "accepted", memberships)
    )


def node_view(ctx: ClusterContext, node: dict) -> dict:
    """Docker's Node object: its TLSInfo is the cluster's trust root (what its certificate
    chains to); the leader is marked from what raft knows now (the context's optional
    `leader_id()`, else this node when it leads)."""
    from swarmlet.manager.ca import needs_rotation

    view = ordered(node, "Node")
    cluster = ctx.store.cluster()
    if cluster is not None and isinstance(view.get("Description"), dict):
        description = dict(view["Description"])
        description["TLSInfo"] = {**tls_info(cluster), **(description.get("TLSInfo") or {})}
        if needs_rotation(cluster, node):
            description["TLSInfo"]["NeedsRotation"] = True
        view["Description"] = description
    status = view.get("ManagerStatus")
    if not isinstance(status, dict):
        return view
    leader = _leader_id(ctx)
    if leader is None:
        return view
    status = dict(status)
    if node["ID"] == leader:
        status = {"Leader": True, **{k: v for k, v in status.items() if k != "Leader"}}
        status["Reachability"] = "reachable"
    else:
        status.pop("Leader", None)
        reachable = getattr(ctx, "reachable", None)
        if reachable is not None:
            status["Reachability"] = "reachable" if reachable(node["ID"]) else "unreachable"
    view["ManagerStatus"] = status
    return view


def _leader_id(ctx: ClusterContext) -> str | None:
    provider = getattr(ctx, "leader_id", None)
    if provider is not None:
        return provider()
    return ctx.node_id if ctx.is_leader() else None
