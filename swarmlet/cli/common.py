"""What every command module shares: building leaves, the client, common flags, errors."""

from __future__ import annotations

import argparse
import sys


class CLIError(Exception):
    """A user-facing failure: the message is printed on stderr and the command exits 1."""


def group(sub, name: str, short: str, aliases=()):
    """A command group: with no subcommand it prints its help, as docker does."""
    parser = sub.add_parser(name, help=short, aliases=list(aliases))
    parser.set_defaults(func=lambda args: _print_help(parser))
    return parser.add_subparsers(metavar="COMMAND", title="Commands")


def _print_help(parser) -> int:
    parser.print_help()
    return 0


def leaf(sub, name: str, use: str, short: str, func, aliases=(), help=None):
    """A runnable command; `use` is the usage after the command path (docker's `Use`)."""
    parser = sub.add_parser(
        name,
        help=short if help is None else help,
        description=short,
        aliases=list(aliases),
        use=use,
    )
    parser.set_defaults(func=func)
    return parser


def client(args: argparse.Namespace):
    """The API client for the daemon chosen by -H / SWARMLET_HOST (imported when needed)."""
    from swarmlet.api.client import Client, default_host, socket_path

    host = getattr(args, "host", None) or default_host()
    try:
        socket_path(host)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return Client(host)


def add_quiet(p, text="Only display IDs"):
    p.add_argument("-q", "--quiet", action="store_true", help=text)


def add_format(p, what="listing"):
    """`--format` of a listing, or `-f/--format` of inspect (`what="inspect"`)."""
    if what == "inspect":
        p.add_argument(
            "-f",
            "--format",
            dest="format",
            metavar="string",
            help="Format output using a custom template ('json' or a Go template)",
        )
        return
    p.add_argument(
        "--format",
        metavar="string",
        help="Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)",
    )


def add_pretty(p):
    """`--pretty` of `inspect`."""
    p.add_argument(
        "--pretty", action="store_true", help="Print the information in a human friendly format"
    )


def add_filter(p):
    from swarmlet.cli.filters import check_filter_format
    from swarmlet.cli.opts import validated

    p.add_argument(
        "-f",
        "--filter",
        action="append",
        type=validated("filter", check_filter_format),
        metavar="filter",
        help="Filter output based on conditions provided",
    )


def add_no_trunc(p):
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")


def not_built(what: str):
    """Handler for a command whose behaviour comes in a later stage: one line, exit 1."""

    def handler(args) -> int:
        print(f"swarmlet {what}: not implemented yet", file=sys.stderr)
        return 1

    return handler


def warn(message: str) -> None:
    print(message, file=sys.stderr)
