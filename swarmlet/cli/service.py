"""`service create|inspect|ls|ps|rm|scale|update|rollback|logs`."""

from __future__ import annotations

import sys

from swarmlet.cli import opts
from swarmlet.cli import service_spec as specs
from swarmlet.cli.common import (
    CLIError,
    add_filter,
    add_format,
    add_pretty,
    add_quiet,
    client,
    group,
    leaf,
    warn,
)
from swarmlet.cli.filters import filters_param, parse_filters
from swarmlet.cli.format import print_inspect, print_listing, truncate_id
from swarmlet.cli.objects import remove
from swarmlet.cli.tasks import add_task_flags, list_tasks, port_text, strip_digest

SERVICE_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
SERVICE_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Mode": "MODE",
    "Replicas": "REPLICAS",
    "Image": "IMAGE",
    "Ports": "PORTS",
}


def cmd_logs(args) -> int:
    from swarmlet.cli.logs import cmd_logs as fetch  # http.client and the stream format: only here

    return fetch(args)


def register(sub) -> None:
    g = group(sub, "service", "Manage Swarm services")
    p = leaf(g, "create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service", cmd_create)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs="...", metavar="COMMAND")
    add_service_flags(p, update=False)
    p = leaf(
        g,
        "inspect",
        "[OPTIONS] SERVICE [SERVICE...]",
        "Display detailed information on one or more services",
        cmd_inspect,
    )
    p.add_argument("services", nargs="+", metavar="SERVICE")
    add_format(p, "inspect")
    add_pretty(p)
    p = leaf(g, "logs", "[OPTIONS] SERVICE|TASK", "Fetch the logs of a service or task", cmd_logs)
    p.add_argument("service", metavar="SERVICE|TASK")
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--no-resolve", action="store_true", help="Do not map IDs to Names in output")
    p.add_argument("--no-task-ids", action="store_true", help="Do not include task IDs in output")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--raw", action="store_true", help="Do not neatly format logs")
    p.add_argument(
        "--since",
        metavar="string",
        help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)",
    )
    p.add_argument(
        "-n",
        "--tail",
        metavar="string",
        default="all",
        help='Number of lines to show from the end of the logs (default "all")',
    )
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p = leaf(g, "ls", "[OPTIONS]", "List services", cmd_ls, aliases=["list"])
    add_filter(p)
    add_format(p)
    add_quiet(p)
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p = leaf(
        g,
        "ps",
        "[OPTIONS] SERVICE [SERVICE...]",
        "List the tasks of one or more services",
        cmd_ps,
        aliases=["tasks"],
    )
    p.add_argument("services", nargs="+", metavar="SERVICE")
    add_task_flags(p)
    p = leaf(
        g,
        "rm",
        "SERVICE [SERVICE...]",
        "Remove one or more services",
        remove("services"),
        aliases=["remove"],
    )
    p.add_argument("refs", nargs="+", metavar="SERVICE")
    p = leaf(
        g,
        "rollback",
        "[OPTIONS] SERVICE",
        "Revert changes to a service's configuration",
        cmd_rollback,
    )
    p.add_argument("service", metavar="SERVICE")
    _detach_quiet(p)
    p = leaf(
        g,
        "scale",
        "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
        "Scale one or multiple replicated services",
        cmd_scale,
    )
    p.add_argument("scales", nargs="+", metavar="SERVICE=REPLICAS")
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Exit immediately instead of waiting for the service to converge",
    )
    p = leaf(g, "update", "[OPTIONS] SERVICE", "Update a service", cmd_update)
    p.add_argument("service", metavar="SERVICE")
    add_service_flags(p, update=True)


def _detach_quiet(p):
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Exit immediately instead of waiting for the service to converge",
    )
    add_quiet(p, "Suppress progress output")


def _list(p, flag, help_text, type_=None, short=None, metavar="list"):
    names = ([short] if short else []) + [flag]
    p.add_argument(*names, action="append", type=type_, metavar=metavar, help=help_text)


def add_service_flags(p, update: bool) -> None:
    """The flags `service create` and `service update` share, with docker's names and types."""
    _detach_quiet(p)
    if not update:
        p.add_argument("--name", metavar="string", help="Service name")
        p.add_argument(
            "--mode",
            type=opts.choice(*specs.MODES),
            metavar="string",
            help='Service mode ("replicated", "global", "replicated-job", "global-job") (default "replicated")',
        )
    p.add_argument("--replicas", type=opts.uint, metavar="uint", help="Number of tasks")
    p.add_argument(
        "--replicas-max-per-node",
        type=opts.uint,
        metavar="uint",
        help="Maximum number of tasks per node (default 0 = unlimited)",
    )
    p.add_argument(
        "--max-concurrent",
        type=opts.uint,
        metavar="uint",
        help="Number of job tasks to run concurrently (default equal to --replicas)",
    )
    p.add_argument(
        "--endpoint-mode",
        type=opts.choice("vip", "dnsrr"),
        metavar="string",
        help='Endpoint mode (vip or dnsrr) (default "vip")',
    )
    p.add_argument(
        "--entrypoint", metavar="command", help="Overwrite the default ENTRYPOINT of the image"
    )
    p.add_argument("--hostname", metavar="string", help="Container hostname")
    p.add_argument(
        "-w", "--workdir", metavar="string", help="Working directory inside the container"
    )
    p.add_argument(
        "-u", "--user", metavar="string", help="Username or UID (format: <name|uid>[:<group|gid>])"
    )
    p.add_argument(
        "--stop-grace-period",
        type=opts.duration,
        metavar="duration",
        help="Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)",
    )
    p.add_argument("--stop-signal", metavar="string", help="Signal to stop the container")
    p.add_argument("-t", "--tty", action="store_const", const=True, help="Allocate a pseudo-TTY")
    p.add_argument(
        "--init",
        action="store_const",
        const=True,
        help="Use an init inside each service container to forward signals and reap processes",
    )
    p.add_argument(
        "--read-only",
        action="store_const",
        const=True,
        help="Mount the container's root filesystem as read only",
    )
    p.add_argument("--isolation", metavar="string", help="Service container isolation mode")
    p.add_argument("--limit-cpu", type=opts.cpus, metavar="decimal", help="Limit CPUs")
    p.add_argument("--limit-memory", type=opts.size, metavar="bytes", help="Limit Memory")
    p.add_argument(
        "--limit-pids",
        type=opts.integer,
        metavar="int",
        help="Limit maximum number of processes (default 0 = unlimited)",
    )
    p.add_argument("--reserve-cpu", type=opts.cpus, metavar="decimal", help="Reserve CPUs")
    p.add_argument("--reserve-memory", type=opts.size, metavar="bytes", help="Reserve Memory")
    p.add_argument(
        "--restart-condition",
        type=opts.choice("none", "on-failure", "any"),
        metavar="string",
        help='Restart when condition is met ("none", "on-failure", "any") (default "any")',
    )
    p.add_argument(
        "--restart-delay",
        type=opts.duration,
        metavar="duration",
        help="Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)",
    )
    p.add_argument(
        "--restart-max-attempts",
        type=opts.uint,
        metavar="uint",
        help="Maximum number of restarts before giving up",
    )
    p.add_argument(
        "--restart-window",
        type=opts.duration,
        metavar="duration",
        help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)",
    )
    for kind in ("update", "rollback"):
        what = "updates" if kind == "update" else "rollbacks"
        actions = '"pause", "continue", "rollback"' if kind == "update" else '"pause", "continue"'
        p.add_argument(
            f"--{kind}-delay",
            type=opts.duration,
            metavar="duration",
            help=f"Delay between {what} (ns|us|ms|s|m|h) (default 0s)",
        )
        p.add_argument(
            f"--{kind}-failure-action",
            type=opts.choice("pause", "continue", *(["rollback"] if kind == "update" else [])),
            metavar="string",
            help=f'Action on {kind} failure ({actions}) (default "pause")',
        )
        p.add_argument(
            f"--{kind}-max-failure-ratio",
            type=opts.floating,
            metavar="float",
            help=f"Failure rate to tolerate during {'an update' if kind == 'update' else 'a rollback'} (default 0)",
        )
        p.add_argument(
            f"--{kind}-monitor",
            type=opts.duration,
            metavar="duration",
            help=f"Duration after each task {kind} to monitor for failure (ns|us|ms|s|m|h) (default 5s)",
        )
        p.add_argument(
            f"--{kind}-order",
            type=opts.choice("start-first", "stop-first"),
            metavar="string",
            help=f'{kind.capitalize()} order ("start-first", "stop-first") (default "stop-first")',
        )
        p.add_argument(
            f"--{kind}-parallelism",
            type=opts.uint,
            metavar="uint",
            help=f"Maximum number of tasks {'updated' if kind == 'update' else 'rolled back'} simultaneously (0 to {kind} all at once) (default 1)",
        )
    p.add_argument("--health-cmd", metavar="string", help="Command to run to check health")
    p.add_argument(
        "--health-interval",
        type=opts.duration,
        metavar="duration",
        help="Time between running the check (ms|s|m|h)",
    )
    p.add_argument(
        "--health-retries",
        type=opts.integer,
        metavar="int",
        help="Consecutive failures needed to report unhealthy",
    )
    p.add_argument(
        "--health-start-period",
        type=opts.duration,
        metavar="duration",
        help="Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)",
    )
    p.add_argument(
        "--health-timeout",
        type=opts.duration,
        metavar="duration",
        help="Maximum time to allow one check to run (ms|s|m|h)",
    )
    p.add_argument(
        "--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK"
    )
    p.add_argument("--log-driver", metavar="string", help="Logging driver for service")
    _list(p, "--log-opt", "Logging driver options")
    p.add_argument(
        "--with-registry-auth",
        action="store_true",
        help="Send registry authentication details to swarm agents",
    )
    p.add_argument(
        "--no-resolve-image",
        action="store_true",
        help="Do not query the registry to resolve image digest and supported platforms",
    )
    _list(p, "--cap-add", "Add Linux capabilities")
    _list(p, "--cap-drop", "Drop Linux capabilities")
    publish = opts.validated("port", specs.parse_publish)
    mount = opts.validated("mount", specs.parse_mount)
    network = opts.validated("network", specs.parse_network)
    ref = opts.validated("secret", specs.parse_file_reference)
    pref = opts.validated("pref", specs.parse_placement_pref)
    env = opts.validated("list", specs.parse_env)
    if not update:
        _list(p, "--env", "Set environment variables", env, "-e")
        _list(p, "--env-file", "Read in a file of environment variables")
        _list(p, "--label", "Service labels", short="-l")
        _list(p, "--container-label", "Container labels")
        _list(p, "--constraint", "Placement constraints")
        _list(p, "--placement-pref", "Add a placement preference", pref, metavar="pref")
        _list(p, "--publish", "Publish a port as a node port", publish, "-p", "port")
        _list(p, "--mount", "Attach a filesystem mount to the service", mount, metavar="mount")
        _list(p, "--network", "Network attachments", network, metavar="network")
        _list(p, "--secret", "Specify secrets to expose to the service", ref, metavar="secret")
        _list(
            p, "--config", "Specify configurations to expose to the service", ref, metavar="config"
        )
        _list(p, "--dns", "Set custom DNS servers")
        _list(p, "--dns-option", "Set DNS options")
        _list(p, "--dns-search", "Set custom DNS search domains")
        _list(p, "--host", "Set one or more custom host-to-IP mappings (host:ip)")
        _list(p, "--group", "Set one or more supplementary user groups for the container")
        _list(p, "--sysctl", "Sysctl options")
        return
    p.add_argument("--image", metavar="string", help="Service image tag")
    p.add_argument("--args", metavar="command", help="Service command args")
    p.add_argument(
        "--force", action="store_true", help="Force update even if no changes require it"
    )
    p.add_argument("--rollback", action="store_true", help="Rollback to previous specification")
    _list(p, "--env-add", "Add or update an environment variable", env)
    _list(p, "--env-rm", "Remove an environment variable")
    _list(p, "--label-add", "Add or update a service label")
    _list(p, "--label-rm", "Remove a label by its key")
    _list(p, "--container-label-add", "Add or update a container label")
    _list(p, "--container-label-rm", "Remove a container label by its key")
    _list(p, "--constraint-add", "Add or update a placement constraint")
    _list(p, "--constraint-rm", "Remove a constraint")
    _list(p, "--placement-pref-add", "Add a placement preference", pref, metavar="pref")
    _list(p, "--placement-pref-rm", "Remove a placement preference", metavar="pref")
    _list(p, "--publish-add", "Add or update a published port", publish, metavar="port")
    _list(p, "--publish-rm", "Remove a published port by its target port", publish, metavar="port")
    _list(p, "--mount-add", "Add or update a mount on a service", mount, metavar="mount")
    _list(p, "--mount-rm", "Remove a mount by its target path")
    _list(p, "--network-add", "Add a network", network, metavar="network")
    _list(p, "--network-rm", "Remove a network")
    _list(p, "--secret-add", "Add or update a secret on a service", ref, metavar="secret")
    _list(p, "--secret-rm", "Remove a secret")
    _list(p, "--config-add", "Add or update a config file on a service", ref, metavar="config")
    _list(p, "--config-rm", "Remove a configuration file")
    for name, text in (
        ("dns", "DNS server"),
        ("dns-option", "DNS option"),
        ("dns-search", "DNS search domain"),
        ("host", "custom host-to-IP mapping (host:ip)"),
        ("group", "supplementary user group"),
    ):
        _list(p, f"--{name}-add", f"Add or update a {text}")
        _list(p, f"--{name}-rm", f"Remove a {text}")
    _list(p, "--sysctl-add", "Add or update a Sysctl option")
    _list(p, "--sysctl-rm", "Remove a Sysctl option")


# ---- helpers ---------------------------------------------------------------------------------


def get_service(api, ref: str) -> dict:
    return api.get(f"/services/{ref}", insertDefaults="false")


def wait_for_convergence(api, service_id: str, args) -> int:
    """Progress display until the service converges (the `docker service create` lines)."""
    from swarmlet.cli.progress import wait_for_convergence as wait

    return wait(api, service_id, args)


def resolve_references(api, spec: dict) -> None:
    """Fill SecretID/ConfigID from names, as docker/cli does before sending the spec."""
    cs = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    for kind in ("Secret", "Config"):
        refs = [r for r in cs.get(f"{kind}s") or [] if not r.get(f"{kind}ID")]
        if not refs:
            continue
        names = {r[f"{kind}Name"] for r in refs}
        found = api.get(f"/{kind.lower()}s", filters={"name": dict.fromkeys(names, True)}) or []
        ids = {(o.get("Spec") or {}).get("Name"): o.get("ID") for o in found}
        for ref in refs:
            name = ref[f"{kind}Name"]
            if name not in ids:
                raise CLIError(f"{kind.lower()} not found: {name}")
            ref[f"{kind}ID"] = ids[name]


def _print_warnings(resp) -> None:
    for w in (resp or {}).get("Warnings") or []:
        warn(w)


def _spec_error(exc: ValueError):
    raise CLIError(str(exc)) from None


# ---- handlers ------------------------------------------------------------------------------


def cmd_create(args) -> int:
    try:
        spec = specs.build_service_spec(args)
    except (ValueError, OSError) as exc:
        _spec_error(exc)
    api = client(args)
    resolve_references(api, spec)
    resp = api.post("/services/create", spec) or {}
    _print_warnings(resp)
    service_id = resp.get("ID", "")
    print(service_id)
    if not args.detach and not args.quiet:
        return wait_for_convergence(api, service_id, args)
    return 0


def cmd_update(args) -> int:
    api = client(args)
    service = get_service(api, args.service)
    query = {"version": (service.get("Version") or {}).get("Index", 0)}
    spec = service.get("Spec") or {}
    if args.rollback:
        query["rollback"] = "previous"
    else:
        try:
            spec = specs.update_service_spec(spec, args)
        except ValueError as exc:
            _spec_error(exc)
        resolve_references(api, spec)
    resp = api.request("POST", f"/services/{service['ID']}/update", query, spec)
    _print_warnings(resp)
    print(args.service)
    if not args.detach and not args.quiet:
        return wait_for_convergence(api, service["ID"], args)
    return 0


def cmd_rollback(args) -> int:
    api = client(args)
    service = get_service(api, args.service)
    query = {"version": (service.get("Version") or {}).get("Index", 0), "rollback": "previous"}
    resp = api.request(
        "POST", f"/services/{service['ID']}/update", query, service.get("Spec") or {}
    )
    _print_warnings(resp)
    print(args.service)
    if not args.detach and not args.quiet:
        return wait_for_convergence(api, service["ID"], args)
    return 0


def cmd_scale(args) -> int:
    try:
        wanted = [specs.parse_scale(s) for s in args.scales]
    except ValueError as exc:
        _spec_error(exc)
    api = client(args)
    failed = []
    for name, replicas in wanted:
        try:
            service = get_service(api, name)
            spec = service.get("Spec") or {}
            mode = spec.get("Mode") or {}
            if "Replicated" in mode:
                mode["Replicated"]["Replicas"] = replicas
            elif "ReplicatedJob" in mode:
                mode["ReplicatedJob"]["TotalCompletions"] = replicas
            else:
                raise CLIError(
                    f"{name}: scale can only be used with replicated or replicated-job mode"
                )
            api.request(
                "POST",
                f"/services/{service['ID']}/update",
                {"version": (service.get("Version") or {}).get("Index", 0)},
                spec,
            )
            print(f"{name} scaled to {replicas}")
        except CLIError as exc:
            failed.append(str(exc))
        except Exception as exc:
            from swarmlet.api.client import APIError

            if not isinstance(exc, APIError):
                raise
            failed.append(f"Error response from daemon: {exc.message}")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        return 1
    return 0


def cmd_inspect(args) -> int:
    api = client(args)
    services = [get_service(api, ref) for ref in args.services]
    return print_inspect(services, args.format, pretty_service if args.pretty else None)


def pretty_service(s: dict) -> str:
    spec = s.get("Spec") or {}
    task = spec.get("TaskTemplate") or {}
    cs = task.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    lines = [f"\nID:\t\t{s.get('ID', '')}", f"Name:\t\t{spec.get('Name', '')}"]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" {k}={v}" for k, v in sorted(spec["Labels"].items())]
    if "Replicated" in mode:
        lines += [
            "Service Mode:\tReplicated",
            f" Replicas:\t{mode['Replicated'].get('Replicas', 0)}",
        ]
    elif "Global" in mode:
        lines.append("Service Mode:\tGlobal")
    placement = task.get("Placement") or {}
    if placement.get("Constraints"):
        lines.append(f"Placement:\n Constraints:\t{placement['Constraints']}")
    lines += ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
    if cs.get("Args"):
        lines.append(f" Args:\t\t{' '.join(cs['Args'])}")
    if cs.get("Env"):
        lines.append(f" Env:\t\t{' '.join(cs['Env'])}")
    ports = (spec.get("EndpointSpec") or {}).get("Ports") or []
    lines.append(f"Endpoint Mode:\t{(spec.get('EndpointSpec') or {}).get('Mode', 'vip')}")
    if ports:
        lines.append("Ports:")
        for p in ports:
            lines += [
                f" PublishedPort = {p.get('PublishedPort', 0)}",
                f"  Protocol = {p.get('Protocol', 'tcp')}",
                f"  TargetPort = {p.get('TargetPort', 0)}",
                f"  PublishMode = {p.get('PublishMode', 'ingress')}",
            ]
    return "\n".join(lines).expandtabs(8) + "\n"


def replicas_text(service: dict, running: int | None = None, desired: int | None = None) -> str:
    spec = service.get("Spec") or {}
    mode = spec.get("Mode") or {}
    status = service.get("ServiceStatus") or {}
    r = status.get("RunningTasks", running or 0)
    d = status.get("DesiredTasks", desired or 0)
    if "ReplicatedJob" in mode:
        total = mode["ReplicatedJob"].get("TotalCompletions", 0)
        return f"{r}/{d} ({status.get('CompletedTasks', 0)}/{total} completed)"
    if "GlobalJob" in mode:
        return f"{r}/{d} ({status.get('CompletedTasks', 0)}/{d} completed)"
    text = f"{r}/{d}"
    max_per_node = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("MaxReplicas")
    if "Replicated" in mode and max_per_node:
        text += f" (max {max_per_node} per node)"
    return text


def mode_text(service: dict) -> str:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    for key, text in (
        ("Replicated", "replicated"),
        ("Global", "global"),
        ("ReplicatedJob", "replicated job"),
        ("GlobalJob", "global job"),
    ):
        if key in mode:
            return text
    return ""


def service_row(service: dict, no_trunc: bool = False) -> dict:
    spec = service.get("Spec") or {}
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
    ports = (service.get("Endpoint") or {}).get("Ports") or (spec.get("EndpointSpec") or {}).get(
        "Ports"
    )
    return {
        "ID": truncate_id(service.get("ID", ""), no_trunc),
        "Name": spec.get("Name", ""),
        "Mode": mode_text(service),
        "Replicas": replicas_text(service),
        "Image": image if no_trunc else strip_digest(image),
        "Ports": port_text(ports, ingress_only=True),
    }


def _fill_status_from_tasks(api, services: list[dict]) -> None:
    """Older daemons give no ServiceStatus: count running and desired tasks as docker does."""
    missing = [s for s in services if "ServiceStatus" not in s]
    if not missing:
        return
    tasks = api.get("/tasks", filters={"desired-state": {"running": True}}) or []
    for s in missing:
        mine = [t for t in tasks if t.get("ServiceID") == s.get("ID")]
        running = sum(1 for t in mine if (t.get("Status") or {}).get("State") == "running")
        mode = (s.get("Spec") or {}).get("Mode") or {}
        desired = (
            (mode.get("Replicated") or {}).get("Replicas", len(mine))
            if "Replicated" in mode
            else len(mine)
        )
        s["ServiceStatus"] = {"RunningTasks": running, "DesiredTasks": desired}


def list_services(api, args, filters: dict) -> int:
    services = api.get("/services", status="true", **filters_param(filters)) or []
    if not args.quiet:
        _fill_status_from_tasks(api, services)
    rows = sorted((service_row(s, args.no_trunc) for s in services), key=lambda r: r["Name"])
    print_listing(rows, args.format, SERVICE_TABLE, SERVICE_HEADERS, args.quiet)
    return 0


def cmd_ls(args) -> int:
    return list_services(client(args), args, parse_filters(args.filter, "service ls"))


def cmd_ps(args) -> int:
    filters = parse_filters(args.filter, "service ps")
    api = client(args)
    ids = [get_service(api, ref)["ID"] for ref in args.services]
    filters["service"] = dict.fromkeys(ids, True)
    return list_tasks(api, args, filters)
