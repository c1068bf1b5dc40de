"""The leader's record of each manager's reachability: it follows the sessions the leader
has, and a write that fails once (a proposal that timed out under load) is tried again
instead of ending the service for the rest of the term."""

import dataclasses

import pytest
import trio

from swarmlet.manager import controlapi
from swarmlet.manager.context import LocalCluster, NotLeaderError
from swarmlet.node import manager
from swarmlet.node.manager import ManagerRuntime

pytestmark = pytest.mark.anyio


class Sessions:
    def __init__(self):
        self.by_node = {}


async def test_reachability_is_published_again_after_a_failed_write(tmp_path, monkeypatch):
    monkeypatch.setattr(manager, "PUBLISH_INTERVAL", 0.01)
    transport = Sessions()
    runtime = ManagerRuntime("m1", str(tmp_path), transport, None)
    cluster = LocalCluster(store=runtime.store)
    for nid in ("m1", "m2"):
        (
            await cluster.propose(controlapi.new_node(nid, "t", nid, "manager", f"{nid}:2377"))
        ).unwrap()
    failures = []

    async def propose(command):
        if not failures:
            failures.append(command)
            raise NotLeaderError("no answer before the deadline")
        return await cluster.propose(command)

    ctx = dataclasses.replace(cluster.context(), propose=propose)

    def reachability(nid):
        return runtime.store.get("node", nid)["ManagerStatus"]["Reachability"]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(runtime.publish_manager_status, ctx)
        with trio.fail_after(10):
            while reachability("m2") != "unreachable":
                await trio.sleep(0.01)
        assert failures  # the first write failed, and the service went on
        transport.by_node["m2"] = object()  # m2 is back
        with trio.fail_after(10):
            while reachability("m2") != "reachable":
                await trio.sleep(0.01)
        assert reachability("m1") == "reachable"
        nursery.cancel_scope.cancel()
