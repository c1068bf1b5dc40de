"""Every command that talks to the daemon says docker's one line when none runs, exit 1."""

import subprocess
import sys

import pytest

from swarmlet.cli.main import main

COMMANDS = [
    "swarm init", "swarm join --token T 10.0.0.1:2377", "swarm join-token worker",
    "swarm leave", "swarm update --task-history-limit 3", "swarm inspect", "swarm unlock-key",
    "swarm ca", "init", "join 10.0.0.1:2377", "leave -f", "node ls", "node inspect self",
    "node promote n1", "node demote n1", "node rm n1", "node update --availability drain n1",
    "node ps", "node tasks n1", "node accept n1", "service create busybox",
    "service inspect web", "service ls", "service ps web", "service tasks web",
    "service rm web", "service scale web=3", "service update --image busybox:v2 web",
    "service rollback web", "service logs web", "stack ls", "stack ps s", "stack rm s",
    "stack services s", "network create n", "network ls", "network inspect n",
    "network rm n", "secret ls", "secret inspect s", "secret rm s", "config ls",
    "config inspect c", "config rm c", "version", "info",
]  # fmt: skip


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    host = f"unix://{tmp_path}/absent.sock"
    monkeypatch.setenv("SWARMLET_HOST", host)
    monkeypatch.setenv("SWARMLET_NO_AUTOSTART", "1")
    return host


@pytest.mark.parametrize("command", COMMANDS)
def test_command_without_daemon(command, nowhere, capsys):
    assert main(command.split()) == 1
    err = capsys.readouterr().err
    assert err.strip().endswith(
        f"Cannot connect to the swarmlet daemon at {nowhere}: is it running?"
    )


def test_dash_H_chooses_the_socket(tmp_path, capsys):
    host = f"unix://{tmp_path}/other.sock"
    assert main(["-H", host, "service", "ls"]) == 1
    assert host in capsys.readouterr().err


def test_secret_create_reads_file_before_connecting(nowhere, tmp_path, capsys):
    f = tmp_path / "s.txt"
    f.write_text("pw")
    assert main(["secret", "create", "s", str(f)]) == 1
    assert "Cannot connect" in capsys.readouterr().err


def test_init_reports_a_daemon_that_fails_to_start(monkeypatch, tmp_path, capsys):
    from swarmlet.cli import autostart

    host = f"unix://{tmp_path}/absent.sock"
    monkeypatch.setenv("SWARMLET_HOST", host)
    monkeypatch.delenv("SWARMLET_NO_AUTOSTART", raising=False)
    monkeypatch.setattr(
        autostart,
        "daemon_command",
        lambda: [sys.executable, "-c", "import sys; sys.stderr.write('no lock'); sys.exit(3)"],
    )
    assert main(["swarm", "init", "--advertise-addr", "127.0.0.1"]) == 1
    err = capsys.readouterr().err
    assert f"Cannot connect to the swarmlet daemon at {host}: is it running?" in err
    assert "starting one failed (exit 3): no lock" in err


def test_real_process_exit_code(nowhere):
    proc = subprocess.run(
        [sys.executable, "-m", "swarmlet", "service", "ls"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr == f"Cannot connect to the swarmlet daemon at {nowhere}: is it running?\n"


def test_unsupported_host_scheme_is_one_line(capsys):
    assert main(["-H", "tcp://10.0.0.1:2375", "node", "ls"]) == 1
    assert capsys.readouterr().err == (
        "unsupported daemon address 'tcp://10.0.0.1:2375': expected unix:///path\n"
    )
