"""`lab up --swarm`: start a swarmlet daemon per host and form a swarm.

node1 initialises; node2..nodeM join as managers, the next W hosts as workers; hosts beyond
M+W are left out (for join tests).
"""

from __future__ import annotations

import subprocess

from swarmlet.lab.layout import Lab, LabError


def _run_as(lab: Lab, host_name: str, *cmd: str) -> str:
    from swarmlet.lab.core import exec_argv

    argv, env = exec_argv(lab, lab.host(host_name), list(cmd))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(
            f"{host_name}: {' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc.stdout.strip()


def form(lab: Lab, managers: int, workers: int) -> None:
    from swarmlet.lab.faults import start_daemon

    members = lab.hosts[: managers + workers]
    for h in members:
        start_daemon(lab, h)
    first = members[0]
    _run_as(lab, first.name, "swarmlet", "swarm", "init", "--advertise-addr", first.addr)
    tokens = {
        role: _run_as(lab, first.name, "swarmlet", "swarm", "join-token", "-q", role)
        for role in ("manager", "worker")
    }
    for i, h in enumerate(members[1:], start=2):
        role = "manager" if i <= managers else "worker"
        _run_as(
            lab, h.name, "swarmlet", "swarm", "join", "--token", tokens[role], f"{first.addr}:2377"
        )
    lab.swarm = {
        "managers": [h.name for h in members[:managers]],
        "workers": [h.name for h in members[managers:]],
    }
    lab.save()
