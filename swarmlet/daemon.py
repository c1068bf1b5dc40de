"""The swarmlet daemon: builds and supervises one node."""

from __future__ import annotations

DEFAULT_DATA_DIR = "/var/lib/swarmlet"


def run(data_dir: str, host: str, log_level: str = "info") -> int:
    """Serve the local API until SIGTERM; returns the process exit code."""
    import sys

    print("swarmlet daemon: not implemented yet", file=sys.stderr)
    return 1
