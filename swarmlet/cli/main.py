"""The `swarmlet` command tree and its dispatch.

Each command group lives in its own module and adds itself with `register(sub)`; every leaf
sets `func(args) -> int`. Errors from the daemon become docker's one-line messages, exit 1.
"""

from __future__ import annotations

import platform
import sys

from swarmlet import __version__
from swarmlet.cli.parser import DockerArgumentParser


def version_line() -> str:
    return f"swarmlet {__version__} (Python {platform.python_version()}, {sys.executable})"


def build_parser() -> DockerArgumentParser:
    """The whole command tree (lab and btrfs come from their own packages)."""
    from swarmlet.btrfs import cli as btrfs_cli
    from swarmlet.cli import node, objects, service, stack, swarm, system
    from swarmlet.lab import cli as lab_cli

    parser = DockerArgumentParser(
        prog="swarmlet",
        use="[OPTIONS] COMMAND",
        description="Docker Swarm mode as one file",
        allow_abbrev=False,
    )
    parser.add_argument(
        "-H",
        "--host",
        metavar="string",
        help="Daemon socket to connect to (default $SWARMLET_HOST or unix:///run/swarmlet/swarmlet.sock)",
    )
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=version_line(),
        help="Print version information and quit",
    )
    parser.add_argument("-D", "--debug", action="store_true", help="Enable debug mode")
    sub = parser.add_subparsers(metavar="COMMAND", title="Commands")
    swarm.register(sub)
    node.register(sub)
    service.register(sub)
    stack.register(sub)
    objects.register(sub)
    system.register(sub)
    lab_cli.register(sub)
    btrfs_cli.register(sub)
    parser.set_defaults(func=lambda args: _help(parser))
    return parser


def _help(parser) -> int:
    parser.print_help()
    return 0


def run(args) -> int:
    """Run the chosen handler, turning the expected failures into docker's messages."""
    from swarmlet.api.client import APIError, DaemonUnreachable
    from swarmlet.cli.common import CLIError
    from swarmlet.cli.filters import FilterError
    from swarmlet.cli.format import FormatError

    try:
        return int(args.func(args) or 0)
    except DaemonUnreachable as exc:
        print(exc, file=sys.stderr)
    except APIError as exc:
        if exc.status == 0:
            print(exc.message, file=sys.stderr)
        else:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
    except (CLIError, FilterError, FormatError) as exc:
        print(exc, file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 1


def main(argv: list[str]) -> int:
    if argv in (["--version"], ["-v"]):
        print(version_line())
        return 0
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return run(args)
