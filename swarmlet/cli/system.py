"""`version`, `info` and `daemon`."""

from __future__ import annotations

import argparse
import os
import sys

from swarmlet import __version__
from swarmlet.cli.common import add_format, client, leaf
from swarmlet.cli.format import format_inspect

API_VERSION = "1.41"


def register(sub) -> None:
    p = leaf(sub, "version", "[OPTIONS]", "Show the swarmlet version information", cmd_version)
    add_format(p, "inspect")
    p = leaf(sub, "info", "[OPTIONS]", "Display system-wide information", cmd_info)
    add_format(p, "inspect")
    p = leaf(sub, "daemon", "[OPTIONS]", "Run the swarmlet daemon in the foreground", cmd_daemon)
    p.add_argument(
        "--data-dir",
        metavar="string",
        default=None,
        help="Directory for the node's state (default $SWARMLET_DATA_DIR or /var/lib/swarmlet)",
    )
    p.add_argument(
        "-H",
        "--host",
        dest="daemon_host",
        metavar="string",
        help="Socket to serve the API on (default $SWARMLET_HOST or unix:///run/swarmlet/swarmlet.sock)",
    )
    p.add_argument(
        "-l",
        "--log-level",
        metavar="string",
        default="info",
        choices=("debug", "info", "warn", "error", "fatal"),
        help='Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")',
    )
    p.add_argument(
        "--print-unit", action="store_true", help="Print a systemd unit for this daemon and exit"
    )
    # Set by `init`/`join` when they start a daemon in the background: log to the data dir only.
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)


def client_info() -> dict:
    return {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "PythonVersion": sys.version.split()[0],
        "Os": sys.platform,
        "Arch": os.uname().machine,
        "Executable": sys.executable,
    }


def cmd_version(args) -> int:
    info = {"Client": client_info(), "Server": None}
    if args.format:
        try:
            info["Server"] = client(args).get("/version")
        finally:
            sys.stdout.write(format_inspect([info], args.format))
        return 0
    c = info["Client"]
    print("Client:")
    _print_kv(
        [
            ("Version", c["Version"]),
            ("API version", c["ApiVersion"]),
            ("Python version", f"{c['PythonVersion']} ({c['Executable']})"),
            ("OS/Arch", f"{c['Os']}/{c['Arch']}"),
        ],
        1,
    )
    sys.stdout.flush()
    server = client(args).get("/version") or {}
    print()
    sys.stdout.write(server_section(server))
    return 0


def server_section(server: dict) -> str:
    """`docker version`'s Server part: the engine, then any other component."""
    name = (server.get("Platform") or {}).get("Name", "")
    lines = [f"Server:{' ' + name if name else ''}", " Engine:"]
    rows = [
        ("Version", server.get("Version", "")),
        (
            "API version",
            f"{server.get('ApiVersion', '')} (minimum version {server.get('MinAPIVersion', '')})",
        ),
    ]
    for key, label in (
        ("PythonVersion", "Python version"),
        ("GoVersion", "Go version"),
        ("GitCommit", "Git commit"),
        ("BuildTime", "Built"),
    ):
        if server.get(key):
            rows.append((label, server[key]))
    rows.append(("OS/Arch", f"{server.get('Os', '')}/{server.get('Arch', '')}"))
    lines += _kv_lines(rows, 2)
    for comp in server.get("Components") or []:
        if comp.get("Name") in (None, "", "Engine"):
            continue
        lines.append(f" {comp['Name']}:")
        lines += _kv_lines([("Version", comp.get("Version", ""))], 2)
    return "\n".join(lines) + "\n"


def _kv_lines(rows, indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{key + ':':<{19 - indent}} {value}".rstrip() for key, value in rows]


def _print_kv(rows, indent: int) -> None:
    for line in _kv_lines(rows, indent):
        print(line)


def cmd_info(args) -> int:
    info = client(args).get("/info") or {}
    if args.format:
        sys.stdout.write(format_inspect([info], args.format))
        return 0
    print("Server:")
    for label, key in (
        ("Containers", "Containers"),
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
    ):
        if key in info:
            print(f" {label}: {info[key]}")
    swarm = info.get("Swarm") or {}
    state = swarm.get("LocalNodeState") or "inactive"
    print(f" Swarm: {state}")
    if state == "active":
        print(f"  NodeID: {swarm.get('NodeID', '')}")
        if swarm.get("Error"):
            print(f"  Error: {swarm['Error']}")
        print(f"  Is Manager: {'true' if swarm.get('ControlAvailable') else 'false'}")
        cluster = swarm.get("Cluster") or {}
        if swarm.get("ControlAvailable"):
            print(f"  ClusterID: {cluster.get('ID', '')}")
            print(f"  Managers: {swarm.get('Managers', 0)}")
            print(f"  Nodes: {swarm.get('Nodes', 0)}")
            spec = cluster.get("Spec") or {}
            orch = spec.get("Orchestration") or {}
            print("  Orchestration:")
            print(f"   Task History Retention Limit: {orch.get('TaskHistoryRetentionLimit', 0)}")
            raft = spec.get("Raft") or {}
            print("  Raft:")
            print(f"   Snapshot Interval: {raft.get('SnapshotInterval', 0)}")
            print(f"   Heartbeat Tick: {raft.get('HeartbeatTick', 0)}")
            print(f"   Election Tick: {raft.get('ElectionTick', 0)}")
            disp = spec.get("Dispatcher") or {}
            from swarmlet.cli.opts import format_duration

            print("  Dispatcher:")
            print(f"   Heartbeat Period: {format_duration(disp.get('HeartbeatPeriod') or 0)}")
            enc = spec.get("EncryptionConfig") or {}
            print(f"  Autolock Managers: {'true' if enc.get('AutoLockManagers') else 'false'}")
        print(f"  Node Address: {swarm.get('NodeAddr', '')}")
        managers = swarm.get("RemoteManagers") or []
        if managers:
            print("  Manager Addresses:")
            for addr in sorted(m.get("Addr", "") for m in managers):
                print(f"   {addr}")
    for label, key in (
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
        ("Total Memory", "MemTotal"),
        ("Name", "Name"),
        ("ID", "ID"),
        ("Swarmlet Root Dir", "DockerRootDir"),
    ):
        if key in info:
            print(f" {label}: {info[key]}")
    return 0


def cmd_daemon(args: argparse.Namespace) -> int:
    from swarmlet import daemon

    data_dir = args.data_dir or os.environ.get("SWARMLET_DATA_DIR") or daemon.DEFAULT_DATA_DIR
    host = args.daemon_host or args.host or os.environ.get("SWARMLET_HOST") or None
    if args.print_unit:
        sys.stdout.write(daemon.systemd_unit(_own_command(), data_dir, host))
        return 0
    from swarmlet.api.client import default_host

    return daemon.run(
        data_dir, host or default_host(), args.log_level, foreground=not args.detached
    )


def _own_command() -> list[str]:
    """How to run this swarmlet again: the zipapp itself, or the interpreter on the package."""
    exe = os.path.abspath(sys.argv[0])
    if os.path.basename(exe) == "__main__.py":
        return [sys.executable, "-m", "swarmlet"]
    return [exe]
