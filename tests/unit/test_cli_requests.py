"""What the commands send and how they render the answers.

The daemon here is a recorder on a real unix socket that answers canned Docker-shaped JSON:
these tests cover the CLI's requests and rendering, not cluster behaviour.
"""

import http.server
import json
import socketserver
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from swarmlet.cli.main import main

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Durations are rendered against the time the canned answers were made, however long
    the suite took to reach this test."""
    from swarmlet.cli import format as fmt
    from swarmlet.cli import objects, tasks

    real = fmt.ago
    for module in (fmt, objects, tasks):
        monkeypatch.setattr(module, "ago", lambda text, now=None: real(text, now or NOW))


def stamp(delta):
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


NODES = [
    {
        "ID": "node1aaaaaaaaaaaaaaaaaaaaa",
        "Version": {"Index": 10},
        "Spec": {"Role": "manager", "Availability": "active", "Labels": {}},
        "Description": {"Hostname": "node1", "Engine": {"EngineVersion": "20.10.24"}},
        "Status": {"State": "ready", "Addr": "198.18.1.2"},
        "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "198.18.1.2:2377"},
    },
    {
        "ID": "node2bbbbbbbbbbbbbbbbbbbbb",
        "Version": {"Index": 11},
        "Spec": {"Role": "worker", "Availability": "drain"},
        "Description": {"Hostname": "node2", "Engine": {"EngineVersion": "20.10.24"}},
        "Status": {"State": "down"},
    },
]
SERVICE = {
    "ID": "svc1xxxxxxxxxxxxxxxxxxxxx",
    "Version": {"Index": 42},
    "Spec": {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest@sha256:abc"}},
        "Mode": {"Replicated": {"Replicas": 3}},
        "EndpointSpec": {"Mode": "vip"},
    },
    "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]},
    "ServiceStatus": {"RunningTasks": 2, "DesiredTasks": 3},
}
TASKS = [
    {
        "ID": "task1yyyyyyyyyyyyyyyyyyyy",
        "ServiceID": SERVICE["ID"],
        "Slot": 1,
        "NodeID": NODES[0]["ID"],
        "DesiredState": "running",
        "Spec": {"ContainerSpec": {"Image": "busybox:latest@sha256:abc"}},
        "Status": {"State": "running", "Timestamp": stamp(timedelta(minutes=5, seconds=2))},
    },
    {
        "ID": "task0zzzzzzzzzzzzzzzzzzzz",
        "ServiceID": SERVICE["ID"],
        "Slot": 1,
        "NodeID": NODES[1]["ID"],
        "DesiredState": "shutdown",
        "Spec": {"ContainerSpec": {"Image": "busybox:latest"}},
        "Status": {
            "State": "failed",
            "Err": "task: non-zero exit (1): something rather long went wrong",
            "Timestamp": stamp(timedelta(hours=2)),
        },
    },
]


class Recorder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def daemon(tmp_path, monkeypatch):
    seen = []
    routes = {
        ("GET", "/info"): {
            "Swarm": {
                "NodeID": NODES[0]["ID"],
                "LocalNodeState": "active",
                "RemoteManagers": [{"NodeID": NODES[0]["ID"], "Addr": "198.18.1.2:2377"}],
            }
        },
        ("GET", "/nodes"): NODES,
        ("GET", f"/nodes/{NODES[0]['ID']}"): NODES[0],
        ("GET", "/nodes/node2"): NODES[1],
        ("POST", f"/nodes/{NODES[1]['ID']}/update"): None,
        ("GET", "/services"): [SERVICE],
        ("GET", "/services/web"): SERVICE,
        ("POST", "/services/create"): {"ID": "newserviceid"},
        ("POST", f"/services/{SERVICE['ID']}/update"): {"Warnings": []},
        ("GET", "/tasks"): TASKS,
        ("GET", "/version"): {
            "Version": "0.1.0",
            "ApiVersion": "1.41",
            "MinAPIVersion": "1.12",
            "Os": "linux",
            "Arch": "amd64",
        },
        ("DELETE", "/services/web"): None,
        ("GET", "/services/ghost"): (404, {"message": "service ghost not found"}),
        ("GET", "/secrets"): [{"ID": "sec1", "Spec": {"Name": "pw"}}],
        ("POST", "/swarm/init"): "node1aaaaaaaaaaaaaaaaaaaaa",
        ("GET", "/swarm"): {
            "JoinTokens": {"Worker": "SWMTKN-1-w", "Manager": "SWMTKN-1-m"},
            "Version": {"Index": 7},
            "Spec": {},
        },
        ("POST", "/swarm/update"): None,
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            query = dict(urllib.parse.parse_qsl(url.query))
            seen.append((self.command, url.path, query, body))
            answer = routes.get((self.command, url.path), (501, {"message": "not implemented yet"}))
            status = 200
            if isinstance(answer, tuple):
                status, answer = answer
            data = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

    path = str(tmp_path / "d.sock")
    server = Recorder(path, Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("SWARMLET_HOST", f"unix://{path}")
    yield seen
    server.shutdown()
    server.server_close()


def test_node_ls_table(daemon, capsys):
    assert main(["node", "ls"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ID                             HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION",
        "node1aaaaaaaaaaaaaaaaaaaaa *   node1      Ready     Active         Leader           20.10.24",
        "node2bbbbbbbbbbbbbbbbbbbbb     node2      Down      Drain                           20.10.24",
    ]


def test_node_ls_quiet_and_format(daemon, capsys):
    assert main(["node", "ls", "-q"]) == 0
    assert capsys.readouterr().out.split() == [NODES[0]["ID"], NODES[1]["ID"]]
    assert main(["node", "ls", "--format", "{{.Hostname}} {{.Self}} {{.ManagerStatus}}"]) == 0
    assert capsys.readouterr().out == "node1 true Leader\nnode2 false \n"


def test_node_ls_sends_filters(daemon, capsys):
    assert main(["node", "ls", "-f", "role=manager", "-f", "role=worker"]) == 0
    method, path, query, _ = daemon[0]
    assert (method, path) == ("GET", "/nodes")
    assert json.loads(query["filters"]) == {"role": {"manager": True, "worker": True}}


def test_service_ls(daemon, capsys):
    assert main(["service", "ls"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ID             NAME      MODE         REPLICAS   IMAGE            PORTS",
        "svc1xxxxxxxx   web       replicated   2/3        busybox:latest   *:8080->80/tcp",
    ]
    assert daemon[0][2]["status"] == "true"


def test_service_ls_json(daemon, capsys):
    assert main(["service", "ls", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {
        "ID": "svc1xxxxxxxx",
        "Name": "web",
        "Mode": "replicated",
        "Replicas": "2/3",
        "Image": "busybox:latest",
        "Ports": "*:8080->80/tcp",
    }


def test_service_ps(daemon, capsys):
    assert main(["service", "ps", "web"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("   ")[0] == "ID"
    assert "DESIRED STATE" in lines[0] and "CURRENT STATE" in lines[0]
    assert lines[1].startswith("task1yyyyyyy   web.1 ")
    assert "Running   " in lines[1] and "Running 5 minutes ago" in lines[1]
    assert " \\_ web.1 " in lines[2]
    assert "Failed 2 hours ago" in lines[2]
    assert '"task: non-zero exit (1): some…"' in lines[2]
    tasks_query = [q for m, p, q, _ in daemon if p == "/tasks"][0]
    assert json.loads(tasks_query["filters"]) == {"service": {SERVICE["ID"]: True}}


def test_service_inspect_format(daemon, capsys):
    assert (
        main(
            [
                "service",
                "inspect",
                "-f",
                "{{.Spec.Name}} {{.Spec.TaskTemplate.ContainerSpec.ReadOnly}}",
                "web",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "web false\n"


def test_service_create_sends_spec_and_prints_id(daemon, capsys):
    assert (
        main(
            [
                "service",
                "create",
                "--name",
                "web",
                "--replicas",
                "2",
                "--secret",
                "pw",
                "-d",
                "busybox",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "newserviceid\n"
    method, path, _, body = daemon[-1]
    assert (method, path) == ("POST", "/services/create")
    assert body["Mode"] == {"Replicated": {"Replicas": 2}}
    assert body["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == "sec1"


def test_service_scale_updates_with_version(daemon, capsys):
    assert main(["service", "scale", "web=5"]) == 0
    assert capsys.readouterr().out == "web scaled to 5\n"
    method, path, query, body = daemon[-1]
    assert (method, path, query["version"]) == ("POST", f"/services/{SERVICE['ID']}/update", "42")
    assert body["Mode"]["Replicated"]["Replicas"] == 5


def test_service_update_and_rollback(daemon, capsys):
    assert main(["service", "update", "--image", "busybox:v2", "-d", "web"]) == 0
    body = daemon[-1][3]
    assert body["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:v2"
    assert main(["service", "rollback", "-d", "web"]) == 0
    assert daemon[-1][2]["rollback"] == "previous"
    assert capsys.readouterr().out == "web\nweb\n"


def test_node_update_availability(daemon, capsys):
    assert (
        main(["node", "update", "--availability", "active", "--label-add", "zone=a", "node2"]) == 0
    )
    method, path, query, body = daemon[-1]
    assert path == f"/nodes/{NODES[1]['ID']}/update" and query["version"] == "11"
    assert body["Availability"] == "active" and body["Labels"] == {"zone": "a"}


def test_daemon_error_is_one_line(daemon, capsys):
    assert main(["service", "inspect", "ghost"]) == 1
    assert capsys.readouterr().err == "Error response from daemon: service ghost not found\n"


def test_not_implemented_answer_is_one_line(daemon, capsys):
    assert main(["swarm", "unlock-key"]) == 1
    assert capsys.readouterr().err == "Error response from daemon: not implemented yet\n"


def test_version_prints_client_and_server(daemon, capsys):
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Client:\n Version:")
    assert "\nServer:\n Engine:\n  Version:          0.1.0\n" in out
    assert "  API version:      1.41 (minimum version 1.12)\n" in out


def test_service_rm(daemon, capsys):
    assert main(["service", "rm", "web"]) == 0
    assert capsys.readouterr().out == "web\n"
    assert daemon[-1][:2] == ("DELETE", "/services/web")


def test_init_prints_the_join_command(daemon, capsys):
    assert main(["init", "--advertise-addr", "198.18.1.2", "--task-history-limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "Swarm initialized: current node (node1aaaaaaaaaaaaaaaaaaaaa) is now a manager."
    )
    assert "    swarmlet swarm join --token SWMTKN-1-w 198.18.1.2:2377\n" in out
    init = [b for m, p, q, b in daemon if p == "/swarm/init"][0]
    assert init["AdvertiseAddr"] == "198.18.1.2" and init["ListenAddr"] == "0.0.0.0:2377"
    assert init["Spec"] == {"Orchestration": {"TaskHistoryRetentionLimit": 2}}


def test_join_token_quiet_and_rotate(daemon, capsys):
    assert main(["swarm", "join-token", "-q", "manager"]) == 0
    assert capsys.readouterr().out == "SWMTKN-1-m\n"
    assert main(["swarm", "join-token", "--rotate", "-q", "worker"]) == 0
    rotate = [q for m, p, q, b in daemon if p == "/swarm/update"][0]
    assert rotate == {"version": "7", "rotateWorkerToken": "true"}


def test_version_format(daemon, capsys):
    assert main(["version", "--format", "{{.Server.Version}} {{.Client.ApiVersion}}"]) == 0
    assert capsys.readouterr().out == "0.1.0 1.41\n"


def test_logs_demultiplexing():
    from swarmlet.api.logstream import Demuxer

    framed = b"\x01\0\0\0\0\0\0\x03out" + b"\x02\0\0\0\0\0\0\x03err"
    demux = Demuxer()
    assert demux.feed(framed[:5]) + demux.feed(framed[5:]) == [(1, b"out"), (2, b"err")]
    assert Demuxer().feed(b"plain text\n") == [(1, b"plain text\n")]


def test_info_has_a_swarm_section(daemon, capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert " Swarm: active\n" in out
    assert f"  NodeID: {NODES[0]['ID']}\n" in out
    assert "  Manager Addresses:\n   198.18.1.2:2377\n" in out


def test_node_ps_defaults_to_self(daemon, capsys):
    assert main(["node", "ps", "-q"]) == 0
    query = [q for m, p, q, _ in daemon if p == "/tasks"][0]
    assert json.loads(query["filters"]) == {"node": {NODES[0]["ID"]: True}}
    assert capsys.readouterr().out.split() == ["task1yyyyyyy", "task0zzzzzzz"]
