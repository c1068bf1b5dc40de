"""The trio runner over an in-memory transport, on trio's virtual clock."""

import random

import pytest
import trio
import trio.testing

from swarmlet.gossip.config import DEFAULT
from swarmlet.gossip.runner import GossipRunner


@pytest.fixture
def anyio_backend():
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


class MemoryNet:
    def __init__(self):
        self.inboxes = {}
        self.down = set()

    def transport(self, addr):
        net = self
        send, receive = trio.open_memory_channel(1000)
        self.inboxes[addr] = send

        class T:
            inbound = receive

            def send(self, to, dest, msg):
                if addr in net.down or dest in net.down or dest not in net.inboxes:
                    return
                try:
                    net.inboxes[dest].send_nowait(msg)
                except trio.WouldBlock:
                    pass

        return T()


async def collect(runner, log):
    async for ev in runner.events:
        log.append((trio.current_time(), ev.kind, ev.node_id))


@pytest.mark.anyio
async def test_runners_join_detect_a_crash_and_see_metadata():
    net = MemoryNet()
    logs = {}
    async with trio.open_nursery() as nursery:
        runners = {}
        scopes = {}
        for i in range(5):
            addr = f"m{i}"
            r = GossipRunner(
                addr, addr, {"role": "worker"}, DEFAULT, net.transport(addr), random.Random(i)
            )
            scope = trio.CancelScope()
            scopes[addr] = scope
            logs[addr] = []

            async def run(r=r, scope=scope, log=logs[addr]):
                with scope:
                    async with trio.open_nursery() as inner:
                        await inner.start(r.run)
                        inner.start_soon(collect, r, log)

            nursery.start_soon(run)
            runners[addr] = r
        await trio.sleep(0.01)
        for addr, r in runners.items():
            if addr != "m0":
                r.join(["m0"])
        await trio.sleep(3)
        assert all(r.core.live_count == 5 for r in runners.values())

        runners["m1"].update_meta({"overlay": {"vtep": "10.0.0.2"}})
        await trio.sleep(2)
        assert all(
            r.core.meta_of("m1")["overlay"] == {"vtep": "10.0.0.2"} for r in runners.values()
        )

        net.down.add("m4")
        scopes["m4"].cancel()
        crashed_at = trio.current_time()
        await trio.sleep(10)
        for addr in ("m0", "m1", "m2", "m3"):
            dead = [t for t, kind, who in logs[addr] if kind == "dead" and who == "m4"]
            assert dead and dead[0] > crashed_at, addr
        assert await runners["m3"].leave(timeout=5)
        await trio.sleep(1)
        assert runners["m0"].core.state_of("m3") == "left"
        nursery.cancel_scope.cancel()
