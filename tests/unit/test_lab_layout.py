"""Pure parts of the lab: names, addresses, partition rules, command-line parsing."""

from __future__ import annotations

import argparse

import pytest

from swarmlet.lab import cli
from swarmlet.lab.layout import (
    Lab,
    LabError,
    bridge_name,
    check_name,
    partition_blocks,
    partition_ruleset,
    preferred_subnet,
    tag,
)


@pytest.mark.parametrize("name", ["lab", "t1a2b3", "a-very-long-lab.name_with-stuff-32"[:32]])
def test_interface_names_fit_the_kernel_limit(name):
    lab = Lab(name=name, subnet=7, nodes=200)
    assert len(lab.bridge) <= 15
    assert all(len(h.veth) <= 15 for h in lab.hosts)
    assert lab.bridge == bridge_name(name)


def test_short_names_are_kept_and_long_ones_hashed_stably():
    assert tag("lab") == "lab"
    assert tag("Long-Name") == tag("Long-Name") != tag("Long-Namf")
    assert len(tag("Long-Name")) == 6


def test_addresses_live_in_the_labs_own_24():
    lab = Lab(name="x", subnet=42, nodes=3)
    assert lab.registry == "198.18.42.1:5000"
    assert [h.addr for h in lab.hosts] == ["198.18.42.11", "198.18.42.12", "198.18.42.13"]
    assert len({h.bip for h in lab.hosts}) == 3
    assert 0 <= preferred_subnet("x") < 256


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x/y", "a" * 33])
def test_bad_names_are_refused(bad):
    with pytest.raises(LabError):
        check_name(bad)


def test_unknown_host_names_the_hosts():
    with pytest.raises(LabError, match="node1, node2"):
        Lab(name="x", subnet=1, nodes=2).host("node3")


def test_a_partition_cuts_one_side_from_all_others_both_ways():
    hosts = ["node1", "node2", "node3", "node4"]
    blocks = partition_blocks(hosts, [["node1", "node2"]])
    assert blocks == {
        "node1": {"node3", "node4"},
        "node2": {"node3", "node4"},
        "node3": {"node1", "node2"},
        "node4": {"node1", "node2"},
    }
    blocks = partition_blocks(hosts, [["node1", "node2"], ["node4"]])
    assert blocks["node3"] == {"node1", "node2", "node4"}
    assert blocks["node1"] == {"node3", "node4"}
    assert partition_blocks(hosts, []) == {h: set() for h in hosts}


def test_partition_ruleset_replaces_the_table_atomically():
    rules = partition_ruleset(["198.18.1.12", "198.18.1.11"])
    first, second = rules.splitlines()[:2]
    assert first == "table inet swarmlet_lab" and second == "delete table inet swarmlet_lab"
    assert "elements = { 198.18.1.11, 198.18.1.12 }" in rules
    assert "hook input" in rules and "hook output" in rules and "hook forward" in rules
    assert partition_ruleset([]).splitlines() == [first, second]


def _parse(*argv):
    p = argparse.ArgumentParser(prog="swarmlet")
    cli.register(p.add_subparsers())
    return p.parse_args(argv)


def test_cli_tree_parses_every_leaf():
    assert _parse("lab", "up", "--nodes", "3").name == "lab"
    args = _parse("lab", "exec", "--name", "x", "node2", "--", "sh", "-c", "exit 3")
    assert (args.name, args.host) == ("x", "node2")
    assert cli.exec_command(args) == ["sh", "-c", "exit 3"]
    args = _parse("lab", "exec", "node1", "--", "docker", "run", "--name", "c", "busybox")
    assert (args.name, cli.exec_command(args)) == (
        "lab",
        ["docker", "run", "--name", "c", "busybox"],
    )
    assert _parse("lab", "partition", "node1", "node2").hosts == ["node1", "node2"]
    assert _parse("lab", "engine", "node1", "stop").action == "stop"
    for leaf in ("ls", "heal", "down"):
        assert callable(_parse("lab", leaf).func)
    for leaf in ("kill", "start"):
        assert _parse("lab", leaf, "node1").host == "node1"


@pytest.mark.parametrize(
    "flags",
    [["--managers", "0"], ["--managers", "2", "--workers", "2"], ["--workers", "-1"]],
)
def test_swarm_layout_must_fit_the_nodes(flags):
    args = _parse("lab", "up", "--nodes", "3", "--swarm", *flags)
    with pytest.raises(ValueError):
        cli._swarm_layout(args)


def test_swarm_layout_defaults_to_one_manager_and_the_rest_workers():
    assert cli._swarm_layout(_parse("lab", "up", "--nodes", "4", "--swarm")) == (1, 3)
    assert cli._swarm_layout(_parse("lab", "up", "--nodes", "4")) is None


def test_a_taken_subnet_moves_the_lab_to_the_next_free_one(monkeypatch):
    from swarmlet.lab import core

    first = preferred_subnet("x")
    monkeypatch.setattr(core, "_used_subnets", lambda: {first, (first + 1) % 256})
    assert core._allocate_subnet("x") == (first + 2) % 256
    monkeypatch.setattr(core, "_used_subnets", lambda: set(range(256)))
    with pytest.raises(LabError, match="in use"):
        core._allocate_subnet("x")


def test_missing_commands_name_the_debian_package(monkeypatch):
    import shutil

    from swarmlet.lab import system

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda c: None if c in ("nft", "nsenter") else real(c))
    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    problems = system.missing_prerequisites()
    assert any("root" in p for p in problems)
    assert "missing nft: apt-get install -y nftables" in problems
    assert "missing nsenter: apt-get install -y util-linux" in problems


def test_static_and_dynamic_executables_are_told_apart(tmp_path):
    import os

    from swarmlet.lab import system

    assert not system.is_static(os.path.realpath("/bin/sh"))  # dash, dynamically linked
    assert not system.is_static(str(tmp_path / "missing"))


def test_hosts_swarmlet_is_a_script_running_this_package_or_a_link_to_the_one_file(
    tmp_path, monkeypatch
):
    import os
    import subprocess
    import sys

    from swarmlet.lab import core, layout

    monkeypatch.setattr(layout, "ROOT", str(tmp_path))
    lab = Lab(name="w", subnet=1, nodes=1)
    path = core.write_swarmlet_wrapper(lab)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([path, "--version"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("swarmlet ") and sys.executable in out.stdout

    one_file = tmp_path / "swarmlet-onefile"
    one_file.write_text("#!/bin/sh\necho one-file\n")
    one_file.chmod(0o755)
    path = core.write_swarmlet_wrapper(lab, [str(one_file)])
    assert os.readlink(path) == str(one_file)
    assert subprocess.run([path], capture_output=True, text=True).stdout == "one-file\n"
