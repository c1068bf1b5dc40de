"""Start a detached daemon for `init` / `join` when none answers, as the design asks.

Other commands never start one: they report docker's "Cannot connect ..." and exit 1.
Set SWARMLET_NO_AUTOSTART=1 to turn this off (tests, or hosts where systemd owns the daemon).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from swarmlet.api.client import APIError, Client, DaemonUnreachable
from swarmlet.cli.common import CLIError

START_TIMEOUT = 20.0


def daemon_command() -> list[str]:
    """How to run this same swarmlet: the zipapp file, or `python -m swarmlet` from a tree."""
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if argv0 and not argv0.endswith("__main__.py") and os.path.isfile(argv0):
        return [sys.executable, argv0]
    return [sys.executable, "-m", "swarmlet"]


def _package_root() -> str:
    import swarmlet

    return os.path.dirname(os.path.dirname(os.path.abspath(swarmlet.__file__)))


def ensure_daemon(host: str, data_dir: str | None = None) -> bool:
    """Make sure a daemon answers at `host`; returns True when one had to be started."""
    api = Client(host, timeout=5.0)
    try:
        api.get("/_ping")
        return False
    except APIError:
        return False  # it answered: a daemon runs there
    except DaemonUnreachable:
        if os.environ.get("SWARMLET_NO_AUTOSTART"):
            raise
    data_dir = data_dir or os.environ.get("SWARMLET_DATA_DIR") or "/var/lib/swarmlet"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryFile() as early_output:
        proc = subprocess.Popen(
            [*daemon_command(), "daemon", "--detached", "--data-dir", data_dir, "--host", host],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=early_output,
            start_new_session=True,
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                early_output.seek(0)
                said = early_output.read().decode(errors="replace").strip()
                raise CLIError(
                    f"Cannot connect to the swarmlet daemon at {host}: is it running?\n"
                    f"starting one failed (exit {code})" + (f": {said}" if said else "")
                )
            try:
                api.get("/_ping")
                return True
            except APIError:
                return True
            except DaemonUnreachable:
                time.sleep(0.1)
    raise CLIError(
        f"Cannot connect to the swarmlet daemon at {host}: is it running?\n"
        f"a daemon was started but did not answer within {START_TIMEOUT:.0f}s; see {data_dir}"
    )
