"""The local API: router, HTTP machinery (in process), and the daemon's answers over its socket."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest
import trio
import trio.testing

from swarmlet import __version__
from swarmlet.api.client import APIError, Client
from swarmlet.api.router import (
    ApiError,
    Request,
    Router,
    StreamResponse,
    check_api_version,
    split_api_version,
)
from swarmlet.api.routes import SWARM_ROUTES, build_router
from swarmlet.api.server import MAX_BODY_BYTES, ApiServer
from tests.unit.daemon_process import DaemonProcess

# --- router -------------------------------------------------------------------------------


def test_router_extracts_params_and_prefers_literal_segments():
    router = Router()
    router.add("GET", "/services/{id}", lambda r, p: ("inspect", p))
    router.add("POST", "/services/create", lambda r, p: ("create", p))
    router.add("POST", "/services/{id}/update", lambda r, p: ("update", p))
    router.add("POST", "/things/{id}", lambda r, p: ("param", p))
    router.add("POST", "/things/special", lambda r, p: ("literal", p))
    handler, params = router.match("GET", "/services/web")
    assert handler(None, params) == ("inspect", {"id": "web"})
    handler, params = router.match("POST", "/services/create")
    assert handler(None, params) == ("create", {})
    handler, params = router.match("POST", "/services/a%20b/update")
    assert handler(None, params) == ("update", {"id": "a b"})
    handler, params = router.match("POST", "/things/special")
    assert handler(None, params) == ("literal", {})


def test_router_unknown_path_is_404_and_wrong_method_405():
    router = build_router()
    with pytest.raises(ApiError) as excinfo:
        router.match("GET", "/no/such/path")
    assert (excinfo.value.status, excinfo.value.message) == (404, "page not found")
    with pytest.raises(ApiError) as excinfo:
        router.match("PUT", "/services")
    assert excinfo.value.status == 405


def test_router_head_falls_back_to_get():
    router = Router()
    router.add("GET", "/x", lambda r, p: "x")
    handler, _ = router.match("HEAD", "/x")
    assert handler(None, {}) == "x"


def test_registering_again_replaces_the_placeholder():
    router = build_router()
    before = len(router.patterns())
    router.add("POST", "/swarm/init", lambda r, p: {"ok": True})
    assert len(router.patterns()) == before
    handler, _ = router.match("POST", "/swarm/init")
    assert handler(None, {}) == {"ok": True}


def test_version_prefix_is_split_and_checked():
    assert split_api_version("/v1.41/services/x") == ("1.41", "/services/x")
    assert split_api_version("/services") == (None, "/services")
    check_api_version("1.41")
    check_api_version("1.24")
    with pytest.raises(ApiError, match="client version 1.99 is too new"):
        check_api_version("1.99")
    with pytest.raises(ApiError, match="too old"):
        check_api_version("1.5")


def test_filters_accept_both_docker_forms_and_refuse_unknown_keys():
    def req(value):
        return Request("GET", "/services", query={"filters": [json.dumps(value)]})

    assert req({"name": ["web"], "id": ["a", "b"]}).filters() == {"name": ["web"], "id": ["a", "b"]}
    assert req({"name": {"web": True, "db": False}}).filters() == {"name": ["web"]}
    with pytest.raises(ApiError, match="invalid filter 'colour'"):
        req({"colour": ["red"]}).filters(allowed={"name", "id"})
    with pytest.raises(ApiError) as excinfo:
        Request("GET", "/", query={"filters": ["{not json"]}).filters()
    assert excinfo.value.status == 400


def test_request_params_and_json_body():
    r = Request("POST", "/x", query={"force": ["1"], "n": ["3"], "q": ["a", "b"]}, body=b'{"A": 1}')
    assert r.param("q") == "b"
    assert r.bool_param("force") is True
    assert r.bool_param("missing") is False
    assert r.int_param("n") == 3
    assert r.json() == {"A": 1}
    with pytest.raises(ApiError) as excinfo:
        Request("POST", "/x", body=b"{broken").json()
    assert excinfo.value.status == 400


# --- HTTP machinery in process --------------------------------------------------------------


async def _exchange(router: Router, raw: bytes) -> bytes:
    """Send raw bytes to a server connection and return all it answers until it closes."""
    client, server_side = trio.testing.memory_stream_pair()
    server = ApiServer(router, idle_timeout=5)
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handle_connection, server_side)
        await client.send_all(raw)
        await client.send_eof()
        with trio.fail_after(10):
            while chunk := await client.receive_some(65536):
                received += chunk
    return bytes(received)


@pytest.mark.anyio
async def test_keep_alive_serves_several_requests_on_one_connection():
    raw = (
        b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    answer = await _exchange(build_router(), raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.count(b"Api-Version: 1.41") == 3


@pytest.mark.anyio
async def test_streaming_response_is_chunked():
    async def chunks():
        for i in range(3):
            yield f"line {i}\n".encode()

    router = Router()
    router.add("GET", "/stream", lambda r, p: StreamResponse(chunks(), content_type="text/plain"))
    client, server_side = trio.testing.memory_stream_pair()
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ApiServer(router).handle_connection, server_side)
        await client.send_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.fail_after(10):
            while not received.endswith(b"0\r\n\r\n"):
                received += await client.receive_some(65536)
        await client.aclose()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"line 0\n" in body and b"line 2\n" in body


@pytest.mark.anyio
async def test_stream_stops_when_the_client_hangs_up():
    closed = trio.Event()

    async def follow():
        try:
            yield b"first\n"
            await trio.sleep_forever()  # a follow-mode stream with nothing more to say
        finally:
            closed.set()

    router = Router()
    router.add("GET", "/follow", lambda r, p: StreamResponse(follow()))
    client, server_side = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ApiServer(router).handle_connection, server_side)
        await client.send_all(b"GET /follow HTTP/1.1\r\nHost: x\r\n\r\n")
        received = bytearray()
        with trio.fail_after(10):
            while b"first" not in received:
                received += await client.receive_some(65536)
            await client.aclose()
            await closed.wait()


@pytest.mark.anyio
async def test_a_producer_with_tasks_of_its_own_is_cancelled_when_the_client_hangs_up():
    stopped = trio.Event()

    async def ticker(send):
        try:
            for i in range(10**9):
                await send.send(f"tick {i}\n".encode())
                await trio.sleep(0.01)
        finally:
            stopped.set()

    @trio.as_safe_channel
    async def ticks():
        send, recv = trio.open_memory_channel(0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker, send)
            async for data in recv:
                yield data

    router = Router()
    router.add("GET", "/ticks", lambda r, p: StreamResponse(ticks()))
    client, server_side = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ApiServer(router).handle_connection, server_side)
        await client.send_all(b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n")
        received = bytearray()
        with trio.fail_after(10):
            while b"tick 3" not in received:
                received += await client.receive_some(65536)
            await client.aclose()
            await stopped.wait()


@pytest.mark.anyio
async def test_failing_handler_is_500_and_connection_goes_on():
    router = Router()

    def broken(request, params):
        raise RuntimeError("boom")

    router.add("GET", "/broken", broken)
    router.add("GET", "/ok", lambda r, p: {"fine": True})
    raw = b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = await _exchange(router, raw)
    assert b"HTTP/1.1 500 Internal Server Error" in answer
    assert b'"message":"internal error: RuntimeError: boom"' in answer
    assert b'{"fine":true}' in answer


@pytest.mark.anyio
async def test_async_handlers_are_awaited():
    router = Router()

    async def slow(request, params):
        await trio.sleep(0)
        return {"id": params["id"]}

    router.add("GET", "/things/{id}", slow)
    answer = await _exchange(router, b"GET /v1.41/things/abc HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b'{"id":"abc"}' in answer


@pytest.mark.anyio
async def test_idle_connection_is_closed():
    client, server_side = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            ApiServer(build_router(), idle_timeout=0.05).handle_connection, server_side
        )
        with trio.fail_after(10):
            assert await client.receive_some(1024) == b""


@pytest.mark.anyio
async def test_body_over_the_cap_is_413():
    raw = (
        b"POST /services/create HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(MAX_BODY_BYTES + 1).encode()
        + b"\r\n\r\n"
    )
    answer = await _exchange(build_router(), raw)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"request body too large" in answer


@pytest.mark.anyio
async def test_garbage_is_400_bad_request():
    answer = await _exchange(build_router(), b"\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"message":"bad request' in answer


# --- the daemon over its socket --------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon():
    d = DaemonProcess()
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


def _raw(daemon: DaemonProcess, data: bytes, half_close: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(daemon.socket)
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = bytearray()
        while chunk := s.recv(65536):
            out += chunk
        return bytes(out)


def test_ping_answers_ok_with_docker_headers(daemon):
    answer = _raw(daemon, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    headers = head.decode().lower()
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert "api-version: 1.41" in headers
    assert "swarm: inactive" in headers
    assert body == b"OK"
    assert daemon.client().get("/_ping") == "OK"


def test_head_ping_has_headers_and_no_body(daemon):
    answer = _raw(daemon, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 2" in head.lower()
    assert body == b""


def test_version_has_docker_shape(daemon):
    v = daemon.client().get("/version")
    assert v["Version"] == __version__
    assert v["ApiVersion"] == "1.41"
    assert v["MinAPIVersion"] == "1.12"
    assert v["Os"] == "linux"
    assert v["Arch"] == "amd64"
    assert v["PythonVersion"].startswith("3.")
    for key in ("GitCommit", "KernelVersion", "BuildTime"):
        assert key in v
    assert v["Components"][0]["Name"] == "Engine"
    assert v["Components"][0]["Details"]["ApiVersion"] == "1.41"
    assert daemon.client().get("/v1.41/version") == {**v}


def test_info_has_inactive_swarm_section(daemon):
    info = daemon.client().get("/info")
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["Swarm"]["NodeID"] == ""
    assert info["Swarm"]["ControlAvailable"] is False
    assert info["ServerVersion"] == __version__
    assert info["OSType"] == "linux"
    assert info["NCPU"] >= 1
    assert info["DataDir"] == daemon.data_dir


def test_every_swarm_path_is_served_by_its_own_handler():
    from swarmlet.daemon import daemon_router

    router = daemon_router()
    placeholders = [
        pattern
        for method, pattern, _ in SWARM_ROUTES
        if router.match(method, pattern.replace("{id}", "x"))[0].__name__.startswith(
            "not_implemented_"
        )
    ]
    assert placeholders == []


def test_a_path_not_built_yet_answers_501_with_one_line():
    router = build_router()  # the bare table, before any part registers its handlers
    handler, params = router.match("GET", "/services/x/logs")
    with pytest.raises(ApiError) as excinfo:
        handler(None, params)
    assert (excinfo.value.status, excinfo.value.message) == (
        501,
        "service logs is not implemented yet",
    )


def test_unknown_path_is_404_page_not_found(daemon):
    with pytest.raises(APIError) as excinfo:
        daemon.client().get("/containers/json/extra/parts")
    assert (excinfo.value.status, excinfo.value.message) == (404, "page not found")


def test_too_new_api_version_is_400(daemon):
    with pytest.raises(APIError) as excinfo:
        daemon.client().get("/v1.99/version")
    assert excinfo.value.status == 400
    assert "Maximum supported API version is 1.41" in excinfo.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02garbage\xff\xfe\r\n\r\n",
        b"GET /_ping HTTP/9.9\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"POST /services/create HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"POST /services/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
        b"",
    ],
    ids=["binary", "bad-version", "bad-header", "short-body", "bad-chunk", "huge-head", "empty"],
)
def test_malformed_requests_never_kill_the_daemon(daemon, data):
    _raw(daemon, data)
    assert daemon.proc.poll() is None
    assert daemon.client().get("/_ping") == "OK"


def test_connection_dropped_mid_request_leaves_daemon_serving(daemon):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(daemon.socket)
        s.sendall(b"POST /swarm/init HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert daemon.client().get("/_ping") == "OK"


def test_json_error_body_shape(daemon):
    answer = _raw(daemon, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"message": "page not found"}


def test_client_sees_api_errors_as_api_error(daemon):
    client = Client(daemon.host, timeout=10)
    with pytest.raises(APIError) as excinfo:
        client.post("/swarm/leave")
    assert excinfo.value.status == 503


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker command on this machine")
def test_docker_cli_speaks_to_the_socket(daemon):
    """The real docker client negotiates the API version over /_ping and reads our shapes."""
    docker = ["docker", "-H", daemon.host]
    version = subprocess.run(
        [*docker, "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"{__version__} 1.41"
    swarm = subprocess.run(
        [*docker, "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert swarm.stdout.strip() == "inactive"
    leave = subprocess.run([*docker, "swarm", "leave"], capture_output=True, text=True, timeout=60)
    assert leave.returncode != 0
    assert "This node is not part of a swarm" in leave.stderr


def test_leave_outside_a_swarm_is_refused(daemon):
    with pytest.raises(APIError) as excinfo:
        daemon.client().post("/swarm/leave")
    assert (excinfo.value.status, excinfo.value.message) == (
        503,
        "This node is not part of a swarm",
    )


def test_join_needs_a_manager_address(daemon):
    with pytest.raises(APIError) as excinfo:
        daemon.client().post("/swarm/join", {"JoinToken": "x"})
    assert excinfo.value.status == 400
    assert "RemoteAddr" in excinfo.value.message
