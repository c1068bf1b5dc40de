"""`network`, `secret` and `config`: create, ls, inspect, rm."""

from __future__ import annotations

import base64
import sys

from swarmlet.cli.common import (
    CLIError,
    add_filter,
    add_format,
    add_pretty,
    add_quiet,
    client,
    group,
    leaf,
)
from swarmlet.cli.filters import filters_param, parse_filters
from swarmlet.cli.format import ago, print_inspect, print_listing, truncate_id
from swarmlet.cli.service_spec import labels_map

NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
SECRET_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
CONFIG_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
FILE_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "CreatedAt": "CREATED",
    "UpdatedAt": "UPDATED",
    "Labels": "LABELS",
}


def register(sub) -> None:
    _network(sub)
    for kind in ("secret", "config"):
        _file_object(sub, kind)


# ---- network ---------------------------------------------------------------------------------


def _network(sub):
    g = group(sub, "network", "Manage networks")
    p = leaf(g, "create", "[OPTIONS] NETWORK", "Create a network", cmd_network_create)
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument(
        "--aux-address",
        action="append",
        metavar="map",
        help="Auxiliary IPv4 or IPv6 addresses used by Network driver",
    )
    p.add_argument(
        "--config-from", metavar="string", help="The network from which to copy the configuration"
    )
    p.add_argument("--config-only", action="store_true", help="Create a configuration only network")
    p.add_argument(
        "-d",
        "--driver",
        metavar="string",
        default="overlay",
        help='Driver to manage the Network (default "overlay")',
    )
    p.add_argument(
        "--gateway",
        action="append",
        metavar="strings",
        help="IPv4 or IPv6 Gateway for the master subnet",
    )
    p.add_argument("--ingress", action="store_true", help="Create swarm routing-mesh network")
    p.add_argument(
        "--internal", action="store_true", help="Restrict external access to the network"
    )
    p.add_argument(
        "--ip-range",
        action="append",
        metavar="strings",
        help="Allocate container ip from a sub-range",
    )
    p.add_argument(
        "--ipam-driver",
        metavar="string",
        default="default",
        help='IP Address Management Driver (default "default")',
    )
    p.add_argument(
        "--ipam-opt", action="append", metavar="map", help="Set IPAM driver specific options"
    )
    p.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    p.add_argument("--label", action="append", metavar="list", help="Set metadata on a network")
    p.add_argument(
        "-o", "--opt", action="append", metavar="map", help="Set driver specific options"
    )
    p.add_argument("--scope", metavar="string", help="Control the network's scope")
    p.add_argument(
        "--subnet",
        action="append",
        metavar="strings",
        help="Subnet in CIDR format that represents a network segment",
    )
    p = leaf(g, "ls", "[OPTIONS]", "List networks", cmd_network_ls, aliases=["list"])
    add_filter(p)
    add_format(p)
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    add_quiet(p, "Only display network IDs")
    p = leaf(
        g,
        "inspect",
        "[OPTIONS] NETWORK [NETWORK...]",
        "Display detailed information on one or more networks",
        cmd_inspect("networks"),
    )
    p.add_argument("refs", nargs="+", metavar="NETWORK")
    add_format(p, "inspect")
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    p = leaf(
        g,
        "rm",
        "NETWORK [NETWORK...]",
        "Remove one or more networks",
        remove("networks"),
        aliases=["remove"],
    )
    p.add_argument("refs", nargs="+", metavar="NETWORK")


def network_create_body(args) -> dict:
    subnets = args.subnet or []
    gateways = args.gateway or []
    ranges = args.ip_range or []
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise CLIError("every ip-range or gateway must have a corresponding subnet")
    configs = []
    for i, subnet in enumerate(subnets):
        cfg = {"Subnet": subnet}
        if i < len(gateways):
            cfg["Gateway"] = gateways[i]
        if i < len(ranges):
            cfg["IPRange"] = ranges[i]
        configs.append(cfg)
    if args.aux_address and configs:
        configs[0]["AuxiliaryAddresses"] = labels_map(args.aux_address)
    body = {
        "Name": args.name,
        "CheckDuplicate": True,
        "Driver": args.driver,
        "Scope": args.scope or "",
        "EnableIPv6": bool(args.ipv6),
        "IPAM": {
            "Driver": args.ipam_driver,
            "Config": configs,
            "Options": labels_map(args.ipam_opt),
        },
        "Internal": bool(args.internal),
        "Attachable": bool(args.attachable),
        "Ingress": bool(args.ingress),
        "ConfigOnly": bool(args.config_only),
        "Options": labels_map(args.opt),
        "Labels": labels_map(args.label),
    }
    if args.config_from:
        body["ConfigFrom"] = {"Network": args.config_from}
    return body


def cmd_network_create(args) -> int:
    resp = client(args).post("/networks/create", network_create_body(args)) or {}
    if resp.get("Warning"):
        print(resp["Warning"], file=sys.stderr)
    print(resp.get("Id") or resp.get("ID", ""))
    return 0


def _labels_field(labels: dict | None) -> str:
    """The `Labels` column of a listing: k=v pairs, sorted, comma-separated."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def network_row(n: dict, no_trunc: bool = False) -> dict:
    return {
        "ID": truncate_id(n.get("Id") or n.get("ID", ""), no_trunc),
        "Name": n.get("Name", ""),
        "Driver": n.get("Driver", ""),
        "Scope": n.get("Scope", ""),
        "IPv6": "true" if n.get("EnableIPv6") else "false",
        "Internal": "true" if n.get("Internal") else "false",
        "Labels": _labels_field(n.get("Labels")),
        "CreatedAt": n.get("Created", ""),
    }


def cmd_network_ls(args) -> int:
    filters = parse_filters(args.filter, "network ls")
    nets = client(args).get("/networks", **filters_param(filters)) or []
    rows = sorted((network_row(n, args.no_trunc) for n in nets), key=lambda r: r["Name"])
    print_listing(rows, args.format, NETWORK_TABLE, NETWORK_HEADERS, args.quiet)
    return 0


# ---- secret / config ---------------------------------------------------------------------------


def _file_object(sub, kind: str):
    plural = f"{kind}s"
    g = group(sub, kind, f"Manage Swarm {plural}" if kind == "secret" else "Manage Swarm configs")
    p = leaf(
        g,
        "create",
        f"[OPTIONS] {kind.upper()} file|-",
        f"Create a {kind} from a file or STDIN as content",
        cmd_file_create(kind),
    )
    p.add_argument("name", metavar=kind.upper())
    p.add_argument("file", metavar="file|-")
    p.add_argument(
        "-l", "--label", action="append", metavar="list", help=f"{kind.capitalize()} labels"
    )
    p.add_argument("--template-driver", metavar="string", help="Template driver")
    if kind == "secret":
        p.add_argument("-d", "--driver", metavar="string", help="Secret driver")
    p = leaf(g, "ls", "[OPTIONS]", f"List {plural}", cmd_file_ls(kind), aliases=["list"])
    add_filter(p)
    add_format(p)
    add_quiet(p)
    p = leaf(
        g,
        "inspect",
        f"[OPTIONS] {kind.upper()} [{kind.upper()}...]",
        f"Display detailed information on one or more {plural}",
        cmd_inspect(plural),
    )
    p.add_argument("refs", nargs="+", metavar=kind.upper())
    add_format(p, "inspect")
    add_pretty(p)
    p = leaf(
        g,
        "rm",
        f"{kind.upper()} [{kind.upper()}...]",
        f"Remove one or more {plural}",
        remove(plural),
        aliases=["remove"],
    )
    p.add_argument("refs", nargs="+", metavar=kind.upper())


def cmd_file_create(kind: str):
    def handler(args) -> int:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                with open(args.file, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise CLIError(
                    f'Error reading content from "{args.file}": {exc.strerror}'
                ) from None
        body = {
            "Name": args.name,
            "Labels": labels_map(args.label),
            "Data": base64.b64encode(data).decode(),
        }
        if getattr(args, "driver", None):
            body["Driver"] = {"Name": args.driver}
        if args.template_driver:
            body["Templating"] = {"Name": args.template_driver}
        resp = client(args).post(f"/{kind}s/create", body) or {}
        print(resp.get("ID", ""))
        return 0

    return handler


def file_row(obj: dict) -> dict:
    spec = obj.get("Spec") or {}
    return {
        "ID": obj.get("ID", ""),
        "Name": spec.get("Name", ""),
        "Driver": (spec.get("Driver") or {}).get("Name", ""),
        "CreatedAt": ago(obj.get("CreatedAt")),
        "UpdatedAt": ago(obj.get("UpdatedAt")),
        "Labels": _labels_field(spec.get("Labels")),
    }


def cmd_file_ls(kind: str):
    def handler(args) -> int:
        filters = parse_filters(args.filter, f"{kind} ls")
        objs = client(args).get(f"/{kind}s", **filters_param(filters)) or []
        rows = sorted((file_row(o) for o in objs), key=lambda r: r["Name"])
        table = SECRET_TABLE if kind == "secret" else CONFIG_TABLE
        print_listing(rows, args.format, table, FILE_HEADERS, args.quiet)
        return 0

    return handler


# ---- shared ----------------------------------------------------------------------------------


def cmd_inspect(collection: str):
    def handler(args) -> int:
        api = client(args)
        objs = [api.get(f"/{collection}/{ref}") for ref in args.refs]
        return print_inspect(objs, args.format)

    return handler


def remove(collection: str):
    """Handler removing each named object of a collection; docker's output and errors."""

    def handler(args) -> int:
        from swarmlet.api.client import APIError

        api = client(args)
        errors = []
        for ref in args.refs:
            try:
                api.delete(f"/{collection}/{ref}")
                print(ref)
            except APIError as exc:
                errors.append(f"Error response from daemon: {exc.message}")
        if errors:
            print("\n".join(errors), file=sys.stderr)
            return 1
        return 0

    return handler
