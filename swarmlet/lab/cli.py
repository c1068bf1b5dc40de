"""`swarmlet lab` command group: argument definitions only; the work is imported lazily."""

from __future__ import annotations

import argparse
import sys

DEFAULT_NAME = "lab"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `lab` group to the top-level subparsers; leaves set `func(args) -> int`."""
    p = sub.add_parser(
        "lab",
        help="Run a multi-host lab on this machine",
        description="Run a multi-host lab on this machine: network namespaces, one dockerd per host, a registry.",
    )
    p.set_defaults(func=_group_help(p))
    lab = p.add_subparsers(dest="lab_command", metavar="COMMAND")

    def leaf(name: str, help: str, func, use: str = "[OPTIONS]") -> argparse.ArgumentParser:
        q = lab.add_parser(name, help=help, description=help, **_use(lab, use))
        q.add_argument("--name", default=DEFAULT_NAME, help=f"Lab name (default {DEFAULT_NAME!r})")
        q.set_defaults(func=func)
        return q

    q = leaf("up", "Create a lab of N hosts", _up)
    q.add_argument(
        "--nodes", type=int, metavar="int", required=True, help="Number of hosts (node1..nodeN)"
    )
    q.add_argument(
        "--swarm", action="store_true", help="Form a swarm: node1 initialises, the others join"
    )
    q.add_argument(
        "--managers", type=int, default=None, help="Managers in all, node1 included (default 1)"
    )
    q.add_argument(
        "--workers",
        type=int,
        metavar="int",
        default=None,
        help="Workers (default: every other host)",
    )

    q = lab.add_parser(
        "ls", help="List labs, hosts, addresses and registries", description="List labs"
    )
    q.set_defaults(func=_ls)

    q = leaf("exec", "Run a command as a lab host", _exec, "[OPTIONS] HOST -- COMMAND [ARG...]")
    q.add_argument("host", metavar="HOST")
    q.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...")

    q = leaf(
        "partition",
        "Cut hosts (as one side) off from every other host",
        _partition,
        "[OPTIONS] HOST [HOST...]",
    )
    q.add_argument("hosts", nargs="+", metavar="HOST")

    leaf("heal", "Undo every partition", _heal)

    q = leaf("kill", "SIGKILL a host's swarmlet daemon", _kill, "[OPTIONS] HOST")
    q.add_argument("host", metavar="HOST")

    q = leaf("start", "Start a host's swarmlet daemon again", _start, "[OPTIONS] HOST")
    q.add_argument("host", metavar="HOST")

    q = leaf("engine", "Stop or start a host's dockerd", _engine, "[OPTIONS] HOST stop|start")
    q.add_argument("host", metavar="HOST")
    q.add_argument("action", choices=["stop", "start"])

    leaf("down", "Remove the lab and everything it made", _down)


def _use(sub: argparse._SubParsersAction, use: str) -> dict:
    """Docker-style usage text, for parser classes that take it (swarmlet's own does)."""
    cls = getattr(sub, "_parser_class", None)
    return {"use": use} if hasattr(cls, "usage_line") else {}


def _group_help(p: argparse.ArgumentParser):
    def show(args: argparse.Namespace) -> int:
        p.print_help()
        return 0

    return show


def _fail(exc: Exception) -> int:
    print(f"swarmlet lab: {exc}", file=sys.stderr)
    return 1


def _swarm_layout(args: argparse.Namespace) -> tuple[int, int] | None:
    if not args.swarm:
        if args.managers is not None or args.workers is not None:
            raise ValueError("--managers and --workers need --swarm")
        return None
    managers = 1 if args.managers is None else args.managers
    workers = args.nodes - managers if args.workers is None else args.workers
    if managers < 1 or workers < 0 or managers + workers > args.nodes:
        raise ValueError(
            f"--managers {managers} --workers {workers} does not fit --nodes {args.nodes} "
            "(need managers >= 1, workers >= 0, managers + workers <= nodes)"
        )
    return managers, workers


def _up(args: argparse.Namespace) -> int:
    from swarmlet.lab import core, swarm
    from swarmlet.lab.layout import LabError

    try:
        layout = _swarm_layout(args)
        lab = core.up(args.name, args.nodes)
        if layout:
            try:
                swarm.form(lab, *layout)
            except BaseException:
                core.down(lab.name, log=lambda *a, **k: None)
                raise
        print(core.format_lab(lab))
        print(f"Run a command as a host: swarmlet lab exec --name {lab.name} node1 -- docker ps")
        return 0
    except (LabError, ValueError) as exc:
        return _fail(exc)


def _ls(args: argparse.Namespace) -> int:
    from swarmlet.lab import core
    from swarmlet.lab.layout import all_labs

    labs = all_labs()
    if not labs:
        print("no labs")
    for lab in labs:
        print(core.format_lab(lab))
    return 0


def exec_command(args: argparse.Namespace) -> list[str]:
    """The command after HOST; argparse versions differ in whether they keep the `--`."""
    cmd = list(args.cmd)
    return cmd[1:] if cmd[:1] == ["--"] else cmd


def _exec(args: argparse.Namespace) -> int:
    import os

    from swarmlet.lab import core
    from swarmlet.lab.layout import LabError, load

    cmd = exec_command(args)
    try:
        lab = load(args.name)
        argv, env = core.exec_argv(lab, lab.host(args.host), cmd)
    except LabError as exc:
        return _fail(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
    return 127  # not reached


def _with_lab(args: argparse.Namespace, action) -> int:
    from swarmlet.lab.layout import LabError, load

    try:
        action(load(args.name))
        return 0
    except LabError as exc:
        return _fail(exc)


def _partition(args: argparse.Namespace) -> int:
    from swarmlet.lab import faults

    def act(lab):
        faults.partition(lab, args.hosts)
        print(f"partitioned {' '.join(lab.partitions[-1])} from the other hosts of {lab.name}")

    return _with_lab(args, act)


def _heal(args: argparse.Namespace) -> int:
    from swarmlet.lab import faults

    def act(lab):
        faults.heal(lab)
        print(f"healed every partition of {lab.name}")

    return _with_lab(args, act)


def _kill(args: argparse.Namespace) -> int:
    from swarmlet.lab import faults

    def act(lab):
        pids = faults.kill_daemon(lab.host(args.host))
        print(f"killed swarmlet daemon of {args.host} (pid {' '.join(map(str, sorted(pids)))})")

    return _with_lab(args, act)


def _start(args: argparse.Namespace) -> int:
    from swarmlet.lab import faults

    def act(lab):
        pid = faults.start_daemon(lab, lab.host(args.host))
        print(f"started swarmlet daemon of {args.host} (pid {pid})")

    return _with_lab(args, act)


def _engine(args: argparse.Namespace) -> int:
    from swarmlet.lab import faults

    def act(lab):
        host = lab.host(args.host)
        if args.action == "stop":
            faults.engine_stop(host)
        else:
            faults.engine_start(lab, host)
        print(f"engine of {args.host}: {'stopped' if args.action == 'stop' else 'running'}")

    return _with_lab(args, act)


def _down(args: argparse.Namespace) -> int:
    from swarmlet.lab import core
    from swarmlet.lab.layout import LabError

    try:
        core.down(args.name)
        return 0
    except LabError as exc:
        return _fail(exc)
