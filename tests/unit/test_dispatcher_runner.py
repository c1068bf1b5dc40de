"""The dispatcher runner's answers that need no session: not_leader and where the leader is."""

import pytest

from swarmlet.manager.context import LocalCluster
from swarmlet.manager.dispatcher import Dispatcher
from swarmlet.store import commands
from swarmlet.store.commands import encode
from swarmlet.wire.mux import RemoteError

from .store_fixtures import node


def follower_context():
    cluster = LocalCluster()
    leader = {**node("m1", "mgr1", role="manager"), "ManagerStatus": {"Addr": "10.0.0.9:2377"}}
    cluster.store.apply(1, encode(commands.create("node", leader)))
    ctx = cluster.context()
    ctx.is_leader = lambda: False
    return ctx


def test_not_leader_names_the_leaders_address_from_the_store():
    ctx = follower_context()
    ctx.leader_id = lambda: "m1"  # what raft knows
    with pytest.raises(RemoteError) as err:
        Dispatcher(ctx)._serving()
    assert (err.value.code, err.value.message) == ("not_leader", "10.0.0.9:2377")


def test_not_leader_without_a_known_leader_is_empty():
    ctx = follower_context()
    ctx.leader_id = lambda: None  # an election is on
    with pytest.raises(RemoteError) as err:
        Dispatcher(ctx)._serving()
    assert (err.value.code, err.value.message) == ("not_leader", "")


def test_an_explicit_leader_address_wins():
    ctx = follower_context()
    with pytest.raises(RemoteError) as err:
        Dispatcher(ctx, leader_address=lambda: "10.0.0.7:2377")._serving()
    assert err.value.message == "10.0.0.7:2377"


def test_a_stopped_dispatcher_on_the_leader_still_answers_not_leader():
    ctx = follower_context()
    ctx.is_leader = lambda: True  # raft says leader, but the dispatcher is not running
    with pytest.raises(RemoteError) as err:
        Dispatcher(ctx)._serving()
    assert err.value.code == "not_leader"
