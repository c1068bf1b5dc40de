"""`swarmlet btrfs` command group: argument definitions only; the work is imported lazily."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `btrfs` group to the top-level subparsers; leaves set `func(args) -> int`."""
    p = sub.add_parser("btrfs", help="Put Docker's storage on btrfs")
    p.set_defaults(func=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    import sys

    print("swarmlet btrfs: not implemented yet", file=sys.stderr)
    return 1
