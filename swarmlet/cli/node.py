"""`node ls|inspect|promote|demote|rm|update|ps|accept`."""

from __future__ import annotations

import sys

from swarmlet.cli import opts
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
from swarmlet.cli.format import print_inspect, print_listing
from swarmlet.cli.service_spec import labels_map
from swarmlet.cli.tasks import add_task_flags, list_tasks

NODE_TABLE = (
    "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
    "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}"
)
NODE_HEADERS = {
    "ID": "ID",
    "Self": "",
    "Hostname": "HOSTNAME",
    "Status": "STATUS",
    "Availability": "AVAILABILITY",
    "ManagerStatus": "MANAGER STATUS",
    "EngineVersion": "ENGINE VERSION",
    "TLSStatus": "TLS STATUS",
}


def register(sub) -> None:
    g = group(sub, "node", "Manage Swarm nodes")
    p = leaf(g, "ls", "[OPTIONS]", "List nodes in the swarm", cmd_ls, aliases=["list"])
    add_filter(p)
    add_format(p)
    add_quiet(p)
    p = leaf(
        g,
        "inspect",
        "[OPTIONS] self|NODE [NODE...]",
        "Display detailed information on one or more nodes",
        cmd_inspect,
    )
    p.add_argument("nodes", nargs="+", metavar="NODE")
    add_format(p, "inspect")
    add_pretty(p)
    p = leaf(
        g,
        "promote",
        "NODE [NODE...]",
        "Promote one or more nodes to manager in the swarm",
        cmd_promote,
    )
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p = leaf(
        g,
        "demote",
        "NODE [NODE...]",
        "Demote one or more nodes from manager in the swarm",
        cmd_demote,
    )
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p = leaf(
        g,
        "rm",
        "[OPTIONS] NODE [NODE...]",
        "Remove one or more nodes from the swarm",
        cmd_rm,
        aliases=["remove"],
    )
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.add_argument("-f", "--force", action="store_true", help="Force remove a node from the swarm")
    p = leaf(g, "update", "[OPTIONS] NODE", "Update a node", cmd_update)
    p.add_argument("node", metavar="NODE")
    p.add_argument(
        "--availability",
        type=opts.choice("active", "pause", "drain"),
        metavar="string",
        help='Availability of the node ("active", "pause", "drain")',
    )
    p.add_argument(
        "--label-add",
        action="append",
        metavar="list",
        help="Add or update a node label (key=value)",
    )
    p.add_argument(
        "--label-rm", action="append", metavar="list", help="Remove a node label if exists"
    )
    p.add_argument(
        "--role",
        type=opts.choice("worker", "manager"),
        metavar="string",
        help='Role of the node ("worker", "manager")',
    )
    p = leaf(
        g,
        "ps",
        "[OPTIONS] [NODE...]",
        "List tasks running on one or more nodes, defaults to current node",
        cmd_ps,
        aliases=["tasks"],
    )
    p.add_argument("nodes", nargs="*", metavar="NODE")
    add_task_flags(p)
    p = leaf(g, "accept", "NODE [NODE...]", "Accept a node in the swarm (1.12 form)", cmd_accept)
    p.add_argument("nodes", nargs="+", metavar="NODE")


def self_id(api) -> str:
    return ((api.get("/info") or {}).get("Swarm") or {}).get("NodeID", "")


def resolve_node(api, ref: str) -> dict:
    if ref == "self":
        ref = self_id(api)
    return api.get(f"/nodes/{ref}")


def manager_status(node: dict) -> str:
    ms = node.get("ManagerStatus")
    if not ms:
        return ""
    if ms.get("Leader"):
        return "Leader"
    return (ms.get("Reachability") or "").capitalize()


def node_row(node: dict, self_node_id: str) -> dict:
    desc = node.get("Description") or {}
    spec = node.get("Spec") or {}
    tls = desc.get("TLSInfo") or {}  # swarmlet marks a node whose certificate is behind
    return {
        "ID": node.get("ID", ""),
        "Self": node.get("ID") == self_node_id,
        "Hostname": desc.get("Hostname", ""),
        "Status": ((node.get("Status") or {}).get("State") or "").capitalize(),
        "Availability": (spec.get("Availability") or "").capitalize(),
        "ManagerStatus": manager_status(node),
        "EngineVersion": (desc.get("Engine") or {}).get("EngineVersion", ""),
        "TLSStatus": "Needs Rotation" if tls.get("NeedsRotation") else "Ready",
    }


def cmd_ls(args) -> int:
    filters = parse_filters(args.filter, "node ls")
    api = client(args)
    nodes = api.get("/nodes", **filters_param(filters)) or []
    me = "" if args.quiet else self_id(api)
    rows = sorted((node_row(n, me) for n in nodes), key=lambda r: (r["Hostname"], r["ID"]))
    print_listing(rows, args.format, NODE_TABLE, NODE_HEADERS, args.quiet)
    return 0


def cmd_inspect(args) -> int:
    api = client(args)
    nodes = [resolve_node(api, ref) for ref in args.nodes]
    return print_inspect(nodes, args.format, pretty_node if args.pretty else None)


def pretty_node(n: dict) -> str:
    desc = n.get("Description") or {}
    spec = n.get("Spec") or {}
    status = n.get("Status") or {}
    lines = [
        f"ID:\t\t\t{n.get('ID', '')}",
        f"Hostname:\t\t{desc.get('Hostname', '')}",
        f"Joined at:\t\t{(n.get('CreatedAt') or '')}",
        "Status:",
        f" State:\t\t\t{(status.get('State') or '').capitalize()}",
        f" Availability:\t\t{(spec.get('Availability') or '').capitalize()}",
        f" Address:\t\t{status.get('Addr', '')}",
    ]
    if n.get("ManagerStatus"):
        ms = n["ManagerStatus"]
        lines += [
            "Manager Status:",
            f" Address:\t\t{ms.get('Addr', '')}",
            f" Raft Status:\t\t{(ms.get('Reachability') or '').capitalize()}",
            f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}",
        ]
    platform = desc.get("Platform") or {}
    lines += [
        "Platform:",
        f" Operating System:\t{platform.get('OS', '')}",
        f" Architecture:\t\t{platform.get('Architecture', '')}",
        "Engine:",
        f" Engine Version:\t{(desc.get('Engine') or {}).get('EngineVersion', '')}",
    ]
    tls = desc.get("TLSInfo") or {}
    if tls:
        lines += [
            "TLS Info:",
            " TrustRoot:",
            tls.get("TrustRoot", ""),
            f" Issuer Subject:\t{tls.get('CertIssuerSubject', '')}",
            f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey', '')}",
        ]
        if tls.get("CertNotAfter"):
            lines.append(f" Certificate Expiry:\t{tls['CertNotAfter']}")
    return "\n".join(lines).expandtabs(8) + "\n"


def _update_node(api, ref: str, change) -> dict:
    node = resolve_node(api, ref)
    spec = dict(node.get("Spec") or {})
    change(spec)
    api.request(
        "POST",
        f"/nodes/{node['ID']}/update",
        {"version": (node.get("Version") or {}).get("Index", 0)},
        spec,
    )
    return node


def _set_role(role: str, done: str):
    def handler(args) -> int:
        api = client(args)
        failed = False
        for ref in args.nodes:
            try:
                _update_node(api, ref, lambda spec: spec.__setitem__("Role", role))
            except CLIError as exc:
                print(exc, file=sys.stderr)
                failed = True
                continue
            print(done.format(ref))
        return 1 if failed else 0

    return handler


cmd_promote = _set_role("manager", "Node {} promoted to a manager in the swarm.")
cmd_demote = _set_role("worker", "Manager {} demoted in the swarm.")


def cmd_accept(args) -> int:
    api = client(args)
    for ref in args.nodes:
        _update_node(api, ref, lambda spec: spec.__setitem__("Membership", "accepted"))
        print(f"Node {ref} accepted in the swarm.")
    return 0


def cmd_rm(args) -> int:
    api = client(args)
    for ref in args.nodes:
        node = resolve_node(api, ref)
        api.delete(f"/nodes/{node['ID']}", force="true" if args.force else None)
        print(ref)
    return 0


def cmd_update(args) -> int:
    def change(spec):
        if args.availability:
            spec["Availability"] = args.availability
        if args.role:
            spec["Role"] = args.role
        if args.label_add or args.label_rm:
            labels = dict(spec.get("Labels") or {})
            for key in args.label_rm or []:
                if key not in labels:
                    raise CLIError(f"key {key} doesn't exist in node's labels")
                labels.pop(key)
            labels.update(labels_map(args.label_add))
            spec["Labels"] = labels

    _update_node(client(args), args.node, change)
    print(args.node)
    return 0


def cmd_ps(args) -> int:
    filters = parse_filters(args.filter, "node ps")
    api = client(args)
    refs = args.nodes or ["self"]
    ids = []
    for ref in refs:
        ids.append(resolve_node(api, ref)["ID"])
    filters["node"] = dict.fromkeys(ids, True)
    return list_tasks(api, args, filters)
