"""The `swarmlet` command tree and its dispatch.

Each command group lives in its own module and adds itself with `register(sub)`; every leaf
sets `func(args) -> int`. Errors from the daemon become docker's one-line messages, exit 1.
"""

from __future__ import annotations

import sys

from swarmlet import __version__
from swarmlet.cli.parser import DockerArgumentParser


def version_line() -> str:
    return f"swarmlet {__version__} (Python {sys.version.split()[0]}, {sys.executable})"


class _Discard:
    """Stands in for the parsers of commands not being run: configuring it does nothing
    (except noting that the command is a group, for the help's "Management Commands")."""

    def __init__(self, bare=None):
        self._bare = bare

    def add_subparsers(self, *args, **kwargs):
        if self._bare is not None:
            self._bare.group_marker = True
        return _Discard()

    def __getattr__(self, name):
        return self._call

    def _call(self, *args, **kwargs):
        return self


class _OnlyCommand:
    """Subparsers proxy: builds in full only the command being run (argparse setup is
    most of a short command's start-up), the others as bare entries for the help list."""

    def __init__(self, sub, chosen: str | None):
        self.sub = sub
        self.chosen = chosen

    def __getattr__(self, name):
        return getattr(self.sub, name)

    def add_parser(self, name, **kwargs):
        if name == self.chosen or self.chosen in kwargs.get("aliases", ()):
            return self.sub.add_parser(name, **kwargs)
        bare = self.sub.add_parser(name, help=kwargs.get("help"), aliases=kwargs.get("aliases", ()))
        return _Discard(bare)


_GLOBAL_FLAGS_WITH_VALUE = ("-H", "--host")


def command_word(argv: list[str]) -> str | None:
    """The top-level command in argv (after the global flags), or None."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _GLOBAL_FLAGS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: list[str] | None = None) -> DockerArgumentParser:
    """The command tree (lab and btrfs come from their own packages).

    With `argv`, only the command it names is built in full; without, the whole tree.
    """
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
    target = sub if argv is None else _OnlyCommand(sub, command_word(argv))
    for module in (swarm, node, service, stack, objects, system, lab_cli, btrfs_cli):
        module.register(target)
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
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return run(args)
