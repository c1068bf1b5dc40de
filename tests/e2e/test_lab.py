"""The lab: real hosts (namespaces, one dockerd each, a registry) on this machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import lab_cli

pytestmark = pytest.mark.e2e
LAB_NODES = 3
PORT = 7311

# Echo server: one line per message, on the host's own address.
ECHO_SERVER = r"""
import socket, sys, threading
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
def serve(c):
    with c, c.makefile("rwb", buffering=0) as f:
        for line in f:
            f.write(line)
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
"""

# Client of one long-lived connection, driven on stdin: `send X` sends a line,
# `recv T` prints the next echoed line or TIMEOUT after T seconds.
ECHO_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
buf = b""
for cmd in sys.stdin:
    op, arg = cmd.split()
    if op == "send":
        s.sendall(arg.encode() + b"\n")
        continue
    s.settimeout(float(arg))
    try:
        while b"\n" not in buf:
            buf += s.recv(4096)
        line, buf = buf.split(b"\n", 1)
        print(line.decode(), flush=True)
    except TimeoutError:
        print("TIMEOUT", flush=True)
"""

CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()"


def _can_connect(lab, src: str, addr: str, port: int) -> bool:
    return (
        lab.exec(src, sys.executable, "-c", CONNECT, addr, str(port), check=False).returncode == 0
    )


@pytest.fixture(scope="module")
def echo(lab):
    """An echo server on node2 (module-wide; the lab's teardown ends it)."""
    proc = lab.popen("node2", sys.executable, "-c", ECHO_SERVER, lab.addr("node2"), str(PORT),
                     stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    yield lab.addr("node2"), PORT
    proc.kill()
    proc.wait()


def test_hosts_reach_each_others_addresses(lab, echo):
    out = lab.exec("node1", "busybox", "ping", "-c", "1", "-W", "5", lab.addr("node3")).stdout
    assert "1 packets received" in out
    assert _can_connect(lab, "node3", *echo)


def test_each_host_has_its_own_hostname(lab):
    for host in lab.hosts:
        assert lab.exec(host, "hostname").stdout.strip() == host
        assert lab.docker(host, "info", "--format", "{{.Name}}").stdout.strip() == host


def test_hosts_have_no_route_out_of_the_lab(lab):
    routes = lab.exec("node1", "ip", "-4", "route").stdout
    assert "default" not in routes


def test_containers_pull_both_images_from_the_lab_registry(lab):
    def version(image: str) -> str:
        return lab.docker("node2", "run", "--rm", image, "cat", "/VERSION").stdout.strip()

    assert version("busybox:v2") == "2"
    assert version("busybox:latest") == "1"
    assert version(f"{lab.registry}/busybox:v2") == "2"
    assert version(f"{lab.registry}/library/busybox:latest") == "1"


def test_exec_passes_environment_stdio_and_exit_code(lab):
    host = lab.host("node3")
    proc = lab.cli("exec", "node3", "--", "sh", "-c",
                   'cat; echo "$DOCKER_HOST $SWARMLET_DATA_DIR $SWARMLET_HOST $SWARMLET_LAB_REGISTRY"; '
                   "echo err >&2; exit 7", input="from-stdin\n")  # fmt: skip
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.splitlines() == [
        "from-stdin",
        f"{host.docker_host} {host.swarmlet_data_dir} {host.swarmlet_host} {lab.registry}",
    ]
    assert proc.stderr.strip() == "err"


def test_swarmlet_on_the_hosts_path_is_the_one_under_test(lab):
    out = lab.swarmlet("node1", "--version").stdout
    assert out.startswith("swarmlet ")


def test_ls_lists_hosts_addresses_and_registry(lab):
    proc = lab_cli("ls")
    assert proc.returncode == 0, proc.stderr
    assert f"lab {lab.name}:" in proc.stdout
    assert f"registry {lab.registry}" in proc.stdout
    for host in lab.hosts:
        assert lab.addr(host) in proc.stdout


def test_partition_stops_a_tcp_connection_and_heal_restores_it(lab, echo):
    client = lab.popen("node1", sys.executable, "-c", ECHO_CLIENT, *map(str, echo),
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip

    def ask(line: str) -> str:
        client.stdin.write(line + "\n")
        client.stdin.flush()
        return client.stdout.readline().strip() if line.startswith("recv") else ""

    try:
        ask("send before")
        assert ask("recv 30") == "before"

        assert lab.cli("partition", "node1").returncode == 0
        ask("send during")
        # Nothing crosses while partitioned; 3 s is a deadline, not a measurement.
        assert ask("recv 3") == "TIMEOUT"
        assert not _can_connect(lab, "node3", lab.addr("node1"), 22)
        assert not _can_connect(lab, "node1", *echo)
        # The other side still talks among itself, and node1 still reaches the registry.
        assert _can_connect(lab, "node3", *echo)
        assert (
            lab.exec("node1", sys.executable, "-c", CONNECT, *lab.registry.split(":")).returncode
            == 0
        )

        assert lab.cli("heal").returncode == 0
        # TCP retransmits the held-back line on the same connection.
        assert ask("recv 60") == "during"
        ask("send after")
        assert ask("recv 30") == "after"
    finally:
        client.kill()
        client.wait()
        lab.heal()


def test_engine_stop_and_start(lab):
    from swarmlet.lab import engine

    host = lab.host("node3")
    assert lab.cli("engine", "node3", "stop").returncode == 0
    assert not engine.ping(host.docker_sock)
    assert lab.docker("node3", "ps", check=False).returncode != 0
    proc = lab.cli("engine", "node3", "start")
    assert proc.returncode == 0, proc.stderr
    assert lab.docker("node3", "info", "--format", "{{.Name}}").stdout.strip() == "node3"


# A stand-in for the daemon: answers /_ping on its socket as the host, until killed.
STAND_IN_DAEMON = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[sys.argv.index("--host") + 1][len("unix://"):]); s.listen()
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"); c.close()
"""


def test_start_runs_the_daemon_as_the_host_and_kill_sigkills_it(lab):
    from swarmlet.lab import faults

    host = lab.host("node2")
    argv = [sys.executable, "-c", STAND_IN_DAEMON, "daemon", "--data-dir", host.swarmlet_data_dir,
            "--host", host.swarmlet_host]  # fmt: skip
    pid = faults.start_daemon(lab.state, host, argv)
    try:
        assert faults.daemon_pids(host) == {pid}
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(host.netns_path).st_ino
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert f"SWARMLET_DATA_DIR={host.swarmlet_data_dir}".encode() in f.read().split(b"\0")
        proc = lab.cli("kill", "node2")
        assert proc.returncode == 0, proc.stderr
        assert faults.daemon_pids(host) == set()
        assert lab.cli("kill", "node2").returncode == 1
    finally:
        if faults.daemon_pids(host):
            faults.kill_daemon(host)
        os.unlink(host.swarmlet_host[len("unix://") :])


def test_bad_input_is_refused_without_side_effects(lab):
    proc = lab.cli("partition", "node9")
    assert proc.returncode == 1 and "no host 'node9'" in proc.stderr
    proc = lab.cli("partition", *lab.hosts)
    assert proc.returncode == 1 and "other side" in proc.stderr
    assert lab.state.partitions == []
    proc = lab_cli("up", "--name", lab.name, "--nodes", "2")
    assert proc.returncode == 1 and "already exists" in proc.stderr


# --- tests with a lab of their own ------------------------------------------------------


def _traces(name: str, folder: str, bridge: str) -> list[str]:
    """Everything of the lab still on the machine."""
    from swarmlet.lab import system

    left = []
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    left += [f"netns {n}" for n in netns if n.startswith(f"sl-{name}-")]
    left += [f"process {p} {' '.join(system.cmdline(p))}" for p in system.lab_processes(folder, [])]
    if os.path.exists(f"/sys/class/net/{bridge}"):
        left.append(f"bridge {bridge}")
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    left += [f"rule {r}" for r in rules.splitlines() if bridge in r]
    with open("/proc/self/mountinfo") as f:
        left += [f"mount {line.split()[4]}" for line in f if folder in line]
    if os.path.exists(folder):
        left.append(f"folder {folder}")
    return left


def test_down_removes_everything_the_lab_made(make_lab, lab, echo):
    other = lab
    lab = make_lab(2)
    st = lab.state
    # Two labs coexist apart: own bridge, own /24, same host names.
    assert st.bridge != other.state.bridge and st.subnet != other.state.subnet
    assert lab.exec("node2", "hostname").stdout.strip() == "node2"
    assert not _can_connect(lab, "node1", *echo)
    lab.docker("node1", "run", "-d", "busybox", "sleep", "3600")
    lab.popen("node2", "sleep", "3600")
    lab.partition("node1")
    assert _traces(lab.name, st.dir, st.bridge) != []

    proc = lab.cli("down")
    assert proc.returncode == 0, proc.stderr
    assert _traces(lab.name, st.dir, st.bridge) == []
    assert lab.cli("down").returncode == 0  # idempotent
    assert lab.name not in lab_cli("ls").stdout


def test_a_failed_up_removes_what_it_made(monkeypatch):
    from swarmlet.lab import core, engine, layout
    from tests.e2e.conftest import _require_lab_prerequisites, unique_lab_name

    _require_lab_prerequisites()
    name = unique_lab_name()

    def broken(*args, **kwargs):
        raise layout.LabError("engine refused to start (injected)")

    monkeypatch.setattr(engine, "wait_ready", broken)
    try:
        with pytest.raises(layout.LabError, match="injected"):
            core.up(name, 2, log=lambda *a, **k: None)
        assert _traces(name, layout.lab_dir(name), layout.bridge_name(name)) == []
    finally:
        core.down(name, log=lambda *a, **k: None)


def test_start_and_kill_the_real_daemon(lab):
    from swarmlet.lab.layout import LabError

    if lab.swarmlet("node3", "daemon", "--help", check=False).returncode != 0:
        pytest.skip("this tree's command line has no `daemon` command yet")
    try:
        lab.start("node3")
    except LabError as exc:
        if "not implemented" in str(exc):
            pytest.skip(f"the daemon is not built in this tree yet: {exc}")
        raise
    try:
        assert lab.swarmlet("node3", "version").returncode == 0
        assert "Name: node3" in lab.swarmlet("node3", "info").stdout
        proc = lab.cli("kill", "node3")
        assert proc.returncode == 0, proc.stderr
        assert lab.swarmlet("node3", "version", check=False).returncode != 0
        proc = lab.cli("start", "node3")  # again, over the socket file the killed one left
        assert proc.returncode == 0, proc.stderr
        assert lab.swarmlet("node3", "version").returncode == 0
    finally:
        from swarmlet.lab import faults

        if faults.daemon_pids(lab.host("node3")):
            faults.kill_daemon(lab.host("node3"))
