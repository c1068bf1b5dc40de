"""`service logs`: the log stream format (stdcopy, details, query rules), the worker's chunks,
the command line's prefixes and flags, and the manager's merge over real wire sessions."""

import contextlib

import pytest
import trio

from swarmlet.api.logstream import (
    NODE_KEY,
    SERVICE_KEY,
    TASK_KEY,
    Demuxer,
    LogOptionError,
    LogOptions,
    decode_details,
    encode_details,
    frame,
    log_line,
    log_options,
    parse_line,
    split_engine_line,
)
from swarmlet.api.router import ApiError, Request
from swarmlet.api.routes_services import request_log_options
from swarmlet.cli import logs as cli_logs
from swarmlet.cli.common import CLIError
from swarmlet.manager.logs import LogMerger, has_run
from swarmlet.node.streams import local_stream
from swarmlet.wire.mux import RemoteError, Router
from swarmlet.wire.peers import Transport
from swarmlet.worker import logs as worker_logs

from .wire_fixtures import TestCluster

ATTRS = {NODE_KEY: "n1", SERVICE_KEY: "s1", TASK_KEY: "t1"}
STAMP = "2026-11-27T20:00:00.123456789Z"


# -- stdcopy ----------------------------------------------------------------------------------
def test_frames_decode_whatever_pieces_they_arrive_in():
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"")
    for cut in range(len(data) + 1):
        demux = Demuxer()
        got = demux.feed(data[:cut]) + demux.feed(data[cut:])
        assert got == [(1, b"out\n"), (2, b"err\n"), (1, b"")]
        assert demux.rest() == b""
    demux = Demuxer()
    assert demux.feed(frame(2, b"abc")[:-1]) == []
    assert demux.rest() == frame(2, b"abc")[:-1]


def test_a_raw_stream_passes_as_stdout():
    demux = Demuxer()
    assert demux.feed(b"hello") == []  # under a header: not known yet
    assert demux.feed(b" world\n") == [(1, b"hello world\n")]
    assert demux.feed(b"more") == [(1, b"more")]


# -- lines --------------------------------------------------------------------------------------
def test_details_are_dockers_sorted_escaped_pairs():
    attrs = {"b": "x y", "a": "1,2=3", TASK_KEY: "t"}
    text = encode_details(attrs)
    assert text == "a=1%2C2%3D3,b=x+y,com.docker.swarm.task.id=t"
    assert decode_details(text) == attrs
    with pytest.raises(ValueError):
        decode_details("novalue")


def test_line_layout_timestamp_then_details_then_text():
    assert log_line(b"hi\n", STAMP, ATTRS, timestamps=False, details=False) == b"hi\n"
    line = log_line(b"hi there\n", STAMP, ATTRS, timestamps=True, details=True)
    assert line == (STAMP + " " + encode_details(ATTRS) + " hi there\n").encode()
    parsed = parse_line(line, timestamps=True)
    assert (parsed.timestamp, parsed.details, parsed.text) == (STAMP, ATTRS, b"hi there\n")
    parsed = parse_line(log_line(b"x y\n", STAMP, ATTRS, timestamps=False, details=True),
                        timestamps=False)  # fmt: skip
    assert (parsed.timestamp, parsed.text) == ("", b"x y\n")
    with pytest.raises(ValueError):
        parse_line(b"Error grabbing logs: node gone\n", timestamps=False)
    assert split_engine_line(f"{STAMP} a b\n".encode()) == (STAMP, b"a b\n")


def test_query_rules_are_dockers():
    assert log_options(True, False, True, False, False, None, None) == LogOptions(
        stderr=False, follow=True
    )
    with pytest.raises(LogOptionError, match="you must choose at least one stream"):
        log_options(False, False, False, False, False, "all", "")
    with pytest.raises(LogOptionError, match='tail value must be a positive integer or "all"'):
        log_options(True, True, False, False, False, "ten", "")
    with pytest.raises(LogOptionError, match="negative tail values not supported"):
        log_options(True, True, False, False, False, "-1", "")
    with pytest.raises(LogOptionError, match="could not parse since"):
        log_options(True, True, False, False, False, "all", "yesterday")
    opts = log_options(True, True, False, True, True, "5", "1700000000.5")
    assert (opts.tail, opts.since, opts.timestamps, opts.details) == ("5", "1700000000.5", 1, 1)


def test_query_errors_answer_400():
    req = Request("GET", "/services/x/logs", {"stdout": ["1"], "tail": ["-3"]})
    with pytest.raises(ApiError) as info:
        request_log_options(req)
    assert (info.value.status, info.value.message) == (400, "negative tail values not supported")
    req = Request("GET", "/services/x/logs", {"stderr": ["true"], "follow": ["1"]})
    assert request_log_options(req) == LogOptions(stdout=False, follow=True)


# -- worker -------------------------------------------------------------------------------------
def test_engine_frames_become_bounded_chunks():
    frames = [(1, f"{STAMP} line {i}\n".encode()) for i in range(5)] + [(2, b"nostamp")]
    chunks = worker_logs.batches(frames, limit=20)
    assert [len(c) for c in chunks] == [2, 2, 2]
    assert chunks[0][0] == [1, STAMP, b"line 0\n"]
    assert chunks[-1][-1] == [2, "", b"nostamp"]
    for chunk in chunks:
        assert worker_logs.chunk_entries(chunk) == [tuple(e) for e in chunk]


def test_chunks_from_a_worker_are_checked():
    for bad in ({"x": 1}, [[3, STAMP, b"x"]], [[1, STAMP, "text"]], [[True, STAMP, b"x"]],
                [[1, STAMP]], [[1, "x" * 65, b"x"]]):  # fmt: skip
        with pytest.raises(ValueError):
            worker_logs.chunk_entries(bad)


def test_engine_request_and_address():
    body = {"task": "t", "follow": True, "tail": "3", "since": "17.5", "stdout": True,
            "stderr": False}  # fmt: skip
    target = worker_logs.logs_target("abc", body)
    assert target == (
        "/v1.41/containers/abc/logs?stdout=1&stderr=0&follow=1&timestamps=1&tail=3&since=17.5"
    )
    assert worker_logs.engine_address(None) == ("unix", "/var/run/docker.sock")
    assert worker_logs.engine_address("unix:///x/d.sock") == ("unix", "/x/d.sock")
    assert worker_logs.engine_address("tcp://10.0.0.1:2375") == ("tcp", ("10.0.0.1", 2375))
    with pytest.raises(worker_logs.EngineError):
        worker_logs.engine_address("ssh://host")


async def fake_engine(path, status, chunks, *, task_status=trio.TASK_STATUS_IGNORED):
    """A unix-socket HTTP server answering one request with `chunks` as chunked body."""
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(path)
    sock.listen()
    listener = trio.SocketListener(sock)
    task_status.started()
    stream = await listener.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        request += await stream.receive_some(4096)
    head = f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    await stream.send_all(head + body)
    await stream.aclose()
    return request


@pytest.mark.anyio
async def test_engine_lines_of_one_read_go_as_one_chunk(tmp_path):
    path = str(tmp_path / "engine.sock")
    lines = [frame(1 + i % 2, f"{STAMP} line {i}\n".encode()) for i in range(300)]
    body = {"task": "t", "follow": False, "tail": "all", "since": "", "stdout": True,
            "stderr": True}  # fmt: skip
    sent = []

    async def send(chunk):
        sent.append(chunk)

    async with trio.open_nursery() as nursery:
        await nursery.start(fake_engine, path, 200, lines)  # an HTTP chunk per line
        with trio.fail_after(10):
            count = await worker_logs.engine_logs(("unix", path), "cid", body, send)
    assert count == 300 and len(sent) < 10
    entries = [e for chunk in sent for e in worker_logs.chunk_entries(chunk)]
    assert entries == [(1 + i % 2, STAMP, f"line {i}\n".encode()) for i in range(300)]
    async with trio.open_nursery() as nursery:
        await nursery.start(fake_engine, path + "2", 404, [b'{"message":"No such container"}'])
        with pytest.raises(worker_logs.EngineError, match="No such container"):
            await worker_logs.engine_logs(("unix", path + "2"), "cid", body, send)


def test_tty_output_is_cut_into_lines():
    lines = worker_logs._Lines()
    assert lines.split([(1, b"a\nb")]) == [(1, b"a\n")]
    assert lines.split([(1, b"c\n")]) == [(1, b"bc\n")]
    assert lines.split([(1, b"d")]) == [] and lines.end() == [(1, b"d")]


# -- command line -------------------------------------------------------------------------------
def test_since_forms():
    now = 1_800_000_000.0
    assert cli_logs.since_timestamp(None) is None
    assert cli_logs.since_timestamp("1700000000.25") == "1700000000.25"
    assert cli_logs.since_timestamp("42m", now) == str(int(now - 42 * 60))
    assert cli_logs.since_timestamp("1h30m", now) == str(int(now - 5400))
    assert cli_logs.since_timestamp("2013-01-02T13:23:37Z") == "1357133017.000000000"
    assert cli_logs.since_timestamp("2013-01-02T13:23:37.5+01:00") == "1357129417.500000000"
    with pytest.raises(CLIError, match='invalid value for "since"'):
        cli_logs.since_timestamp("last tuesday")
    assert cli_logs.go_duration("1.5s") == 1.5 and cli_logs.go_duration("5x") is None


def test_prefix_is_dockers():
    label = cli_logs.task_label("web", 3, "node", "abcdefghijklmnopqrstuvwxy", ids=True, trunc=True)
    assert label == "web.3.abcdefghijkl"
    assert cli_logs.task_label("web", 3, "n", "abc", ids=False, trunc=True) == "web.3"
    assert cli_logs.task_label("web", 0, "nodeid", "abc", ids=True, trunc=False) == "web.nodeid.abc"
    assert cli_logs.prefix("web.3", "node1", 3, cli_logs.pad_width(12)) == "web.3@node1     | "
    assert cli_logs.prefix("web.10", "node1", 10, 2) == "web.10@node1    | "


OBJECTS = {
    ("nodes", "n1"): {"Description": {"Hostname": "node1"}},
    ("services", "s1"): {"Spec": {"Name": "web"}},
    ("tasks", "t1"): {"Slot": 2},
}


def test_formatter_turns_details_into_the_prefix():
    asked = []

    def lookup(kind, obj_id):
        asked.append((kind, obj_id))
        return OBJECTS.get((kind, obj_id))

    fmt = cli_logs.LineFormatter(lookup, timestamps=True)
    line = log_line(b"hello\n", STAMP, ATTRS, timestamps=True, details=True)
    assert fmt.format(line) == f"{STAMP} web.2.t1@node1    | hello\n".encode()
    fmt.format(line)
    assert len(asked) == 3  # looked up once per task
    assert fmt.format(b"Error grabbing logs: x\n") == b"Error grabbing logs: x\n"
    fmt = cli_logs.LineFormatter(lookup, timestamps=False, task_ids=False, details=True, width=2)
    extra = {**ATTRS, "env": "prod"}
    line = log_line(b"hi\n", STAMP, extra, timestamps=False, details=True)
    assert fmt.format(line) == b"web.2@node1     | env=prod hi\n"
    fmt = cli_logs.LineFormatter(lambda kind, i: None, timestamps=False)  # --no-resolve
    line = log_line(b"hi\n", STAMP, ATTRS, timestamps=False, details=True)
    assert fmt.format(line) == b"s1.n1.t1@n1    | hi\n"


class FakeApi:
    def __init__(self, objects, body=b""):
        self.objects = objects
        self.body = body
        self.timeout = 300.0
        self.streamed = []

    def get(self, path, **query):
        from swarmlet.api.client import APIError

        if path not in self.objects:
            raise APIError(404, "not found")
        return self.objects[path]

    def stream(self, method, path, query):
        self.streamed.append((path, query))
        yield self.body


def run_logs(monkeypatch, api, *argv):
    from swarmlet.cli.main import build_parser

    monkeypatch.setattr(cli_logs, "client", lambda args: api)
    args = build_parser(["service", "logs", *argv]).parse_args(["service", "logs", *argv])
    return args.func(args)


def test_logs_command_writes_each_stream_apart(monkeypatch, capfd):
    service = {"ID": "s1", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 3}}}}
    body = frame(1, log_line(b"out\n", STAMP, ATTRS, timestamps=False, details=True))
    body += frame(2, log_line(b"err\n", STAMP, ATTRS, timestamps=False, details=True))
    body += frame(2, b"Error grabbing logs: task x on node y is not available: it is down\n")
    api = FakeApi({"/services/web": service, "/nodes/n1": OBJECTS[("nodes", "n1")],
                   "/services/s1": service, "/tasks/t1": {"Slot": 2}}, body)  # fmt: skip
    assert run_logs(monkeypatch, api, "-f", "--tail", "1", "web") == 0
    out, err = capfd.readouterr()
    assert out == "web.2.t1@node1    | out\n"
    assert (
        err
        == "web.2.t1@node1    | err\nError grabbing logs: task x on node y is not available: it is down\n"
    )
    path, query = api.streamed[0]
    assert path == "/services/s1/logs" and api.timeout is None
    assert (query["follow"], query["tail"], query["details"]) == ("1", "1", "1")


def test_a_stream_cut_short_is_an_error(monkeypatch, capfd):
    import http.client

    class Broken(FakeApi):
        def stream(self, method, path, query):
            yield frame(1, b"partial")
            raise http.client.IncompleteRead(b"")

    api = Broken({"/tasks/t1": {"ID": "t1", "Slot": 1}})
    with pytest.raises(CLIError, match="error from daemon in stream: IncompleteRead"):
        run_logs(monkeypatch, api, "--raw", "t1")
    assert capfd.readouterr().out == "partial"


def test_logs_command_falls_back_to_a_task_and_refuses_tty(monkeypatch, capfd):
    task = {"ID": "t1", "Slot": 2, "Spec": {"ContainerSpec": {"TTY": True}}}
    api = FakeApi({"/tasks/t1": task}, b"raw tty text\n")
    with pytest.raises(CLIError, match="tty service logs only supported with --raw"):
        run_logs(monkeypatch, api, "t1")
    assert run_logs(monkeypatch, api, "--raw", "t1") == 0
    assert capfd.readouterr().out == "raw tty text\n"
    assert api.streamed[0][0] == "/tasks/t1/logs" and "details" not in {
        k for k, v in api.streamed[0][1].items() if v
    }
    with pytest.raises(CLIError, match="no such task or service: nothing"):
        run_logs(monkeypatch, FakeApi({}), "nothing")


# -- the manager's merge, over real sessions ------------------------------------------------------
class FakeStore:
    def __init__(self, objects):
        self.objects = objects

    def get(self, kind, obj_id):
        return self.objects.get((kind, obj_id))


def task(task_id, node_id, state="running"):
    return {"ID": task_id, "ServiceID": "s1", "NodeID": node_id, "Slot": 1,
            "Status": {"State": state}}  # fmt: skip


async def worker_pair(nursery, handler):
    """A manager transport and a worker transport serving `logs.task` with `handler`."""
    cl = TestCluster()
    router = Router()
    router.stream(worker_logs.ROUTE, worker_logs.REQUEST, handler, roles={"manager"})
    worker = Transport(cl.creds("worker"), router, listen=("127.0.0.1", 0))
    port = await nursery.start(worker.run)
    manager = Transport(cl.creds("manager"), Router())
    await nursery.start(manager.run)
    return manager, worker, f"127.0.0.1:{port}"


def stream_opener(manager, addr, *, check_node=False):
    """`open_stream` for a LogMerger: a stream to the worker at `addr`, over `manager`."""

    @contextlib.asynccontextmanager
    async def open_stream(node_id, route, body):
        conn = await manager.connection(addr)
        if check_node:
            assert conn.peer.node_id == node_id
        async with conn.stream(route, body) as chunks:
            yield chunks

    return open_stream


def store_for(worker_id):
    return FakeStore({
        ("node", worker_id): {"ID": worker_id, "Status": {"State": "ready"},
                              "Description": {"Hostname": "node2"}},
        ("node", "gone"): {"ID": "gone", "Status": {"State": "down"},
                           "Description": {"Hostname": "node3"}},
        ("service", "s1"): {"ID": "s1", "Spec": {"Name": "web"}},
    })  # fmt: skip


async def collect(merger, limit=None):
    send, recv = trio.open_memory_channel(100)
    out = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(merger.run, send)
        async with recv:
            async for data in recv:
                out.extend(Demuxer().feed(data))
                if limit is not None and len(out) >= limit:
                    break
        nursery.cancel_scope.cancel()
    return out


@pytest.mark.anyio
async def test_merge_relays_lines_and_reports_a_down_node():
    async def handler(peer, body, out):
        assert body["tail"] == "2" and not body["follow"]
        await out.send([[1, STAMP, b"one\n"], [2, STAMP, b"two\n"]])

    async with trio.open_nursery() as nursery:
        manager, worker, addr = await worker_pair(nursery, handler)
        wid = worker.creds.identity.node_id
        open_stream = stream_opener(manager, addr, check_node=True)

        tasks = [task("t1", wid), task("t2", "gone"), task("t3", wid, state="pending")]
        opts = LogOptions(tail="2", timestamps=True, details=True)
        merger = LogMerger(store_for(wid), open_stream, opts, lambda: tasks)
        with trio.fail_after(10):
            out = await collect(merger)
        attrs = {NODE_KEY: wid, SERVICE_KEY: "s1", TASK_KEY: "t1"}
        assert sorted(out) == sorted([
            (1, log_line(b"one\n", STAMP, attrs, timestamps=True, details=True)),
            (2, log_line(b"two\n", STAMP, attrs, timestamps=True, details=True)),
            (2, b"Error grabbing logs: task web.1.t2 on node node3 is not available: "
                b"it is down\n"),
        ])  # fmt: skip
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_leaving_a_followed_stream_cancels_the_worker():
    stopped = trio.Event()

    async def handler(peer, body, out):
        try:
            i = 0
            while True:
                await out.send([[1, STAMP, f"tick {i}\n".encode()]])
                i += 1
                await trio.sleep(0.01)
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        manager, worker, addr = await worker_pair(nursery, handler)
        wid = worker.creds.identity.node_id
        open_stream = stream_opener(manager, addr)

        merger = LogMerger(store_for(wid), open_stream, LogOptions(follow=True),
                           lambda: [task("t1", wid)])  # fmt: skip
        with trio.fail_after(10):
            out = await collect(merger, limit=5)
            assert [p for _, p in out] == [f"tick {i}\n".encode() for i in range(5)]
            await stopped.wait()  # the worker's handler was cancelled
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_followed_service_picks_up_tasks_that_start_later():
    async def handler(peer, body, out):
        await out.send([[1, STAMP, f"from {body['task']}\n".encode()]])
        await trio.sleep_forever()  # a followed container that says nothing more

    async with trio.open_nursery() as nursery:
        manager, worker, addr = await worker_pair(nursery, handler)
        wid = worker.creds.identity.node_id
        open_stream = stream_opener(manager, addr)

        tasks = [task("t1", wid), task("t2", wid, state="starting")]
        merger = LogMerger(store_for(wid), open_stream, LogOptions(follow=True), lambda: tasks)
        send, recv = trio.open_memory_channel(100)
        nursery.start_soon(merger.run, send)
        with trio.fail_after(10):
            assert (await recv.receive()).endswith(b"from t1\n")
            tasks[1] = task("t2", wid, state="running")  # it started: its log joins
            assert (await recv.receive()).endswith(b"from t2\n")
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_node_is_reached_by_id_dialed_at_its_address_or_served_here():
    from types import SimpleNamespace

    from swarmlet.node.streams import node_stream
    from swarmlet.wire.mux import Unavailable

    async def handler(peer, body, out):
        await out.send([[1, STAMP, f"{body['task']} via {peer and peer.role}\n".encode()]])

    body = {"task": "t1", "follow": False, "tail": "all", "since": "", "stdout": True,
            "stderr": True}  # fmt: skip

    async def read(swarm, node_id):
        async with node_stream(swarm, node_id, worker_logs.ROUTE, body) as chunks:
            return [entry[2] async for chunk in chunks for entry in chunk]

    async with trio.open_nursery() as nursery:
        manager, worker, addr = await worker_pair(nursery, handler)
        wid = worker.creds.identity.node_id
        port = addr.rpartition(":")[2]
        router = Router()
        router.stream(worker_logs.ROUTE, worker_logs.REQUEST, handler)
        swarm = SimpleNamespace(
            node_id=manager.creds.identity.node_id,
            transport=manager,
            gossip=None,  # no gossip view: the store's address, on this node's port
            manager=SimpleNamespace(
                store=FakeStore({("node", wid): {"Status": {"Addr": "127.0.0.1"}}})
            ),
            settings={"AdvertiseAddr": f"127.0.0.1:{port}"},
            router=router,
        )
        with trio.fail_after(10):
            assert await read(swarm, wid) == [b"t1 via manager\n"]
            assert manager.dials == 1
            assert await read(swarm, swarm.node_id) == [b"t1 via None\n"]  # in-process
            with pytest.raises(Unavailable, match="no address is known"):
                await read(swarm, "unknown")
        nursery.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_in_process_stream_checks_its_body_and_reports_errors():
    router = Router()

    async def handler(peer, body, out):
        await out.send(["a"])
        raise RemoteError("engine", "the engine is gone")

    router.stream(worker_logs.ROUTE, worker_logs.REQUEST, handler)
    route = router.routes[worker_logs.ROUTE]
    body = {"task": "t", "follow": False, "tail": "all", "since": "", "stdout": True,
            "stderr": True}  # fmt: skip
    got = []
    with pytest.raises(RemoteError, match="the engine is gone"):
        async with local_stream(route, body) as chunks:
            async for chunk in chunks:
                got.append(chunk)
    assert got == [["a"]]
    with pytest.raises(RemoteError, match="invalid"):
        async with local_stream(route, {"task": 1}):
            pass


def test_only_started_tasks_have_logs():
    assert has_run(task("t", "n"))
    assert has_run(task("t", "n", "failed"))
    assert not has_run(task("t", "n", "preparing"))
    assert not has_run(task("t", "", "running"))
