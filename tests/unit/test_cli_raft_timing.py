"""`swarm update --raft-heartbeat-interval/--raft-election-timeout`: durations become the
cluster spec's Raft.HeartbeatTick/ElectionTick (100 ms ticks); bad values never leave the CLI."""

import pytest

from swarmlet.cli.common import CLIError
from swarmlet.cli.main import build_parser
from swarmlet.cli.swarm import RAFT_TICK_NS, cluster_spec
from swarmlet.manager.specs.cluster import default_cluster_spec
from swarmlet.raft.runner import Timing


def spec_for(*flags):
    args = build_parser(["swarm", "update", *flags]).parse_args(["swarm", "update", *flags])
    return cluster_spec(args, default_cluster_spec())


def test_the_cli_tick_is_the_runners_tick():
    assert round(Timing().tick * 1e9) == RAFT_TICK_NS


def test_durations_become_ticks_and_other_fields_stay():
    spec = spec_for("--raft-heartbeat-interval", "300ms", "--raft-election-timeout", "2s")
    assert spec["Raft"]["HeartbeatTick"] == 3
    assert spec["Raft"]["ElectionTick"] == 20
    assert spec["Raft"]["SnapshotInterval"] == default_cluster_spec()["Raft"]["SnapshotInterval"]


def test_one_flag_keeps_the_other_timing():
    spec = spec_for("--raft-election-timeout", "800ms")
    assert (spec["Raft"]["HeartbeatTick"], spec["Raft"]["ElectionTick"]) == (2, 8)


def test_default_spec_matches_the_runners_defaults():
    raft = default_cluster_spec()["Raft"]
    t = Timing()
    assert (raft["HeartbeatTick"], raft["ElectionTick"]) == (t.heartbeat_ticks, t.election_ticks)


@pytest.mark.parametrize(
    "flags,message",
    [
        (("--raft-heartbeat-interval", "0s"), "positive duration"),
        (("--raft-heartbeat-interval=-100ms",), "positive duration"),
        (("--raft-election-timeout", "250ms"), "multiple of 100ms"),
        (("--raft-heartbeat-interval", "500ms"), "must be greater than the heartbeat"),
        (("--raft-election-timeout", "200ms"), "must be greater than the heartbeat"),
        (
            ("--raft-heartbeat-interval", "1s", "--raft-election-timeout", "1s"),
            "must be greater than the heartbeat",
        ),
    ],
)
def test_bad_timings_are_refused_before_anything_is_sent(flags, message):
    with pytest.raises(CLIError, match=message):
        spec_for(*flags)
