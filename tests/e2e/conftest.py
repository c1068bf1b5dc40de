"""Shared fixtures for end-to-end tests on a lab of real hosts.

- `swarmlet_bin` (session): argv that runs the swarmlet under test (SWARMLET_BIN, else
  dist/swarmlet if built, else `python -m swarmlet` with this tree on PYTHONPATH).
- `lab` (module): a lab of `LAB_NODES` hosts (a module-level constant, default 3), uniquely
  named, torn down when the module ends, also when tests fail. Its `swarmlet` on the hosts'
  PATH is `swarmlet_bin`.
- `make_lab` (function): `make_lab(nodes)` for a test that needs a lab of its own (e.g.
  one it destroys); every lab it made is torn down after the test.

A `LabHandle` runs commands as hosts: `lab.exec("node1", "docker", "ps")` returns a
CompletedProcess (text, stdout/stderr captured, check=True unless check=False).
"""

from __future__ import annotations

import functools
import os
import secrets
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def swarmlet_argv() -> list[str]:
    """argv prefix that runs the swarmlet under test."""
    env_bin = os.environ.get("SWARMLET_BIN")
    if env_bin:
        return [env_bin]
    dist = os.path.join(REPO, "dist", "swarmlet")
    if os.path.isfile(dist):
        return [dist]
    return [sys.executable, "-m", "swarmlet"]


def swarmlet_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment in which swarmlet_argv() finds this tree when it runs the package."""
    env = dict(os.environ if base is None else base)
    if swarmlet_argv()[0] == sys.executable:
        env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


_LOCAL_LAB_ENTRY = (
    "import argparse, sys\n"
    "from swarmlet.lab.cli import register\n"
    "p = argparse.ArgumentParser(prog='swarmlet')\n"
    "register(p.add_subparsers())\n"
    "a = p.parse_args(sys.argv[1:])\n"
    "sys.exit(a.func(a))\n"
)


@functools.cache
def lab_cli_argv() -> tuple[str, ...]:
    """argv prefix of `swarmlet lab`: the swarmlet under test once its command tree has the
    lab group, else a local entry over swarmlet.lab.cli.register (same handlers)."""
    argv = swarmlet_argv()
    probe = subprocess.run(
        [*argv, "lab", "--help"], env=swarmlet_env(), capture_output=True, text=True
    )
    if probe.returncode == 0 and "partition" in probe.stdout:
        return (*argv, "lab")
    return (sys.executable, "-c", _LOCAL_LAB_ENTRY, "lab")


def lab_cli(
    *args: str, input: str | None = None, timeout: float = 300.0
) -> subprocess.CompletedProcess:
    """Run `swarmlet lab ARGS...` and capture its output (text)."""
    return subprocess.run(
        [*lab_cli_argv(), *args],
        env=swarmlet_env(),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def swarmlet_bin() -> list[str]:
    return swarmlet_argv()


def _require_lab_prerequisites() -> None:
    from swarmlet.lab.system import missing_prerequisites

    problems = missing_prerequisites()
    if problems:
        pytest.skip("the lab cannot run here: " + "; ".join(problems))


def unique_lab_name() -> str:
    return "t" + secrets.token_hex(3)[:5]


class LabHandle:
    """A running lab, as tests use it."""

    def __init__(self, name: str, nodes: int):
        from swarmlet.lab import core

        self.name = name
        self._lab = None
        self._lab = core.up(name, nodes, log=lambda *a, **k: None)
        argv = swarmlet_argv()
        env = {"PYTHONPATH": REPO} if argv[0] == sys.executable else None
        core.write_swarmlet_wrapper(self._lab, argv, env)

    @property
    def state(self):
        """The lab's current state (layout.Lab), read from its folder."""
        from swarmlet.lab.layout import load

        return load(self.name)

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self._lab.hosts]

    @property
    def registry(self) -> str:
        return self._lab.registry

    def addr(self, host: str) -> str:
        return self._lab.host(host).addr

    def form_swarm(self, joiners: dict[str, str] | None = None) -> dict[str, str]:
        """Start the daemons of node1 and of `joiners` ({host: "worker"|"manager"}; default
        node2 and node3 as workers), init on node1 and join the others one after another.
        Returns the join tokens by role."""
        joiners = {"node2": "worker", "node3": "worker"} if joiners is None else joiners
        for host in ("node1", *joiners):
            self.start(host)
        self.swarmlet("node1", "swarm", "init", "--advertise-addr", self.addr("node1"))
        tokens = {
            role: self.swarmlet("node1", "swarm", "join-token", "-q", role).stdout.strip()
            for role in ("worker", "manager")
        }
        for host, role in joiners.items():
            self.swarmlet(host, "swarm", "join", "--token", tokens[role], self.remote)
        return tokens

    @property
    def remote(self) -> str:
        """node1's swarm address, as `swarm join` takes it."""
        return f"{self.addr('node1')}:2377"

    def host(self, host: str):
        """The host's layout (docker_sock, swarmlet_data_dir, swarmlet_host, netns_path...)."""
        return self._lab.host(host)

    def argv(self, host: str, *cmd: str) -> tuple[list[str], dict[str, str]]:
        from swarmlet.lab import core

        return core.exec_argv(self._lab, self._lab.host(host), list(cmd))

    def exec(self, host: str, *cmd: str, check: bool = True, input: str | None = None,
             timeout: float = 120.0) -> subprocess.CompletedProcess:  # fmt: skip
        argv, env = self.argv(host, *cmd)
        proc = subprocess.run(
            argv, env=env, input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{host}: {' '.join(cmd)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def cli(self, command: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """`swarmlet lab COMMAND --name THIS_LAB ARGS...` through the command line."""
        return lab_cli(command, "--name", self.name, *args, **kwargs)

    def popen(self, host: str, *cmd: str, **kwargs) -> subprocess.Popen:
        """Start cmd as the host in the background (lab teardown ends it if the test does not)."""
        argv, env = self.argv(host, *cmd)
        return subprocess.Popen(argv, env=env, **kwargs)

    def swarmlet(self, host: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.exec(host, "swarmlet", *args, **kwargs)

    def docker(self, host: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.exec(host, "docker", *args, **kwargs)

    def partition(self, *hosts: str) -> None:
        from swarmlet.lab import faults

        faults.partition(self.state, list(hosts))

    def heal(self) -> None:
        from swarmlet.lab import faults

        faults.heal(self.state)

    def kill(self, host: str) -> set[int]:
        from swarmlet.lab import faults

        return faults.kill_daemon(self._lab.host(host))

    def start(self, host: str) -> int:
        from swarmlet.lab import faults

        return faults.start_daemon(self._lab, self._lab.host(host))

    def engine(self, host: str, action: str) -> None:
        from swarmlet.lab import faults

        if action == "stop":
            faults.engine_stop(self._lab.host(host))
        else:
            faults.engine_start(self._lab, self._lab.host(host))

    def down(self) -> bool:
        from swarmlet.lab import core

        return core.down(self.name, log=lambda *a, **k: None)


@pytest.fixture(scope="module")
def lab(request):
    _require_lab_prerequisites()
    nodes = getattr(request.module, "LAB_NODES", 3)
    name = unique_lab_name()
    request.addfinalizer(lambda: _down_quietly(name))
    return LabHandle(name, nodes)


@pytest.fixture
def make_lab():
    _require_lab_prerequisites()
    names = []

    def make(nodes: int) -> LabHandle:
        name = unique_lab_name()
        names.append(name)
        return LabHandle(name, nodes)

    yield make
    for name in names:
        _down_quietly(name)


def _down_quietly(name: str) -> None:
    from swarmlet.lab import core

    core.down(name, log=lambda *a, **k: None)


def eventually(check, timeout: float = 90.0, interval: float = 0.5):
    """Call `check()` until it returns a true value (returned) or stops raising
    AssertionError; a deadline for "eventually", never a measure of speed."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            last = AssertionError(f"{check.__name__} stayed false")
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise last
        time.sleep(interval)
