"""One dockerd per lab host: start, stop, and the few Engine API calls the lab needs."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

from swarmlet.lab import system
from swarmlet.lab.layout import Host, Lab, LabError

START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def api(
    sock: str,
    method: str,
    path: str,
    query: dict | None = None,
    body: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 120.0,
) -> bytes:
    """One Engine API request; raises LabError on an error status."""
    if query:
        path += "?" + urllib.parse.urlencode(query)
    conn = _Unix(sock, timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": "docker", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status >= 400:
        raise LabError(
            f"engine {sock}: {method} {path}: {resp.status} {data.decode(errors='replace').strip()}"
        )
    return data


def _check_stream(data: bytes, what: str) -> None:
    """Progress streams (import, push) report failures inside a 200 response."""
    for line in data.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("error"):
            raise LabError(f"{what}: {msg['error']}")


def ping(sock: str) -> bool:
    try:
        return api(sock, "GET", "/_ping", timeout=2.0) == b"OK"
    except (OSError, LabError, http.client.HTTPException):
        return False


def write_config(lab: Lab, host: Host) -> str:
    path = os.path.join(host.dir, "daemon.json")
    config = {
        "insecure-registries": [lab.registry],
        "registry-mirrors": [f"http://{lab.registry}"],
        "log-level": "warn",
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def launch(lab: Lab, host: Host) -> subprocess.Popen:
    """Start the host's dockerd detached, inside the host's namespaces."""
    config = write_config(lab, host)
    for d in ("data", "exec"):
        os.makedirs(os.path.join(host.dir, d), exist_ok=True)
    argv = system.netns_cmd(host.netns_path, host.uts_path) + [
        "dockerd",
        "--data-root", os.path.join(host.dir, "data"),
        "--exec-root", os.path.join(host.dir, "exec"),
        "--pidfile", host.docker_pidfile,
        "-H", host.docker_host,
        "--bip", host.bip,
        "--config-file", config,
        "--containerd-namespace", f"{host.netns}",
        "--containerd-plugins-namespace", f"{host.netns}-plugins",
    ]  # fmt: skip
    return system.spawn_detached(
        argv, os.path.join(host.dir, "dockerd.log"), env=system.service_env()
    )


def wait_ready(
    hosts_procs: list[tuple[Host, subprocess.Popen | None]], timeout: float = START_TIMEOUT
) -> None:
    """Wait until every engine answers /_ping; fail early when one exits."""
    pending = list(hosts_procs)
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for host, proc in pending:
            if ping(host.docker_sock):
                continue
            if proc is not None and proc.poll() is not None:
                raise LabError(
                    f"dockerd of {host.name} exited ({proc.returncode}): {log_tail(host)}"
                )
            still.append((host, proc))
        pending = still
        if pending:
            if time.monotonic() > deadline:
                names = ", ".join(h.name for h, _ in pending)
                raise LabError(
                    f"dockerd of {names} not ready after {timeout:.0f}s: {log_tail(pending[0][0])}"
                )
            time.sleep(0.1)


def log_tail(host: Host, lines: int = 5) -> str:
    try:
        with open(os.path.join(host.dir, "dockerd.log"), errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def dockerd_pid(host: Host) -> int | None:
    pid = system.read_pid(host.docker_pidfile)
    if pid and system.pid_alive(pid) and "dockerd" in " ".join(system.cmdline(pid)[:1]):
        return pid
    return None


def remove_containers(host: Host) -> None:
    """Remove every container through the engine (so shims and mounts go cleanly)."""
    if not ping(host.docker_sock):
        return
    ids = [
        c["Id"] for c in json.loads(api(host.docker_sock, "GET", "/containers/json", {"all": "1"}))
    ]
    for cid in ids:
        try:
            api(host.docker_sock, "DELETE", f"/containers/{cid}", {"force": "1", "v": "1"})
        except LabError:
            pass


def stop(hosts: list[Host], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the engines, then SIGKILL those still running after timeout."""
    pids = [p for p in (dockerd_pid(h) for h in hosts) if p]
    alive = system.kill_and_wait(pids, signal.SIGTERM, timeout)
    system.kill_and_wait(alive, signal.SIGKILL, 5.0)


def import_image(sock: str, tar: bytes, repo: str, tag: str) -> None:
    query = {"fromSrc": "-", "repo": repo, "tag": tag, "changes": 'CMD ["sh"]'}
    data = api(sock, "POST", "/images/create", query, tar, {"Content-Type": "application/x-tar"})
    _check_stream(data, f"import {repo}:{tag}")


def tag_image(sock: str, src: str, repo: str, tag: str) -> None:
    api(sock, "POST", f"/images/{src}/tag", {"repo": repo, "tag": tag})


def push_image(sock: str, repo: str, tag: str) -> None:
    auth = base64.urlsafe_b64encode(b"{}").decode()
    data = api(sock, "POST", f"/images/{repo}/push", {"tag": tag}, b"", {"X-Registry-Auth": auth})
    _check_stream(data, f"push {repo}:{tag}")
