"""`swarmlet btrfs` command group: argument definitions only; the work is imported lazily."""

from __future__ import annotations

import argparse
import os
import shlex

SYSTEMD_DIRS = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
]
DEFAULT_HOST = os.environ.get("DOCKER_HOST")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `btrfs` group to the top-level subparsers; leaves set `func(args) -> int`."""
    p = sub.add_parser(
        "btrfs", help="Put Docker's storage on btrfs", description="Put Docker's storage on btrfs"
    )
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])
    group = p.add_subparsers(dest="btrfs_command", metavar="COMMAND")

    s = group.add_parser(
        "setup",
        help="Put Docker's data root on a btrfs file system (a device or an image file)",
        description="Put Docker's data root on btrfs: format a device or a new image file, mount "
        "it at the data root, persist it in fstab, set the storage driver in daemon.json, restart "
        "Docker and verify. Safe to re-run; refuses to destroy data without --force.",
    )
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", metavar="DEV", help="an unused block device to format")
    where.add_argument(
        "--image", metavar="PATH", help="an image file to create (with --size) on a loop device"
    )
    s.add_argument("--size", type=_size, help="size of the image file (e.g. 20G)")
    s.add_argument("--label", default="docker", help="file system label (default: docker)")
    s.add_argument(
        "--force",
        action="store_true",
        help="format a device that holds a file system, "
        "move a non-empty data root aside, remove a storage driver flag from Docker's unit",
    )
    s.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    s.add_argument("--no-restart", action="store_true", help="leave Docker stopped afterwards")
    s.add_argument(
        "--migrate",
        action="store_true",
        help="carry images (saved and loaded) and volumes over; containers are not",
    )
    _common(s)
    s.add_argument(
        "--docker-stop",
        metavar="CMD",
        help="command that stops Docker "
        "(default: systemctl stop docker.service, or the init script)",
    )
    s.add_argument(
        "--docker-start",
        metavar="CMD",
        help="command that starts Docker "
        "(default: systemctl start docker.service, or the init script)",
    )
    s.add_argument(
        "--proc-filesystems",
        default="/proc/filesystems",
        metavar="PATH",
        help="where the kernel lists its file systems",
    )
    s.add_argument(
        "--migrate-dir",
        metavar="DIR",
        help="where saved images wait during --migrate (default: beside the data root)",
    )
    s.add_argument("--systemd-dirs", metavar="DIR:DIR", help=argparse.SUPPRESS)
    s.set_defaults(func=_setup)

    t = group.add_parser(
        "status",
        help="Show where Docker's storage is and whether all agree on btrfs",
        description="Show the file system, device or image, size, mount, fstab "
        "entry, daemon.json setting and engine driver; exit 0 only when all agree.",
    )
    _common(t)
    t.set_defaults(func=_status)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        default="/var/lib/docker",
        metavar="DIR",
        help="Docker's data root (default: /var/lib/docker)",
    )
    p.add_argument(
        "--daemon-json",
        default="/etc/docker/daemon.json",
        metavar="PATH",
        help="Docker's config file (default: /etc/docker/daemon.json)",
    )
    p.add_argument("--fstab", default="/etc/fstab", metavar="PATH", help="default: /etc/fstab")
    p.add_argument(
        "--docker-host",
        default=DEFAULT_HOST,
        metavar="URL",
        help="the engine to verify (default: DOCKER_HOST or the local socket)",
    )


def _size(text: str) -> int:
    from swarmlet.btrfs.config import ConfigError, parse_size

    try:
        return parse_size(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _docker_command(given: str | None, verb: str) -> list[str]:
    if given:
        return shlex.split(given)
    if os.path.isdir("/run/systemd/system"):
        # a socket-activated engine would be started again by the next look at its socket
        socket = any(os.path.exists(os.path.join(d, "docker.socket")) for d in SYSTEMD_DIRS)
        units = ["docker.socket", "docker.service"] if socket and verb == "stop" else []
        return ["systemctl", verb, *(units or ["docker.service"])]
    return ["service", "docker", verb]


def _setup(args: argparse.Namespace) -> int:
    from swarmlet.btrfs.plan import Options
    from swarmlet.btrfs.setup import setup

    opts = Options(
        device=args.device,
        image=os.path.abspath(args.image) if args.image else None,
        size=args.size,
        data_root=os.path.abspath(args.data_root),
        label=args.label,
        force=args.force,
        dry_run=args.dry_run,
        no_restart=args.no_restart,
        migrate=args.migrate,
        daemon_json=args.daemon_json,
        fstab=args.fstab,
        docker_stop=_docker_command(args.docker_stop, "stop"),
        docker_start=_docker_command(args.docker_start, "start"),
        docker_host=args.docker_host,
        proc_filesystems=args.proc_filesystems,
        systemd_dirs=args.systemd_dirs.split(":") if args.systemd_dirs else SYSTEMD_DIRS,
        reload_systemd=(
            not args.systemd_dirs
            and args.fstab == "/etc/fstab"
            and os.path.isdir("/run/systemd/system")
        ),
        migrate_dir=args.migrate_dir,
    )
    return setup(opts)


def _status(args: argparse.Namespace) -> int:
    from swarmlet.btrfs.status import status

    return status(os.path.abspath(args.data_root), args.fstab, args.daemon_json, args.docker_host)
