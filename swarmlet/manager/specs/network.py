"""Network specs: Docker's ``/networks/create`` request as a swarm NetworkSpec."""

from __future__ import annotations

import ipaddress
import re

from swarmlet.store.errors import InvalidArgument
from swarmlet.store.objects import ordered

from .common import fail, labels, need_map, opt_bool, opt_str

_NETWORK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
SWARM_DRIVERS = ("overlay",)


def _network_name(name) -> str:
    if not isinstance(name, str) or not name:
        fail("meta: name must be provided")
    if not _NETWORK_NAME.match(name) or len(name) > 255:
        fail(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name


def _ipam_configs(configs) -> list[dict]:
    if configs is None:
        return []
    if not isinstance(configs, list):
        fail("IPAM.Config must be a list")
    out = []
    for config in configs:
        config = need_map(config, "IPAM.Config[]")
        subnet = config.get("Subnet")
        try:
            network = ipaddress.ip_network(subnet, strict=True)
        except (TypeError, ValueError):
            fail(f"invalid subnet {subnet}")
        entry = {"Subnet": str(network)}
        for key in ("IPRange", "Gateway"):
            value = config.get(key)
            if value in (None, ""):
                continue
            try:
                if key == "Gateway":
                    inside = ipaddress.ip_address(value) in network
                else:
                    inside = ipaddress.ip_network(value, strict=True).subnet_of(network)
            except (TypeError, ValueError):
                inside = False
            if not inside:
                fail(f"invalid {key.lower().replace('iprange', 'ip range')} {value}")
            entry["Range" if key == "IPRange" else key] = value
        out.append(entry)
    return out


def network_spec_from_create(request) -> dict:
    """Check a ``POST /networks/create`` body and turn it into a swarm NetworkSpec."""
    if not isinstance(request, dict):
        raise InvalidArgument("network create request must be an object")
    name = _network_name(request.get("Name"))
    driver = request.get("Driver") or "overlay"
    if driver not in SWARM_DRIVERS:
        fail(f'network driver "{driver}" is not supported in a swarm: use "overlay"')
    options = labels(request.get("Options"), "Options")
    for key in ("Internal", "Attachable", "Ingress", "EnableIPv6"):
        opt_bool(request, key, "network")
    if request.get("Ingress") and request.get("Attachable"):
        fail("ingress network cannot be attachable")
    ipam = need_map(request.get("IPAM"), "IPAM")
    ipam_driver = opt_str(ipam, "Driver", "IPAM") or "default"
    spec = {
        "Name": name,
        "Labels": labels(request.get("Labels")),
        "DriverConfiguration": {"Name": driver, "Options": options},
        "IPv6Enabled": bool(request.get("EnableIPv6")),
        "Internal": bool(request.get("Internal")),
        "Attachable": bool(request.get("Attachable")),
        "Ingress": bool(request.get("Ingress")),
        "IPAMOptions": {
            "Driver": {"Name": ipam_driver, "Options": labels(ipam.get("Options"), "IPAM.Options")},
            "Configs": _ipam_configs(ipam.get("Config")),
        },
        "Scope": "swarm",
    }
    return ordered(spec, "NetworkSpec")
