"""The command tree, its help, and docker's error wording and exit codes."""

import argparse

import pytest

from swarmlet.cli.main import build_parser, main
from swarmlet.cli.parser import DockerArgumentParser


def _walk(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, child in action.choices.items():
                if id(child) in seen:
                    continue
                seen.add(id(child))
                yield from _walk(child, (*path, name))


ALL_COMMANDS = [path for path, _ in _walk(build_parser()) if path]


def test_tree_has_dockers_commands():
    paths = {" ".join(p) for p in ALL_COMMANDS}
    expected = {
        "swarm init", "swarm join", "swarm join-token", "swarm leave", "swarm update",
        "swarm inspect", "swarm unlock", "swarm unlock-key", "swarm ca", "init", "join", "leave",
        "node ls", "node inspect", "node promote", "node demote", "node rm", "node update",
        "node ps", "node accept", "service create", "service inspect", "service ls",
        "service ps", "service rm", "service scale", "service update", "service rollback",
        "service logs", "stack deploy", "stack ls", "stack ps", "stack rm", "stack services",
        "network create", "network ls", "network inspect", "network rm", "secret create",
        "secret ls", "secret inspect", "secret rm", "config create", "config ls",
        "config inspect", "config rm", "daemon", "version", "info", "lab", "btrfs",
    }  # fmt: skip
    assert expected <= paths


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p))
def test_help_of_every_command_exits_0_and_names_it(path, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"Usage:  swarmlet {' '.join(path)}" in out


def test_top_level_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\nUsage:  swarmlet [OPTIONS] COMMAND")
    assert "Management Commands:" in out and "  service " in out
    assert "\nCommands:\n  init " in out


def test_group_without_command_prints_its_help(capsys):
    assert main(["service"]) == 0
    out = capsys.readouterr().out
    assert "Usage:  swarmlet service COMMAND" in out
    assert "Run 'swarmlet service COMMAND --help'" in out


@pytest.mark.parametrize(
    "argv",
    [["service", "tasks", "--help"], ["node", "tasks", "--help"]],
)
def test_tasks_is_an_alias_of_ps(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ps [OPTIONS]" in out and "Aliases:" in out


def test_unknown_flag_exits_125(capsys):
    assert main(["service", "create", "--bogus", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err == "unknown flag: --bogus\nSee 'swarmlet service create --help'.\n"


def test_unknown_shorthand_flag_exits_125(capsys):
    assert main(["service", "ls", "-z"]) == 125
    assert "unknown shorthand flag: 'z' in -z" in capsys.readouterr().err


def test_bad_flag_value_exits_125(capsys):
    assert main(["service", "create", "--replicas", "abc", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err == (
        'invalid argument "abc" for "--replicas" flag: strconv.ParseUint: parsing "abc": '
        "invalid syntax\nSee 'swarmlet service create --help'.\n"
    )


def test_bad_value_of_short_flag_names_both_forms(capsys):
    assert main(["service", "create", "-p", "x:y", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err.startswith('invalid argument "x:y" for "-p, --publish" flag: ')


def test_flag_without_value_exits_125(capsys):
    assert main(["service", "ls", "--format"]) == 125
    assert "flag needs an argument: --format" in capsys.readouterr().err


def test_missing_argument_exits_1_with_usage(capsys):
    assert main(["service", "scale"]) == 1
    err = capsys.readouterr().err
    assert err == (
        '"swarmlet service scale" requires at least 1 argument.\n'
        "See 'swarmlet service scale --help'.\n\n"
        "Usage:  swarmlet service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\n"
        "Scale one or multiple replicated services\n"
    )


def test_exact_arity_wording(capsys):
    assert main(["service", "update"]) == 1
    assert '"swarmlet service update" requires exactly 1 argument.' in capsys.readouterr().err


def test_extra_argument_exits_1(capsys):
    assert main(["service", "ls", "extra"]) == 1
    assert '"swarmlet service ls" accepts no arguments.' in capsys.readouterr().err


def test_unknown_command_exits_1(capsys):
    assert main(["service", "frobnicate"]) == 1
    err = capsys.readouterr().err
    assert "swarmlet: 'service frobnicate' is not a swarmlet command." in err


def test_bad_choice_exits_125(capsys):
    assert main(["node", "update", "--availability", "sleepy", "n1"]) == 125
    err = capsys.readouterr().err
    assert err.startswith('invalid argument "sleepy" for "--availability" flag: must be one of')


def test_subparsers_inherit_the_class():
    parser = build_parser()
    for _, p in _walk(parser):
        assert isinstance(p, DockerArgumentParser)


def test_version_flag(capsys):
    assert main(["-v"]) == 0
    assert capsys.readouterr().out.startswith("swarmlet ")


def test_1_12_forms_parse():
    parser = build_parser()
    parser.parse_args(["swarm", "leave", "10.0.0.1:2377"])
    parser.parse_args(["swarm", "init", "--auto-accept", "worker"])
    parser.parse_args(["swarm", "update", "--auto-accept", "none"])
    parser.parse_args(["node", "accept", "abc"])
    parser.parse_args(["swarm", "inspect"])
    parser.parse_args(["service", "tasks", "web"])


def test_daemon_print_unit(capsys):
    assert main(["daemon", "--print-unit", "--data-dir", "/tmp/x"]) == 0
    out = capsys.readouterr().out
    assert "[Service]" in out and "ExecStart=" in out and " daemon " in out


def test_command_word_skips_global_flags():
    from swarmlet.cli.main import command_word

    assert command_word(["-H", "unix:///x", "service", "ls"]) == "service"
    assert command_word(["--host=unix:///x", "-D", "node"]) == "node"
    assert command_word(["--help"]) is None


def test_partial_tree_parses_like_the_full_tree():
    argv = ["-H", "unix:///s", "service", "create", "--replicas", "2", "busybox", "sleep", "9"]
    partial = build_parser(argv).parse_args(argv)
    full = build_parser().parse_args(argv)
    assert vars(partial).keys() == vars(full).keys()
    assert {k: v for k, v in vars(partial).items() if k != "func"} == {
        k: v for k, v in vars(full).items() if k != "func"
    }


def test_daemon_passes_its_flags_to_run(monkeypatch, tmp_path):
    from swarmlet import daemon

    calls = []

    def run(data_dir, host, log_level="info", *, foreground=True):
        calls.append((data_dir, host, log_level, foreground))
        return 0

    monkeypatch.setattr(daemon, "run", run)
    monkeypatch.setenv("SWARMLET_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("SWARMLET_HOST", "unix:///tmp/env.sock")
    assert main(["daemon"]) == 0
    assert (
        main(["daemon", "--data-dir", "/d", "-H", "unix:///h.sock", "-l", "debug", "--detached"])
        == 0
    )
    assert calls == [
        (str(tmp_path / "env"), "unix:///tmp/env.sock", "info", True),
        ("/d", "unix:///h.sock", "debug", False),
    ]


def _flag_groups_parser():
    p = DockerArgumentParser(prog="swarmlet thing")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--device")
    g.add_argument("--image")
    return p


def test_required_flag_group_wording(capsys):
    with pytest.raises(SystemExit) as exc:
        _flag_groups_parser().parse_args([])
    assert exc.value.code == 1
    assert capsys.readouterr().err == (
        "at least one of the flags in the group [device image] is required\n"
    )


def test_exclusive_flags_wording(capsys):
    with pytest.raises(SystemExit) as exc:
        _flag_groups_parser().parse_args(["--device", "a", "--image", "b"])
    assert exc.value.code == 1
    assert "none of the others can be" in capsys.readouterr().err
