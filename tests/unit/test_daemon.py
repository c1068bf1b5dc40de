"""The daemon process: data dir, lock, socket file, log file, signals, and the systemd unit."""

from __future__ import annotations

import fcntl
import grp
import os
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from swarmlet.api.client import Client, DaemonUnreachable
from swarmlet.api.unix_socket import bind_unix_socket
from swarmlet.daemon import systemd_unit
from tests.unit.daemon_process import DaemonProcess


@pytest.fixture
def daemon():
    d = DaemonProcess()
    try:
        yield d
    finally:
        d.cleanup()


def test_data_dir_is_0700_and_socket_0660(daemon):
    daemon.start()
    assert stat.S_IMODE(os.stat(daemon.data_dir).st_mode) == 0o700
    info = os.lstat(daemon.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert stat.S_IMODE(os.stat(os.path.join(daemon.data_dir, "swarmlet.log")).st_mode) == 0o600


def test_existing_data_dir_is_made_private(daemon):
    os.makedirs(daemon.data_dir, mode=0o755)
    os.chmod(daemon.data_dir, 0o755)
    daemon.start()
    assert stat.S_IMODE(os.stat(daemon.data_dir).st_mode) == 0o700


def test_second_daemon_on_same_data_dir_refuses_with_one_line(daemon):
    daemon.start()
    second = DaemonProcess(base=daemon.base, data_dir=daemon.data_dir, sock=daemon.socket + "2")
    result = subprocess.run(second.command(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "another swarmlet daemon" in lines[0]
    assert f"pid {daemon.proc.pid}" in lines[0]
    assert daemon.data_dir in lines[0]
    assert not os.path.exists(daemon.socket + "2")
    assert daemon.client().get("/_ping") == "OK"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_shuts_down_cleanly(daemon, signum):
    daemon.start()
    assert daemon.signal(signum) == 0
    assert not os.path.exists(daemon.socket)
    # The lock is free again: another process can take it.
    with open(os.path.join(daemon.data_dir, "daemon.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    log = Path(daemon.data_dir, "swarmlet.log").read_text()
    assert f"received {signal.Signals(signum).name}" in log
    assert "swarmlet daemon stopped" in log
    assert "Traceback" not in daemon.output()


def test_restart_after_stop_reuses_data_dir(daemon):
    daemon.start()
    assert daemon.signal(signal.SIGTERM) == 0
    daemon.start()
    assert daemon.client().get("/_ping") == "OK"


def test_stale_socket_file_is_replaced(daemon):
    os.makedirs(os.path.dirname(daemon.socket))
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(daemon.socket)  # bound, never listening: what a killed daemon leaves
    stale.close()
    daemon.start()
    assert daemon.client().get("/_ping") == "OK"


def test_socket_served_by_another_daemon_is_refused(daemon):
    daemon.start()
    other = DaemonProcess(base=daemon.base, data_dir=daemon.data_dir + "-other", sock=daemon.socket)
    result = subprocess.run(other.command(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"swarmlet daemon: another daemon is already serving unix://{daemon.socket}"
    ]
    assert daemon.client().get("/_ping") == "OK"


def test_path_that_is_not_a_socket_is_refused(daemon):
    os.makedirs(os.path.dirname(daemon.socket))
    with open(daemon.socket, "w") as f:
        f.write("keep me")
    result = subprocess.run(daemon.command(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "exists and is not a socket" in result.stderr
    assert Path(daemon.socket).read_text() == "keep me"


def test_invalid_log_level_is_refused(daemon):
    result = subprocess.run(daemon.command("loud"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "swarmlet daemon: invalid log level 'loud' (choose debug, info, warn, error, fatal)"
    ]


def test_foreground_daemon_logs_to_file_and_stderr(daemon):
    daemon.start()
    daemon.signal(signal.SIGTERM)
    log = Path(daemon.data_dir, "swarmlet.log").read_text()
    assert f"API listen on {daemon.socket}" in log
    assert f"API listen on {daemon.socket}" in daemon.output()


def test_detached_daemon_logs_to_its_file_only(daemon):
    daemon.start(foreground=False)
    assert daemon.signal(signal.SIGTERM) == 0
    log = Path(daemon.data_dir, "swarmlet.log").read_text()
    assert f"API listen on {daemon.socket}" in log
    assert daemon.output() == ""


def test_debug_level_logs_each_call(daemon):
    daemon.start(log_level="debug")
    daemon.client().get("/info")
    assert daemon.signal(signal.SIGTERM) == 0
    assert "Calling GET /info" in Path(daemon.data_dir, "swarmlet.log").read_text()


def test_client_without_daemon_says_cannot_connect(tmp_path):
    host = f"unix://{tmp_path}/none.sock"
    with pytest.raises(DaemonUnreachable) as excinfo:
        Client(host).get("/_ping")
    assert str(excinfo.value) == f"Cannot connect to the swarmlet daemon at {host}: is it running?"


def test_systemd_unit_runs_the_daemon_and_spares_containers():
    unit = systemd_unit(["/usr/local/bin/swarmlet"])
    lines = unit.splitlines()
    assert "ExecStart=/usr/local/bin/swarmlet daemon" in lines
    assert "Type=simple" in lines
    assert "Restart=always" in lines
    assert "KillMode=process" in lines
    assert "After=docker.service network-online.target" in lines
    assert "WantedBy=multi-user.target" in lines
    assert "ExecStart='/opt/my tools/swarmlet' daemon" in systemd_unit(["/opt/my tools/swarmlet"])
    custom = systemd_unit(["/usr/local/bin/swarmlet"], "/srv/sl", "unix:///run/sl.sock")
    assert (
        "ExecStart=/usr/local/bin/swarmlet daemon --data-dir /srv/sl --host unix:///run/sl.sock"
        in custom.splitlines()
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another group needs root")
def test_socket_belongs_to_the_access_group_when_it_exists(tmp_path):
    try:
        gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        pytest.skip("no group 'nogroup' on this machine")
    path = str(tmp_path / "api.sock")
    sock = bind_unix_socket(path, group="nogroup")
    try:
        info = os.lstat(path)
        assert info.st_gid == gid
        assert stat.S_IMODE(info.st_mode) == 0o660
    finally:
        sock.close()


def test_socket_without_the_access_group_keeps_the_daemons_group(tmp_path):
    path = str(tmp_path / "api.sock")
    sock = bind_unix_socket(path, group="swarmlet-test-no-such-group")
    try:
        info = os.lstat(path)
        assert info.st_gid == os.getegid()
        assert stat.S_IMODE(info.st_mode) == 0o660
    finally:
        sock.close()


def test_a_stale_socket_is_replaced_in_one_step(tmp_path):
    """The new socket is bound and listening under another name, then renamed over the stale
    file: at the path there is always either the old file or a socket that accepts."""
    path = str(tmp_path / "api.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # what a killed daemon leaves
    stale.close()
    stale_inode = os.lstat(path).st_ino
    sock = bind_unix_socket(path, group="swarmlet-test-no-such-group")
    try:
        assert os.lstat(path).st_ino != stale_inode
        assert sorted(os.listdir(tmp_path)) == ["api.sock"]  # nothing left under another name
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
    finally:
        sock.close()


class GatedDaemon(DaemonProcess):
    """A daemon whose swarm resume waits until a gate file exists: the start-up window held
    open for as long as the test needs it."""

    def __init__(self):
        super().__init__()
        self.gate = os.path.join(self.base, "gate")

    def command(self, log_level: str = "info", foreground: bool = True) -> list[str]:
        code = (
            "import os, sys, trio\n"
            "import swarmlet.node.swarm as swarm\n"
            "resume = swarm.SwarmNode.resume\n"
            "async def gated(self):\n"
            f"    while not os.path.exists({self.gate!r}):\n"
            "        await trio.sleep(0.05)\n"
            "    await resume(self)\n"
            "swarm.SwarmNode.resume = gated\n"
            "from swarmlet.daemon import run\n"
            f"sys.exit(run({self.data_dir!r}, {self.host!r}, {log_level!r}))\n"
        )
        return [*self.launcher, "-c", code]


def test_the_socket_answers_while_the_daemon_starts_and_requests_wait_for_it():
    import threading

    daemon = GatedDaemon()
    try:
        daemon.start()  # returns once /_ping answers: the node is still resuming
        assert "daemon ready" not in daemon.output()
        answers = []
        asking = threading.Thread(target=lambda: answers.append(daemon.client().get("/info")))
        asking.start()
        Path(daemon.gate).touch()
        asking.join(60)
        assert answers and answers[0]["Swarm"]["LocalNodeState"] == "inactive"
        assert "daemon ready" in daemon.output()
    finally:
        daemon.cleanup()
