"""`python -m swarmlet.btrfs setup|status ...`: the `btrfs` group on its own."""

from __future__ import annotations

import argparse
import sys

from swarmlet.btrfs.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swarmlet")
    register(parser.add_subparsers())
    args = parser.parse_args(["btrfs", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
