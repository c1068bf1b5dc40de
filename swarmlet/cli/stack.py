"""`stack deploy|ls|ps|rm|services`: a stack is the objects labelled with its namespace."""

from __future__ import annotations

import sys

from swarmlet.cli.common import add_filter, add_format, add_quiet, client, group, leaf, not_built
from swarmlet.cli.filters import parse_filters
from swarmlet.cli.format import print_listing
from swarmlet.cli.tasks import add_task_flags, list_tasks

NAMESPACE_LABEL = "com.docker.stack.namespace"
STACK_TABLE = "table {{.Name}}\t{{.Services}}"
STACK_HEADERS = {"Name": "NAME", "Services": "SERVICES", "Orchestrator": "ORCHESTRATOR"}


def register(sub) -> None:
    g = group(sub, "stack", "Manage Swarm stacks")
    p = leaf(
        g,
        "deploy",
        "[OPTIONS] STACK",
        "Deploy a new stack or update an existing stack",
        cmd_deploy,
        aliases=["up"],
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument(
        "-c",
        "--compose-file",
        action="append",
        metavar="strings",
        help='Path to a Compose file, or "-" to read from stdin',
    )
    p.add_argument(
        "--prune", action="store_true", help="Prune services that are no longer referenced"
    )
    p.add_argument(
        "--resolve-image",
        metavar="string",
        default="always",
        help='Query the registry to resolve image digest and supported platforms ("always", "changed", "never") (default "always")',
    )
    p.add_argument(
        "--with-registry-auth",
        action="store_true",
        help="Send registry authentication details to Swarm agents",
    )
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Exit immediately instead of waiting for the stack services to converge",
    )
    add_quiet(p, "Suppress progress output")
    p = leaf(g, "ls", "[OPTIONS]", "List stacks", cmd_ls, aliases=["list"])
    add_format(p)
    p = leaf(g, "ps", "[OPTIONS] STACK", "List the tasks in the stack", cmd_ps)
    p.add_argument("stack", metavar="STACK")
    add_task_flags(p)
    p = leaf(
        g,
        "rm",
        "[OPTIONS] STACK [STACK...]",
        "Remove one or more stacks",
        cmd_rm,
        aliases=["remove", "down"],
    )
    p.add_argument("stacks", nargs="+", metavar="STACK")
    p.add_argument(
        "-d", "--detach", action="store_true", default=True, help="Do not wait for stack removal"
    )
    p = leaf(g, "services", "[OPTIONS] STACK", "List the services in the stack", cmd_services)
    p.add_argument("stack", metavar="STACK")
    add_filter(p)
    add_format(p)
    add_quiet(p)
    p.set_defaults(no_trunc=False)


def _label_filter(stack: str) -> dict:
    return {"label": {f"{NAMESPACE_LABEL}={stack}": True}}


# The compose translation (swarmlet.stack, which may import yaml) arrives with the stack stage.
cmd_deploy = not_built("stack deploy")


def cmd_ls(args) -> int:
    services = client(args).get("/services") or []
    counts: dict[str, int] = {}
    for s in services:
        name = ((s.get("Spec") or {}).get("Labels") or {}).get(NAMESPACE_LABEL)
        if name:
            counts[name] = counts.get(name, 0) + 1
    rows = [
        {"Name": n, "Services": str(c), "Orchestrator": "Swarm"} for n, c in sorted(counts.items())
    ]
    print_listing(rows, args.format, STACK_TABLE, STACK_HEADERS, id_field="Name")
    return 0


def cmd_ps(args) -> int:
    filters = parse_filters(args.filter, "stack ps")
    filters.update(_label_filter(args.stack))
    return list_tasks(client(args), args, filters)


def cmd_services(args) -> int:
    from swarmlet.cli.service import list_services

    filters = parse_filters(args.filter, "stack services")
    filters.setdefault("label", {}).update(_label_filter(args.stack)["label"])
    return list_services(client(args), args, filters)


def cmd_rm(args) -> int:
    from swarmlet.api.client import APIError

    api = client(args)
    failed = False
    for stack in args.stacks:
        flt = {"filters": _label_filter(stack)}
        services = api.get("/services", **flt) or []
        networks = api.get("/networks", **flt) or []
        secrets = api.get("/secrets", **flt) or []
        configs = api.get("/configs", **flt) or []
        if not (services or networks or secrets or configs):
            print(f"Nothing found in stack: {stack}", file=sys.stderr)
            continue
        for kind, objs, path in (
            ("service", services, "services"),
            ("secret", secrets, "secrets"),
            ("config", configs, "configs"),
            ("network", networks, "networks"),
        ):
            for obj in objs:
                name = (obj.get("Spec") or {}).get("Name") or obj.get("Name", "")
                oid = obj.get("ID") or obj.get("Id", "")
                print(f"Removing {kind} {name}")
                try:
                    api.delete(f"/{path}/{oid}")
                except APIError as exc:
                    print(f"Failed to remove {kind} {oid}: {exc.message}", file=sys.stderr)
                    failed = True
    return 1 if failed else 0
