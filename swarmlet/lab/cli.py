"""`swarmlet lab` command group: argument definitions only; the work is imported lazily."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `lab` group to the top-level subparsers; leaves set `func(args) -> int`."""
    p = sub.add_parser("lab", help="Run a multi-host lab on this machine")
    p.set_defaults(func=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    import sys

    print("swarmlet lab: not implemented yet", file=sys.stderr)
    return 1
