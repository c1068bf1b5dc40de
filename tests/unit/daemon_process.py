"""A swarmlet daemon in a subprocess with its own data dir and socket, for tests and benches."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swarmlet.api.client import APIError, Client, DaemonUnreachable

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE = 30.0


class DaemonProcess:
    """Starts `swarmlet.daemon.run(...)` as `python -c`; `stop()` always leaves nothing behind."""

    def __init__(
        self,
        base: str | None = None,
        data_dir: str | None = None,
        sock: str | None = None,
        launcher: list[str] | None = None,
        env: dict[str, str] | None = None,
    ):
        # `launcher` runs `-c CODE`: this interpreter by default, or e.g. [python, zipapp] with
        # SHIV_INTERPRETER=1 in `env` to run the daemon out of the one file.
        self.launcher = launcher or [sys.executable]
        self.env = env
        # Short paths: a unix socket path holds at most 107 bytes.
        self.base = base or tempfile.mkdtemp(prefix="swl-", dir="/tmp")
        self.data_dir = data_dir or os.path.join(self.base, "data")
        self.socket = sock or os.path.join(self.base, "run", "api.sock")
        self.host = "unix://" + self.socket
        self.output_path = os.path.join(self.base, "output.txt")
        self.proc: subprocess.Popen | None = None

    def output(self) -> str:
        """What the daemon printed (its stderr log and any error line)."""
        try:
            with open(self.output_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def command(self, log_level: str = "info", foreground: bool = True) -> list[str]:
        code = (
            "import sys; from swarmlet.daemon import run; "
            f"sys.exit(run({self.data_dir!r}, {self.host!r}, {log_level!r}, "
            f"foreground={foreground!r}))"
        )
        return [*self.launcher, "-c", code]

    def start(
        self, log_level: str = "info", wait: bool = True, foreground: bool = True
    ) -> DaemonProcess:
        # Output goes to a file: a pipe nobody reads could fill and block the daemon.
        with open(self.output_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.command(log_level, foreground),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if self.env is None else {**os.environ, **self.env},
            )
        if wait:
            self.wait_ready()
        return self

    def client(self, timeout: float = 10.0) -> Client:
        return Client(self.host, timeout=timeout)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.output()}")
            try:
                if self.client(timeout=2).get("/_ping") == "OK":
                    return
            except (DaemonUnreachable, APIError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not answer /_ping in time")

    def signal(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()
