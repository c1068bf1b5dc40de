"""Raft managers as separate processes on loopback (websocket + CBOR, sqlite with fsync):
kill -9, freeze, restart. Needs no root, but runs real processes, hence e2e."""

import signal

import pytest
import trio

from swarmlet.raft.testnode import Client, ClientError, LocalCluster

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

FAST = ("--tick", "0.05", "--election-ticks", "6")


async def put_all(cluster, node, items):
    async with Client.connect(cluster.client[node]) as c:
        for k, v in items:
            assert await c.call("put", k=k, v=v) == {"ok": True}


async def read_all(cluster, node, keys):
    async with Client.connect(cluster.client[node]) as c:
        return {k: await c.call("get", k=k) for k in keys}


async def put_retrying(cluster, k, v, timeout=15):
    """Write through whoever leads now (a write that failed may be retried: puts are idempotent)."""
    with trio.fail_after(timeout):
        while True:
            try:
                ld = await cluster.leader()
                async with Client.connect(cluster.client[ld]) as c:
                    return await c.call("put", k=k, v=v)
            except (ClientError, OSError):
                await trio.sleep(0.1)


@pytest.fixture
def cluster(tmp_path, request):
    c = LocalCluster(str(tmp_path), [f"n{i + 1}" for i in range(request.param)], *FAST)
    c.start_all()
    yield c
    c.stop_all()


@pytest.mark.parametrize("cluster", [3, 5], indirect=True)
async def test_kill_9_of_the_leader_elects_another_and_loses_no_acknowledged_write(cluster):
    old = await cluster.leader()
    written = [(f"k{i}", f"v{i}") for i in range(60)]
    await put_all(cluster, old, written)
    cluster.kill(old)
    new = await cluster.leader(timeout=15)
    assert new != old
    more = [(f"after{i}", str(i)) for i in range(10)]
    await put_all(cluster, new, more)
    got = await read_all(cluster, new, [k for k, _ in written + more])
    assert got == dict(written + more)
    # The killed leader comes back from its store and catches up.
    cluster.start(old)
    with trio.fail_after(15):
        while True:
            st, lst = await cluster.status(old), await cluster.status(new)
            if st and lst and st["applied"] >= lst["commit"]:
                break
            await trio.sleep(0.1)


@pytest.mark.parametrize("cluster", [3], indirect=True)
async def test_all_managers_stopped_and_started_keep_every_write(cluster):
    ld = await cluster.leader()
    written = [(f"k{i}", f"v{i}") for i in range(40)]
    await put_all(cluster, ld, written)
    cluster.stop_all()
    cluster.start_all()
    ld = await cluster.leader(timeout=15)
    assert await read_all(cluster, ld, [k for k, _ in written]) == dict(written)


@pytest.mark.parametrize("cluster", [3], indirect=True)
async def test_frozen_old_leader_rejoins_without_raising_the_term(cluster):
    old = await cluster.leader()
    await put_all(cluster, old, [("a", "1")])
    cluster.signal(old, signal.SIGSTOP)
    try:
        new = await cluster.leader(timeout=15)
        while new == old:
            new = await cluster.leader(timeout=15)
    finally:
        cluster.signal(old, signal.SIGCONT)
    term = (await cluster.status(new))["term"]
    await put_retrying(cluster, "b", "2")
    await trio.sleep(1.0)  # let the old leader hear of the new term
    st_old, st_new = await cluster.status(old), await cluster.status(new)
    assert st_old["role"] != "leader" and st_old["leader"] == new
    assert st_new["role"] == "leader" and st_new["term"] == term


async def test_follower_far_behind_is_brought_back_by_snapshot(tmp_path):
    c = LocalCluster(str(tmp_path), ["n1", "n2", "n3"], *FAST, "--snapshot-every", "50")
    c.start_all()
    try:
        ld = await c.leader()
        lagging = next(i for i in c.ids if i != ld)
        c.signal(lagging, signal.SIGSTOP)
        try:
            await put_all(c, ld, [(f"k{i}", str(i)) for i in range(200)])
        finally:
            c.signal(lagging, signal.SIGCONT)
        with trio.fail_after(15):
            while True:
                st, lst = await c.status(lagging), await c.status(ld)
                if st and lst and st["applied"] >= lst["commit"]:
                    break
                await trio.sleep(0.1)
        assert st["snapshots_installed"] >= 1
        assert (await read_all(c, lagging, ["k0", "k199"])) == {"k0": "0", "k199": "199"}
    finally:
        c.stop_all()


@pytest.mark.parametrize("cluster", [3], indirect=True)
async def test_garbage_from_a_client_or_peer_does_not_kill_a_manager(cluster):
    from trio_websocket import ConnectionClosed, open_websocket_url

    ld = await cluster.leader()
    for addr in (cluster.client[ld], cluster.raft[ld]):
        # Not CBOR; an indefinite list never closed; CBOR that is not a message.
        for junk in (b"\xff\xfe not cbor", b"\x9f", b"\x83\x01\x02\x03"):
            try:
                async with open_websocket_url(f"ws://{addr}/") as ws:
                    await ws.send_message(junk)
                    with trio.move_on_after(0.3):
                        await ws.get_message()  # the server may close on us: fine
            except ConnectionClosed:
                pass
    await put_all(cluster, ld, [("still", "alive")])
    assert (await cluster.status(ld))["role"] == "leader"
