"""A joining node asking the leader: a refusal always says why, and a swarm that has no leader
for a moment, or a leader still busy with an earlier membership change, is asked again until
a deadline instead of failing the join."""

import pytest
import trio

from swarmlet.api.router import ApiError
from swarmlet.node import swarm
from swarmlet.node.swarm import SwarmNode, _Pending, refusal_text
from swarmlet.wire.mux import RemoteError

pytestmark = pytest.mark.anyio


def test_a_refusal_without_message_still_says_why():
    for code in ("not_leader", "not_manager", "unavailable", "timeout", "strange"):
        text = refusal_text("raft.join", "10.0.0.1:2377", code, "")
        reason = text.split(": ", 1)[1]
        assert text.startswith("raft.join refused by 10.0.0.1:2377: ") and reason.strip()
    assert refusal_text("node.register", "a:1", "forbidden", "no way").endswith(": no way")


class ScriptedTransport:
    """Answers each request with the next scripted outcome (an exception or a reply)."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.asked = []

    async def request(self, address, kind, body, timeout):
        self.asked.append(address)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def node(tmp_path, monkeypatch):
    monkeypatch.setattr(swarm, "JOIN_RETRY_INTERVAL", 0.01)
    return SwarmNode(str(tmp_path), None)


async def test_no_leader_for_a_moment_then_the_join_goes_through(node):
    node.transport = ScriptedTransport(
        [
            RemoteError("not_leader", ""),  # an election under way
            RemoteError("unavailable", "another membership change is not committed yet"),
            RemoteError("not_leader", "10.0.0.2:2377"),  # redirected to the new leader
            {"managers": {"a": "10.0.0.2:2377"}},
        ]
    )
    reply = await node._ask_leader("10.0.0.1:2377", "raft.join", {})
    assert reply == {"managers": {"a": "10.0.0.2:2377"}}
    assert node.transport.asked == ["10.0.0.1:2377"] * 3 + ["10.0.0.2:2377"]


async def test_a_final_refusal_is_not_retried_and_keeps_the_managers_words(node):
    node.transport = ScriptedTransport([RemoteError("forbidden", "not for a worker")])
    with pytest.raises(ApiError) as info:
        await node._ask_leader("10.0.0.1:2377", "raft.join", {})
    assert info.value.message == "raft.join refused by 10.0.0.1:2377: not for a worker"


async def test_pending_acceptance_is_reported_to_the_caller(node):
    node.transport = ScriptedTransport([RemoteError("pending", "waits to be accepted")])
    with pytest.raises(_Pending):
        await node._ask_leader("10.0.0.1:2377", "raft.join", {})


async def test_no_leader_until_the_deadline_fails_with_a_reason(node):
    node.transport = ScriptedTransport([RemoteError("not_leader", "")] * 10_000)
    with trio.fail_after(10):
        with pytest.raises(ApiError) as info:
            await node._ask_leader("10.0.0.1:2377", "raft.join", {}, deadline=0.2)
    assert info.value.status == 503
    assert info.value.message == (
        "raft.join refused by 10.0.0.1:2377: the swarm has no leader at the moment "
        "(gave up after 0.2 s)"
    )
