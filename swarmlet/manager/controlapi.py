"""The control API's core: validate API calls and turn them into store commands.

Pure: no clock, no randomness, no I/O. The caller (the daemon's API handler on the leader)
passes the current time (RFC 3339 with nanoseconds, like Docker's timestamps), fresh IDs, and
a read view of the store for the checks that look at other objects; it proposes the returned
command through raft and answers with the apply result. Errors are ``swarmlet.store.errors``
exceptions whose ``str()`` is Docker's "rpc error: code = ... desc = ..." text.

Every function returns one command (a batch where several objects change together); the
object the store will hold is in the command (``command["object"]`` for single ops).
"""

from __future__ import annotations

import copy

from swarmlet.store import commands
from swarmlet.store.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from swarmlet.store.objects import (
    CLUSTER,
    CONFIG,
    NETWORK,
    NODE,
    SECRET,
    SERVICE,
    SWARMLET_KEY,
    dig,
    ordered,
)
from swarmlet.store.state import ReadView

from .specs.cluster import default_cluster_spec, validate_cluster_spec
from .specs.network import network_spec_from_create
from .specs.node import validate_node_spec
from .specs.secret import check_labels_only_update, validate_data_spec
from .specs.service import mode_name, validate_service_spec

__all__ = [
    "accept_node",
    "create_cluster",
    "create_config",
    "create_network",
    "create_secret",
    "create_service",
    "default_cluster_spec",
    "new_node",
    "remove_config",
    "remove_network",
    "remove_node",
    "remove_secret",
    "remove_service",
    "rollback_service",
    "update_cluster",
    "update_config",
    "update_node",
    "update_secret",
    "update_service",
    "validate_service_spec",
]


def _check_version(version) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidArgument(f"invalid version {version!r}")
    return version


# -- services ---------------------------------------------------------------------------------
def _resolve_service_refs(spec: dict, view: ReadView, service_id: str | None) -> None:
    """Network names become IDs (as Docker's daemon does); referenced objects must exist;
    published ports must be free."""
    for where in (spec.get("TaskTemplate", {}), spec):
        for attachment in where.get("Networks") or ():
            try:
                network = view.resolve(NETWORK, attachment["Target"])
            except NotFound:
                raise NotFound(f"network {attachment['Target']} not found") from None
            if dig(network, "Spec.Ingress"):
                raise InvalidArgument(
                    "Service cannot be explicitly attached to the ingress network "
                    f'"{dig(network, "Spec.Name")}"'
                )
            attachment["Target"] = network["ID"]
    container = dig(spec, "TaskTemplate.ContainerSpec", {})
    for key, kind in (("Secrets", SECRET), ("Configs", CONFIG)):
        for ref in container.get(key) or ():
            ref_id = ref.get(f"{kind.capitalize()}ID") if isinstance(ref, dict) else None
            if not ref_id or view.get(kind, ref_id) is None:
                raise InvalidArgument(f"{kind} reference {ref!r}: {kind} not found")
    _check_port_conflicts(spec, view, service_id)


def _published(ports) -> list[tuple[int, str, str]]:
    return [
        (p["PublishedPort"], p.get("Protocol") or "tcp", p.get("PublishMode") or "ingress")
        for p in ports or ()
        if p.get("PublishedPort")
    ]


def _check_port_conflicts(spec: dict, view: ReadView, service_id: str | None) -> None:
    wanted = _published(dig(spec, "EndpointSpec.Ports"))
    if not wanted:
        return
    for other in view.list(SERVICE):
        if other["ID"] == service_id:
            continue
        taken = _published(dig(other, "Spec.EndpointSpec.Ports")) + _published(
            dig(other, "Endpoint.Ports")
        )
        for port, proto, mode in wanted:
            for t_port, t_proto, t_mode in taken:
                if (port, proto) == (t_port, t_proto) and "ingress" in (mode, t_mode):
                    raise InvalidArgument(
                        f"port '{port}' is already in use by service "
                        f"'{dig(other, 'Spec.Name')}' ({other['ID']}) as an ingress port"
                    )


def _endpoint_for(spec: dict) -> dict:
    ports = dig(spec, "EndpointSpec.Ports")
    if not ports:
        return {"Spec": {}}
    return {"Spec": copy.deepcopy(spec["EndpointSpec"])}


def create_service(
    spec, now: str, new_id: str, view: ReadView | None = None, name: str | None = None
) -> dict:
    """``POST /services/create``. ``name`` is used when the spec has none (the caller
    generates it with ``specs.names.random_name``, as Docker's daemon does)."""
    if isinstance(spec, dict) and not spec.get("Name") and name:
        spec = {**spec, "Name": name}
    spec = validate_service_spec(spec)
    if view is not None:
        _resolve_service_refs(spec, view, None)
    service = {
        "ID": new_id,
        "Version": {"Index": 0},
        "CreatedAt": now,
        "UpdatedAt": now,
        "Spec": spec,
        "Endpoint": _endpoint_for(spec),
    }
    if mode_name(spec) in ("ReplicatedJob", "GlobalJob"):
        service["JobStatus"] = {"JobIteration": {"Index": 0}, "LastExecution": now}
    return commands.create(SERVICE, service)


def _next_service(current: dict, spec: dict, previous: dict | None, version: int, now: str):
    service = copy.deepcopy(current)
    service["Version"] = {"Index": version}
    service["UpdatedAt"] = now
    service["Spec"] = spec
    service["PreviousSpec"] = previous
    # Which spec the tasks run (Version also moves with the leader's status writes): the
    # version the change is made on, so it grows with every spec change; a service never
    # updated has none and runs spec version 0.
    service["SpecVersion"] = {"Index": version}
    service.pop("UpdateStatus", None)
    if service.get("JobStatus") is not None:
        iteration = dig(service, "JobStatus.JobIteration.Index", 0)
        service["JobStatus"] = {"JobIteration": {"Index": iteration + 1}, "LastExecution": now}
    if spec.get("EndpointSpec") != dig(current, "Spec.EndpointSpec"):
        endpoint = service.get("Endpoint") or {}
        service["Endpoint"] = {**endpoint, **_endpoint_for(spec)}
    return ordered(service, "Service")


def update_service(
    current: dict, spec, version: int, now: str, view: ReadView | None = None
) -> dict:
    """``POST /services/{id}/update?version=N``: the new spec, the old one kept as
    PreviousSpec. A stale ``version`` fails in the store with "update out of sequence"."""
    version = _check_version(version)
    spec = validate_service_spec(spec)
    if spec["Name"] != current["Spec"]["Name"]:
        raise Unimplemented("renaming services is not supported")
    if mode_name(spec) != mode_name(current["Spec"]):
        raise InvalidArgument("service mode change is not allowed")
    if view is not None:
        _resolve_service_refs(spec, view, current["ID"])
    service = _next_service(current, spec, current["Spec"], version, now)
    return commands.update(SERVICE, service)


def rollback_service(current: dict, version: int, now: str) -> dict:
    """``service rollback`` (update with ``rollback=previous``): swap Spec and PreviousSpec."""
    version = _check_version(version)
    previous = current.get("PreviousSpec")
    if not previous:
        raise FailedPrecondition(f"service {current['ID']} does not have a previous spec")
    service = _next_service(current, previous, current["Spec"], version, now)
    service["UpdateStatus"] = {
        "State": "rollback_started",
        "StartedAt": now,
        "Message": "manually requested rollback",
    }
    return commands.update(SERVICE, ordered(service, "Service"))


def remove_service(current: dict) -> dict:
    """``DELETE /services/{id}``; the orchestrators then remove its tasks."""
    return commands.delete(SERVICE, current["ID"])


# -- nodes ------------------------------------------------------------------------------------
def new_node(
    node_id: str,
    now: str,
    hostname: str,
    role: str,
    addr: str,
    *,
    availability: str = "active",
    membership: str = "accepted",
    labels: dict | None = None,
    platform: dict | None = None,
    resources: dict | None = None,
    engine: dict | None = None,
) -> dict:
    """The command that registers a joining node (Docker's node object, state ``unknown``
    until its first heartbeat or gossip verdict)."""
    spec = validate_node_spec(
        {
            "Labels": labels or {},
            "Role": role,
            "Availability": availability,
            "Membership": membership,
        }
    )
    node = {
        "ID": node_id,
        "Version": {"Index": 0},
        "CreatedAt": now,
        "UpdatedAt": now,
        "Spec": spec,
        "Description": {
            "Hostname": hostname,
            "Platform": platform or {"Architecture": "x86_64", "OS": "linux"},
            "Resources": resources or {"NanoCPUs": 0, "MemoryBytes": 0},
            "Engine": engine or {"EngineVersion": "", "Labels": {}},
        },
        "Status": {"State": "unknown", "Addr": addr.rsplit(":", 1)[0] if ":" in addr else addr},
    }
    if role == "manager":
        node["ManagerStatus"] = {"Reachability": "unknown", "Addr": addr}
    return commands.create(NODE, node)


def _managers(view: ReadView) -> list[dict]:
    return [n for n in view.list(NODE) if dig(n, "Spec.Role") == "manager"]


def update_node(current: dict, spec, version: int, now: str, view: ReadView | None = None) -> dict:
    """``POST /nodes/{id}/update?version=N`` (availability, labels, role: promote/demote).

    Fields left out keep their current value. Demoting the last manager is refused.
    """
    version = _check_version(version)
    spec = validate_node_spec(spec)
    for key in ("Role", "Availability", "Membership"):
        if spec.get(key) is None and dig(current, f"Spec.{key}") is not None:
            spec[key] = current["Spec"][key]
    spec = ordered(spec, "NodeSpec")
    demoting = dig(current, "Spec.Role") == "manager" and spec.get("Role") == "worker"
    if demoting and view is not None:
        others = [n for n in _managers(view) if n["ID"] != current["ID"]]
        if not others:
            raise FailedPrecondition("attempting to demote the last manager of the swarm")
    node = copy.deepcopy(current)
    node["Version"] = {"Index": version}
    node["UpdatedAt"] = now
    node["Spec"] = spec
    return commands.update(NODE, node)


def accept_node(current: dict, now: str) -> dict:
    """1.12's ``node accept``: a pending node becomes a member."""
    if dig(current, "Spec.Membership") == "accepted":
        raise FailedPrecondition(f"node {current['ID']} is already accepted")
    node = copy.deepcopy(current)
    node["Spec"]["Membership"] = "accepted"
    node["UpdatedAt"] = now
    return commands.update(NODE, node)


def remove_node(current: dict, force: bool, cluster: dict | None, now: str) -> dict:
    """``DELETE /nodes/{id}[?force=1]``: the node goes and its ID joins the cluster's revoked
    list, in one atomic batch, so its certificate is refused from then on."""
    node_id = current["ID"]
    if dig(current, "Spec.Role") == "manager":
        raise FailedPrecondition(
            f"node {node_id} is a cluster manager and is a member of the raft cluster. "
            "It must be demoted to worker before removal"
        )
    if not force and dig(current, "Status.State") == "ready":
        raise FailedPrecondition(f"node {node_id} is not down and can't be removed")
    ops = [commands.delete(NODE, node_id)]
    if cluster is not None:
        extra = dict(cluster.get(SWARMLET_KEY) or {})
        revoked = list(extra.get("RevokedNodes") or [])
        if node_id not in revoked:
            revoked.append(node_id)
        extra["RevokedNodes"] = revoked
        updated = {**cluster, "UpdatedAt": now, SWARMLET_KEY: extra}
        ops.append(commands.update(CLUSTER, updated))
    return commands.batch(*ops)


# -- cluster ----------------------------------------------------------------------------------
def create_cluster(
    cluster_id: str,
    now: str,
    *,
    join_tokens: dict,
    root_public_key: str,
    spec: dict | None = None,
    auto_accept: dict | None = None,
    default_addr_pool: list[str] | None = None,
    subnet_size: int = 24,
    data_path_port: int = 4789,
) -> dict:
    """The cluster object ``swarm init`` writes first. swarmlet's own fields (root public
    key, 1.12 auto-accept policy, revoked node IDs) sit under ``Swarmlet``."""
    full = default_cluster_spec()
    for key, value in (spec or {}).items():
        full[key] = {**full[key], **value} if isinstance(full.get(key), dict) else value
    full = validate_cluster_spec(full)
    if not 0 < subnet_size <= 32:
        raise InvalidArgument(f"invalid subnet size {subnet_size}: must be between 1 and 32")
    if not 1024 <= data_path_port <= 49151:
        raise InvalidArgument(
            f"data path port {data_path_port} is out of range: must be within 1024 - 49151"
        )
    cluster = {
        "ID": cluster_id,
        "Version": {"Index": 0},
        "CreatedAt": now,
        "UpdatedAt": now,
        "Spec": full,
        "RootRotationInProgress": False,
        "DefaultAddrPool": list(default_addr_pool or ["10.0.0.0/8"]),
        "SubnetSize": subnet_size,
        "DataPathPort": data_path_port,
        "JoinTokens": {"Worker": join_tokens["Worker"], "Manager": join_tokens["Manager"]},
        SWARMLET_KEY: {
            "RootPublicKey": root_public_key,
            "AutoAccept": auto_accept or {"worker": True, "manager": True},
            "RevokedNodes": [],
        },
    }
    return commands.create(CLUSTER, cluster)


def update_cluster(
    current: dict,
    spec,
    version: int,
    now: str,
    *,
    join_tokens: dict | None = None,
    swarmlet: dict | None = None,
    root_rotation_in_progress: bool | None = None,
) -> dict:
    """``POST /swarm/update?version=N``; token rotation and swarmlet's fields (auto-accept,
    a rotated root key) ride along. Fields the spec leaves out keep their value."""
    version = _check_version(version)
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise InvalidArgument("cluster spec must be an object")
    merged = copy.deepcopy(current["Spec"])
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "Labels":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged = validate_cluster_spec(merged)
    cluster = copy.deepcopy(current)
    cluster["Version"] = {"Index": version}
    cluster["UpdatedAt"] = now
    cluster["Spec"] = merged
    if join_tokens:
        cluster["JoinTokens"] = {**cluster.get("JoinTokens", {}), **join_tokens}
    if swarmlet:
        cluster[SWARMLET_KEY] = {**cluster.get(SWARMLET_KEY, {}), **swarmlet}
    if root_rotation_in_progress is not None:
        cluster["RootRotationInProgress"] = root_rotation_in_progress
    return commands.update(CLUSTER, ordered(cluster, "Cluster"))


# -- networks ---------------------------------------------------------------------------------
def create_network(request, now: str, new_id: str, view: ReadView | None = None) -> dict:
    """``POST /networks/create`` with driver overlay (the swarm network object)."""
    spec = network_spec_from_create(request)
    if view is not None and spec["Ingress"]:
        for network in view.list(NETWORK):
            if dig(network, "Spec.Ingress"):
                raise FailedPrecondition(f"ingress network ({network['ID']}) is already present")
    network = {
        "ID": new_id,
        "Version": {"Index": 0},
        "CreatedAt": now,
        "UpdatedAt": now,
        "Spec": spec,
    }
    return commands.create(NETWORK, network)


def remove_network(current: dict, view: ReadView) -> dict:
    """``DELETE /networks/{id}``: refused while a service uses it."""
    for service in view.list(SERVICE):
        targets = [
            n.get("Target")
            for n in (dig(service, "Spec.TaskTemplate.Networks") or [])
            + (dig(service, "Spec.Networks") or [])
        ]
        if current["ID"] in targets:
            raise FailedPrecondition(
                f"network {current['ID']} is in use by service {service['ID']}"
            )
        if dig(current, "Spec.Ingress") and any(
            mode == "ingress" for _, _, mode in _published(dig(service, "Spec.EndpointSpec.Ports"))
        ):
            raise FailedPrecondition(
                f"ingress network cannot be removed because service {service['ID']} depends on it"
            )
    return commands.delete(NETWORK, current["ID"])


# -- secrets and configs ----------------------------------------------------------------------
def _create_data_object(kind: str, spec, now: str, new_id: str) -> dict:
    spec = validate_data_spec(spec, kind)
    obj = {"ID": new_id, "Version": {"Index": 0}, "CreatedAt": now, "UpdatedAt": now, "Spec": spec}
    return commands.create(kind, obj)


def _update_data_object(kind: str, current: dict, spec, version: int, now: str) -> dict:
    version = _check_version(version)
    check_labels_only_update(current["Spec"], spec)
    obj = copy.deepcopy(current)
    obj["Version"] = {"Index": version}
    obj["UpdatedAt"] = now
    obj["Spec"]["Labels"] = dict(spec.get("Labels") or {})
    return commands.update(kind, obj)


def _remove_data_object(kind: str, current: dict, view: ReadView) -> dict:
    key, id_key = ("Secrets", "SecretID") if kind == SECRET else ("Configs", "ConfigID")
    users = sorted(
        dig(s, "Spec.Name")
        for s in view.list(SERVICE)
        if any(
            isinstance(ref, dict) and ref.get(id_key) == current["ID"]
            for ref in dig(s, f"Spec.TaskTemplate.ContainerSpec.{key}") or ()
        )
    )
    if users:
        plural = "s" if len(users) > 1 else ""
        raise InvalidArgument(
            f"{kind} '{dig(current, 'Spec.Name')}' is in use by the following "
            f"service{plural}: {', '.join(users)}"
        )
    return commands.delete(kind, current["ID"])


def create_secret(spec, now: str, new_id: str) -> dict:
    """``POST /secrets/create`` (Data: base64, 1 byte to 500 KiB)."""
    return _create_data_object(SECRET, spec, now, new_id)


def update_secret(current: dict, spec, version: int, now: str) -> dict:
    """Only labels may change (swarmkit's rule)."""
    return _update_data_object(SECRET, current, spec, version, now)


def remove_secret(current: dict, view: ReadView) -> dict:
    return _remove_data_object(SECRET, current, view)


def create_config(spec, now: str, new_id: str) -> dict:
    return _create_data_object(CONFIG, spec, now, new_id)


def update_config(current: dict, spec, version: int, now: str) -> dict:
    return _update_data_object(CONFIG, current, spec, version, now)


def remove_config(current: dict, view: ReadView) -> dict:
    return _remove_data_object(CONFIG, current, view)
