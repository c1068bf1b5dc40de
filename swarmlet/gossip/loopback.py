"""A cluster of gossip member processes on loopback, for real-process tests and figures.

Each member is `python -m swarmlet.gossip.node`; a reader thread per process collects the
JSON event lines it prints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time


class MemberProcess:
    def __init__(self, node_id: str, args: list[str], env: dict):
        self.id = node_id
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swarmlet.gossip.node", "--id", node_id, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.addr: str | None = None
        self.events: list[dict] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "ready" in obj:
                self.addr = obj["ready"]
                self._ready.set()
            else:
                self.events.append(obj)

    def wait_ready(self, timeout: float) -> str:
        if not self._ready.wait(timeout):
            raise TimeoutError(f"member {self.id} did not start")
        return self.addr

    def first(self, kind: str, about: str) -> float | None:
        for ev in list(self.events):
            if ev["kind"] == kind and ev["id"] == about:
                return ev["t"]
        return None

    def live_view(self) -> set[str]:
        """Members this one currently holds alive or suspect (from its event stream)."""
        state: dict[str, str] = {}
        for ev in list(self.events):
            state[ev["id"]] = ev["kind"]
        return {m for m, k in state.items() if k in ("join", "alive", "suspect", "update")}


class LoopbackCluster:
    def __init__(self, n: int, profile: str = "default", host: str = "127.0.0.1"):
        self.n = n
        self.profile = profile
        self.host = host
        self.members: list[MemberProcess] = []

    def __enter__(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        common = ["--listen", f"{self.host}:0", "--profile", self.profile]
        first = MemberProcess("g00", common, env)
        self.members.append(first)
        seed = first.wait_ready(30)
        for i in range(1, self.n):
            self.members.append(MemberProcess(f"g{i:02d}", [*common, "--join", seed], env))
        for m in self.members:
            m.wait_ready(60)
        return self

    def __exit__(self, *exc):
        for m in self.members:
            if m.proc.poll() is None:
                try:
                    m.proc.send_signal(signal.SIGCONT)
                    m.proc.kill()
                except ProcessLookupError:
                    pass
        for m in self.members:
            m.proc.wait(10)

    def wait(self, predicate, timeout: float, step: float = 0.05) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if predicate():
                return True
            time.sleep(step)
        return predicate()

    def converged(self) -> bool:
        ids = {m.id for m in self.members}
        return all(m.live_view() | {m.id} == ids for m in self.members)

    def others(self, member: MemberProcess) -> list[MemberProcess]:
        return [m for m in self.members if m is not member]
