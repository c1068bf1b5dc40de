"""`/networks` for swarm-scope overlay networks: list, create, inspect, remove, in the shape
of Docker's NetworkResource (what `docker network inspect` prints for a swarm network)."""

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
    match_regex,
)
from swarmlet.api.router import ApiError, Request, Response, Router
from swarmlet.manager import controlapi
from swarmlet.store.objects import NETWORK, SERVICE, dig
from swarmlet.store.state import ReadView

NETWORK_FILTERS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
# Docker's predefined (local) networks: their names cannot be taken.
PREDEFINED = ("bridge", "host", "none", "default")


def register(router: Router, cluster: Cluster) -> None:
    @api_errors
    async def list_networks(request: Request, params: dict[str, str]):
        filters = request.filters(NETWORK_FILTERS)
        dangling = _dangling_filter(filters.get("dangling"))
        for kind in filters.get("type", []):
            if kind not in ("custom", "builtin"):
                raise ApiError(400, f"invalid filter: 'type'='{kind}'")
        ctx = await cluster.read(request)
        view = ctx.store
        used = _networks_in_use(view) if dangling is not None else set()
        out = []
        for network in view.list(NETWORK):
            resource = network_resource(network)
            if not network_matches(resource, filters):
                continue
            if dangling is not None and (network["ID"] not in used) != dangling:
                continue
            out.append(resource)
        return out

    @api_errors
    async def create_network(request: Request, params: dict[str, str]):
        body = body_object(request, "network create request")
        name = body.get("Name")
        if isinstance(name, str) and name in PREDEFINED:
            raise ApiError(403, f"{name} is a pre-defined network and cannot be created")
        ctx = await cluster.read(request)
        if isinstance(name, str) and name and ctx.store.find_by_name(NETWORK, name):
            raise ApiError(409, f"network with name {name} already exists")
        command = controlapi.create_network(body, ctx.timestamp(), ctx.new_id(), ctx.store)
        created = await create_with_name(cluster, ctx, command, f"network {name} already exists")
        return Response(201, {"Id": created["ID"], "Warning": ""})

    @api_errors
    async def inspect_network(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        return network_resource(lookup(ctx.store, NETWORK, params["id"]))

    @api_errors
    async def remove_network(request: Request, params: dict[str, str]):
        ctx = await cluster.read(request)
        current = lookup(ctx.store, NETWORK, params["id"])
        await cluster.write(ctx, controlapi.remove_network(current, ctx.store))
        return Response(204, b"")

    router.add("GET", "/networks", list_networks)
    router.add("POST", "/networks/create", create_network)
    router.add("GET", "/networks/{id}", inspect_network)
    router.add("DELETE", "/networks/{id}", remove_network)


def network_resource(network: dict) -> dict:
    """Docker's NetworkResource of a swarm network (the allocator's state when it has run,
    else what the spec asked for)."""
    spec = network.get("Spec") or {}
    driver_state = network.get("DriverState") or {}
    driver = spec.get("DriverConfiguration") or {}
    ipam_options = network.get("IPAMOptions") or spec.get("IPAMOptions") or {}
    configs = []
    for config in ipam_options.get("Configs") or []:
        entry = {"Subnet": config.get("Subnet", "")}
        if config.get("Range"):
            entry["IPRange"] = config["Range"]
        if config.get("Gateway"):
            entry["Gateway"] = config["Gateway"]
        if config.get("Reserved"):
            entry["AuxiliaryAddresses"] = config["Reserved"]
        configs.append(entry)
    return {
        "Name": spec.get("Name", ""),
        "Id": network["ID"],
        "Created": network.get("CreatedAt", ""),
        "Scope": "swarm",
        "Driver": driver_state.get("Name") or driver.get("Name") or "overlay",
        "EnableIPv6": bool(spec.get("IPv6Enabled")),
        "IPAM": {
            "Driver": dig(ipam_options, "Driver.Name") or "default",
            "Options": dig(ipam_options, "Driver.Options") or None,
            "Config": configs,
        },
        "Internal": bool(spec.get("Internal")),
        "Attachable": bool(spec.get("Attachable")),
        "Ingress": bool(spec.get("Ingress")),
        "ConfigFrom": {"Network": dig(spec, "ConfigFrom.Network", "") or ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": driver_state.get("Options") or driver.get("Options") or {},
        "Labels": spec.get("Labels") or {},
    }


def network_matches(resource: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's network filters: driver and scope exact, name and id as regular expressions,
    labels; all swarm networks are `custom` (none is predefined)."""
    types = filters.get("type")
    return (
        match_exact(resource["Driver"], filters.get("driver"))
        and match_regex(resource["Name"], filters.get("name"))
        and match_regex(resource["Id"], filters.get("id"))
        and match_labels(resource["Labels"], kv_filters(filters.get("label", [])))
        and match_exact(resource["Scope"], filters.get("scope"))
        and (not types or "custom" in types)
    )


def _dangling_filter(values: list[str] | None) -> bool | None:
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, 'got more than one value for filter key "dangling"')
    if values[0] in ("1", "true"):
        return True
    if values[0] in ("0", "false"):
        return False
    raise ApiError(
        400, 'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")'
    )


def _networks_in_use(view: ReadView) -> set[str]:
    used = set()
    for service in view.list(SERVICE):
        for attachment in (dig(service, "Spec.TaskTemplate.Networks") or []) + (
            dig(service, "Spec.Networks") or []
        ):
            used.add(attachment.get("Target"))
    return used
