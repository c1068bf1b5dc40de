"""Hostile input against a live listener while an honest peer keeps talking to it.

A trio loop in a background thread runs the listening node and an honest client that
exchanges requests with it without pause. Hypothesis then throws attacks at the listener
(each attack runs in that same loop): garbage before and during the handshake, random and
mutated frames from an authenticated but hostile node, replayed frames, deep CBOR, oversize
frames, plain TCP garbage and slow-loris connections. The honest exchange must never fail, and
the listener must still accept sessions at the end.
"""

import threading

import pytest
import trio
import trio_websocket
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from swarmlet.wire import codec
from swarmlet.wire.endpoint import RESOURCE, dial, open_connection
from swarmlet.wire.mux import Router
from swarmlet.wire.peers import Transport
from swarmlet.wire.schema import Field, Schema

from .wire_fixtures import TestCluster

ECHO = Schema(x=Field(int), pad=Field(bytes, max_len=1000))
MAX_FRAME = 64 * 1024


def echo_router():
    router = Router()

    async def on_echo(peer, body):
        return body

    router.request("echo", ECHO, on_echo)
    return router


class LiveNode:
    """The node under attack plus the honest peer, in a trio loop on another thread."""

    def __init__(self):
        self.cluster = TestCluster()
        self.server_creds = self.cluster.creds("manager")
        self.honest_ok = 0
        self.honest_failures = []
        self.ready = threading.Event()
        self.error = None

    def start(self):
        self.thread = threading.Thread(target=self._thread, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "live node did not start"

    def _thread(self):
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _main(self):
        self.token = trio.lowlevel.current_trio_token()
        self.server = Transport(
            self.server_creds,
            echo_router(),
            listen=("127.0.0.1", 0),
            listener_options={"handshake_timeout": 5.0, "max_frame": MAX_FRAME},
        )
        async with trio.open_nursery() as nursery:
            self.scope = nursery.cancel_scope
            self.port = await nursery.start(self.server.run)
            self.addr = f"127.0.0.1:{self.port}"
            self.client = Transport(self.cluster.creds("worker"), echo_router())
            await nursery.start(self.client.run)
            await self.client.connection(self.addr)
            nursery.start_soon(self._honest_loop)
            self.ready.set()

    async def _honest_loop(self):
        i = 0
        while True:
            i += 1
            try:
                reply = await self.client.request(
                    self.addr, "echo", {"x": i, "pad": b"p" * 100}, timeout=30
                )
                if reply != {"x": i, "pad": b"p" * 100}:
                    self.honest_failures.append(f"wrong reply {reply!r}")
                self.honest_ok += 1
            except Exception as exc:
                self.honest_failures.append(repr(exc))
            await trio.sleep(0.002)

    def run(self, fn, *args):
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def stop(self):
        trio.from_thread.run_sync(self.scope.cancel, trio_token=self.token)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live():
    node = LiveNode()
    node.start()
    yield node
    node.stop()


async def _until_closed(ws, limit=30.0):
    """Wait (bounded) for the listener to close this connection; True if it did."""
    with trio.move_on_after(limit):
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed:
            return True
    return False


async def attack_handshake_garbage(live, messages):
    async with trio.open_nursery() as nursery:
        ws = await open_connection(nursery, live.addr)
        try:
            for m in messages:
                await ws.send_message(m)
        except trio_websocket.ConnectionClosed:
            pass
        assert await _until_closed(ws)
        nursery.cancel_scope.cancel()


def _mutate(frame: bytes, positions: list[int]) -> bytes:
    data = bytearray(frame)
    for i in {p % len(data) for p in positions}:  # each byte once: two flips could cancel
        data[i] ^= 1 + (i % 255)
    return bytes(data)


async def attack_insider(live, kind, payload, positions):
    """An authenticated node that misbehaves after its handshake."""
    creds = live.cluster.creds("worker")
    async with trio.open_nursery() as nursery:
        session = await dial(nursery, live.addr, creds)
        ws, sealer = session.ws, session._sealer
        good = codec.encode({"k": "q", "i": 1, "t": "echo", "b": {"x": 1, "pad": b""}})
        try:
            if kind == "mutated":
                await ws.send_message(_mutate(sealer.seal(good), positions))
            elif kind == "random":
                await ws.send_message(payload)
            elif kind == "sealed_garbage":
                await ws.send_message(sealer.seal(payload))
            elif kind == "deep":
                await ws.send_message(sealer.seal(b"\x81" * (20 + len(payload)) + b"\x00"))
            elif kind == "replay":
                frame = sealer.seal(good)
                await ws.send_message(frame)
                await ws.send_message(frame)
            elif kind == "reorder":
                first, second = sealer.seal(good), sealer.seal(good)
                await ws.send_message(second)
                await ws.send_message(first)
            elif kind == "oversize":
                await ws.send_message(b"\x00" * (MAX_FRAME + 1 + len(payload)))
            elif kind == "text":
                await ws.send_message("hello")
            elif kind == "bad_envelope":
                await ws.send_message(sealer.seal(codec.encode({"k": "q", "i": -1, "t": 5})))
        except trio_websocket.ConnectionClosed:
            pass
        closed = await _until_closed(ws)
        nursery.cancel_scope.cancel()
    assert closed, f"{kind} did not close the session"


async def attack_raw_tcp(live, data):
    stream = await trio.open_tcp_stream("127.0.0.1", live.port)
    try:
        await stream.send_all(data)
        with trio.move_on_after(3):
            while await stream.receive_some(4096):
                pass
    except trio.BrokenResourceError:
        pass
    finally:
        await stream.aclose()


async def attack_slow_loris(live, n):
    """Connections that start a request or a handshake and then say nothing more."""
    streams = []
    for i in range(n):
        s = await trio.open_tcp_stream("127.0.0.1", live.port)
        await s.send_all(f"GET {RESOURCE} HTTP/1.1\r\nHost: x\r\n".encode()[: 10 + i])
        streams.append(s)
    async with trio.open_nursery() as nursery:
        ws = await open_connection(nursery, live.addr)  # upgraded, then silent
        assert await _until_closed(ws)
        nursery.cancel_scope.cancel()
    for s in streams:
        with trio.move_on_after(30):
            try:
                while await s.receive_some(4096):
                    pass
            except trio.BrokenResourceError:
                pass
        await s.aclose()


INSIDER_KINDS = [
    "mutated",
    "random",
    "sealed_garbage",
    "deep",
    "replay",
    "reorder",
    "oversize",
    "text",
    "bad_envelope",
]


@pytest.mark.parametrize("kind", INSIDER_KINDS)
def test_each_insider_attack_closes_only_its_session(live, kind):
    before = len(live.server.listener.refusals)
    live.run(attack_insider, live, kind, b"\x01\x02", [3])
    assert live.error is None and live.honest_failures == []
    assert len(live.server.listener.refusals) == before  # it got in; only its session ended


attacks = st.one_of(
    st.tuples(st.just("handshake"), st.lists(st.binary(max_size=300), min_size=1, max_size=3)),
    st.tuples(
        st.just("insider"),
        st.sampled_from(INSIDER_KINDS),
        st.binary(max_size=200),
        st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
    ),
    st.tuples(st.just("tcp"), st.binary(min_size=1, max_size=500)),
    st.tuples(st.just("loris"), st.integers(min_value=1, max_value=4)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a failure is reported as found, not shrunk
)
@given(attack=attacks)
def test_hostile_input_never_hurts_the_honest_session(live, attack):
    kind, *args = attack
    fn = {
        "handshake": attack_handshake_garbage,
        "insider": attack_insider,
        "tcp": attack_raw_tcp,
        "loris": attack_slow_loris,
    }[kind]
    before = live.honest_ok
    live.run(fn, live, *args)
    assert live.error is None
    assert live.honest_failures == []
    assert live.honest_ok >= before


def test_listener_alive_and_honest_peer_unharmed_after_attacks(live):
    async def fresh_session():
        async with trio.open_nursery() as nursery:
            session = await dial(nursery, live.addr, live.cluster.creds("worker"))
            await session.aclose()
            nursery.cancel_scope.cancel()
        with trio.fail_after(30):
            while live.honest_ok < 20:
                await trio.sleep(0.05)

    live.run(fresh_session)
    assert live.error is None
    assert live.honest_failures == []
    assert live.server.listener.refusals  # the attacks were seen and refused
    print(f"honest exchanges: {live.honest_ok}; refusals: {len(live.server.listener.refusals)}")
