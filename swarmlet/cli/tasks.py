"""Task listings shared by `service ps`, `node ps` and `stack ps`, in docker's layout."""

from __future__ import annotations

from datetime import datetime

from swarmlet.cli.filters import filters_param
from swarmlet.cli.format import ago, parse_timestamp, print_listing, truncate_id

TASK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}"
TASK_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Image": "IMAGE",
    "Node": "NODE",
    "DesiredState": "DESIRED STATE",
    "CurrentState": "CURRENT STATE",
    "Error": "ERROR",
    "Ports": "PORTS",
}
MAX_ERROR_LENGTH = 30


def add_task_flags(p) -> None:
    from swarmlet.cli.common import add_filter, add_no_trunc, add_quiet

    add_filter(p)
    p.add_argument("--format", metavar="string", help="Pretty-print tasks using a Go template")
    add_no_trunc(p)
    p.add_argument("--no-resolve", action="store_true", help="Do not map IDs to Names")
    add_quiet(p, "Only display task IDs")


def strip_digest(image: str) -> str:
    return image.split("@", 1)[0]


def port_text(ports: list[dict] | None, ingress_only: bool = False) -> str:
    """Published ports as docker prints them: `*:8080->80/tcp`, consecutive ones as ranges
    (`*:8000-8001->80-81/tcp`). `service ls` shows only the routing-mesh (ingress) ones."""
    chosen = [
        p
        for p in ports or []
        if p.get("PublishedPort")
        and (not ingress_only or p.get("PublishMode", "ingress") == "ingress")
    ]
    chosen.sort(
        key=lambda p: (p.get("Protocol") or "tcp", p["PublishedPort"], p.get("TargetPort") or 0)
    )
    runs: list[list[dict]] = []
    for p in chosen:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and (last.get("Protocol") or "tcp") == (p.get("Protocol") or "tcp")
            and p["PublishedPort"] == last["PublishedPort"] + 1
            and (p.get("TargetPort") or 0) == (last.get("TargetPort") or 0) + 1
        ):
            runs[-1].append(p)
        else:
            runs.append([p])
    out = []
    for run in runs:
        first, last = run[0], run[-1]
        proto = first.get("Protocol") or "tcp"
        if len(run) == 1:
            out.append(f"*:{first['PublishedPort']}->{first.get('TargetPort') or 0}/{proto}")
        else:
            out.append(
                f"*:{first['PublishedPort']}-{last['PublishedPort']}->"
                f"{first.get('TargetPort') or 0}-{last.get('TargetPort') or 0}/{proto}"
            )
    return ", ".join(out)


def _state(text: str | None) -> str:
    return (text or "").capitalize()


def task_rows(
    tasks: list[dict],
    services: dict[str, dict],
    nodes: dict[str, dict],
    no_trunc: bool = False,
    resolve: bool = True,
    now: datetime | None = None,
) -> list[dict]:
    """Formatter rows for tasks; older tasks of a slot come after the newest, indented."""

    def slot_key(t):
        return (
            t.get("ServiceID", ""),
            t.get("Slot") or 0,
            t.get("NodeID", "") if not t.get("Slot") else "",
        )

    def stamp(t):
        ts = parse_timestamp((t.get("Status") or {}).get("Timestamp")) or parse_timestamp(
            (t.get("Meta") or t).get("CreatedAt")
        )
        return ts.timestamp() if ts else 0.0

    groups: dict[tuple, list[dict]] = {}
    for t in tasks:
        groups.setdefault(slot_key(t), []).append(t)

    def service_name(t):
        svc = services.get(t.get("ServiceID", ""))
        if not resolve or not svc:
            return t.get("ServiceID", "")
        return (svc.get("Spec") or {}).get("Name", t.get("ServiceID", ""))

    def group_order(key):
        first = groups[key][0]
        return (service_name(first), key[1], key[2])

    rows = []
    for key in sorted(groups, key=group_order):
        history = sorted(groups[key], key=stamp, reverse=True)
        for n, t in enumerate(history):
            name = service_name(t)
            if t.get("Slot"):
                name = f"{name}.{t['Slot']}"
            elif t.get("NodeID"):
                name = f"{name}.{t['NodeID']}"
            if no_trunc:
                name = f"{name}.{t.get('ID', '')}"
            if n:
                name = f" \\_ {name}"
            status = t.get("Status") or {}
            node = nodes.get(t.get("NodeID", ""))
            node_name = t.get("NodeID", "")
            if resolve and node:
                node_name = (node.get("Description") or {}).get("Hostname") or node_name
            err = status.get("Err") or ""
            if err and not no_trunc and len(err) > MAX_ERROR_LENGTH:
                err = err[: MAX_ERROR_LENGTH - 1] + "…"
            if err:
                err = f'"{err}"'
            current = _state(status.get("State"))
            when = ago(status.get("Timestamp"), now)
            image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
            rows.append(
                {
                    "ID": truncate_id(t.get("ID", ""), no_trunc),
                    "Name": name,
                    "Image": image if no_trunc else strip_digest(image),
                    "Node": node_name,
                    "DesiredState": _state(t.get("DesiredState")),
                    "CurrentState": f"{current} {when}".strip(),
                    "Error": err,
                    "Ports": port_text((status.get("PortStatus") or {}).get("Ports")),
                }
            )
    return rows


def list_tasks(api, args, filters: dict) -> int:
    """Fetch tasks for `filters`, resolve names, print them with the command's flags."""
    tasks = api.get("/tasks", **filters_param(filters)) or []
    services: dict = {}
    nodes: dict = {}
    if not args.no_resolve and not args.quiet:
        services = {s["ID"]: s for s in api.get("/services") or []}
        nodes = {n["ID"]: n for n in api.get("/nodes") or []}
    rows = task_rows(tasks, services, nodes, args.no_trunc, not args.no_resolve)
    print_listing(rows, args.format, TASK_TABLE, TASK_HEADERS, args.quiet)
    return 0
