"""The allocator: a service's published ports, and a task's move from NEW to PENDING.

Pure: the leader feeds it services and tasks read from the store and proposes what it
returns. Like swarmkit's port allocator, an ingress-mode port is the cluster's: one service
holds a (published port, protocol) pair, and a port published without a number gets the
lowest free one of 30000-32767 (host-mode ports are per node: the scheduler keeps those
apart). The state is rebuilt from the store's services at start, in ID order, so every
leader derives the same allocation. Overlay networks and their virtual IPs come later.
"""

from __future__ import annotations

import copy

from swarmlet.store.objects import dig

DYNAMIC_PORT_START = 30000
DYNAMIC_PORT_END = 32767
PENDING_MESSAGE = "pending task scheduling"
_PORT_KEYS = ("Name", "Protocol", "TargetPort", "PublishedPort", "PublishMode")


class AllocationError(Exception):
    """The service's endpoint cannot be allocated (Docker's wording)."""


def _port_key(port: dict) -> tuple[str, int]:
    return (port.get("Protocol") or "tcp", int(port.get("PublishedPort") or 0))


def _mode(port: dict) -> str:
    return port.get("PublishMode") or "ingress"


def _endpoint_spec(service: dict) -> dict:
    """What Docker shows as Endpoint.Spec: the EndpointSpec when it publishes ports."""
    spec = dig(service, "Spec.EndpointSpec") or {}
    return copy.deepcopy(spec) if spec.get("Ports") else {}


def _port_config(port: dict, published: int) -> dict:
    out = {key: port[key] for key in _PORT_KEYS if port.get(key) not in (None, "")}
    out.setdefault("Protocol", "tcp")
    out["PublishMode"] = _mode(port)
    if published:
        out["PublishedPort"] = published
    return {key: out[key] for key in _PORT_KEYS if key in out}


class Allocator:
    """Which service holds which ingress port."""

    def __init__(self, start: int = DYNAMIC_PORT_START, end: int = DYNAMIC_PORT_END) -> None:
        self.start, self.end = start, end
        self._owner: dict[tuple[str, int], str] = {}  # (protocol, port) -> service ID
        self._held: dict[str, set[tuple[str, int]]] = {}  # service ID -> its ingress ports
        self._names: dict[str, str] = {}  # service ID -> name, for conflict messages

    def rebuild(self, services: list[dict]) -> None:
        """Take over the allocations recorded in the store; a port recorded twice stays with
        the service of the lower ID (the other is allocated again, and refused)."""
        self._owner.clear()
        self._held.clear()
        self._names.clear()
        for service in sorted(services, key=lambda s: s["ID"]):
            self._names[service["ID"]] = dig(service, "Spec.Name") or service["ID"]
            for port in dig(service, "Endpoint.Ports") or ():
                key = _port_key(port)
                if _mode(port) == "ingress" and key[1] and key not in self._owner:
                    self._hold(service["ID"], key)

    def _hold(self, service_id: str, key: tuple[str, int]) -> None:
        self._owner[key] = service_id
        self._held.setdefault(service_id, set()).add(key)

    def release(self, service_id: str) -> None:
        """The service is gone: its ports are free again."""
        for key in self._held.pop(service_id, set()):
            if self._owner.get(key) == service_id:
                del self._owner[key]
        self._names.pop(service_id, None)

    def endpoint(self, service: dict) -> dict:
        """The Endpoint the service should have, holding its ports from now on (the ports
        it no longer publishes are released). Raises AllocationError on a conflict; then
        nothing changes."""
        sid = service["ID"]
        endpoint, taken = self._plan(service)
        for key in self._held.get(sid, set()) - taken:
            if self._owner.get(key) == sid:
                del self._owner[key]
        for key in taken:
            self._owner[key] = sid
        if taken:
            self._held[sid] = taken
        else:
            self._held.pop(sid, None)
        self._names[sid] = dig(service, "Spec.Name") or sid
        return endpoint

    def needs_update(self, service: dict) -> bool:
        """The service's Endpoint is not what it should be (its spec changed, or a port
        has no number yet): allocation must run and be proposed."""
        try:
            endpoint, _ = self._plan(service)
        except AllocationError:
            return True
        return endpoint != service.get("Endpoint")

    def _plan(self, service: dict) -> tuple[dict, set[tuple[str, int]]]:
        sid = service["ID"]
        spec = _endpoint_spec(service)
        wanted = spec.get("Ports") or []
        held = self._held.get(sid, set())
        current = {
            (p.get("Protocol") or "tcp", p.get("TargetPort")): int(p.get("PublishedPort") or 0)
            for p in dig(service, "Endpoint.Ports") or ()
            if _mode(p) == "ingress"
        }
        taken: set[tuple[str, int]] = set()
        for port in wanted:
            key = _port_key(port)
            if _mode(port) != "ingress" or not key[1]:
                continue
            if key in taken:
                raise AllocationError(f"duplicate published port {key[1]}/{key[0]}")
            owner = self._owner.get(key)
            if owner is not None and owner != sid:
                raise AllocationError(
                    f"port '{key[1]}' is already in use by service "
                    f"'{self._names.get(owner, owner)}' ({owner}) as an ingress port"
                )
            taken.add(key)
        ports = []
        for port in wanted:
            protocol, published = _port_key(port)
            if _mode(port) == "ingress" and not published:
                previous = (protocol, current.get((protocol, port.get("TargetPort")), 0))
                if previous[1] and previous in held and previous not in taken:
                    published = previous[1]
                else:
                    published = self._free_port(protocol, taken)
                taken.add((protocol, published))
            ports.append(_port_config(port, published))
        endpoint = dict(service.get("Endpoint") or {})
        endpoint["Spec"] = spec
        if ports:
            endpoint["Ports"] = ports
        else:
            endpoint.pop("Ports", None)
        return endpoint, taken

    def _free_port(self, protocol: str, taken: set) -> int:
        for port in range(self.start, self.end + 1):
            key = (protocol, port)
            if key not in self._owner and key not in taken:
                return port
        raise AllocationError(
            f"could not allocate a published port: {self.start}-{self.end} are all in use"
        )


def is_allocated(service: dict) -> bool:
    """The service's Endpoint matches its spec and every ingress port has its number: its
    tasks may go on to scheduling."""
    endpoint = service.get("Endpoint") or {}
    if endpoint.get("Spec", {}) != _endpoint_spec(service):
        return False
    wanted = (endpoint.get("Spec") or {}).get("Ports") or []
    ports = endpoint.get("Ports") or []
    if len(ports) != len(wanted):
        return False
    return all(p.get("PublishedPort") or _mode(p) != "ingress" for p in ports)


def pending_task(task: dict, service: dict, now: str) -> dict:
    """The task moved from NEW to PENDING with the service's allocated ports."""
    updated = dict(task)
    ports = dig(service, "Endpoint.Ports")
    if ports:
        updated["Endpoint"] = {"Ports": copy.deepcopy(ports)}
    else:
        updated.pop("Endpoint", None)
    updated["Status"] = {"Timestamp": now, "State": "pending", "Message": PENDING_MESSAGE}
    updated["UpdatedAt"] = now
    return updated
