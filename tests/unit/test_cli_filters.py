"""--filter: docker's keys per command, OR within a key, the API's filters map."""

import pytest

from swarmlet.cli.filters import ACCEPTED, FilterError, filters_param, parse_filters
from swarmlet.cli.main import main


def test_values_of_one_key_are_collected():
    assert parse_filters(["name=web", "name=api", "mode=global"], "service ls") == {
        "name": {"web": True, "api": True},
        "mode": {"global": True},
    }


def test_label_values_keep_their_equals_sign():
    assert parse_filters(["label=a=b"], "service ls") == {"label": {"a=b": True}}


@pytest.mark.parametrize(
    "command, key",
    [
        ("service ls", "node"),
        ("service ps", "mode"),
        ("node ls", "desired-state"),
        ("network ls", "role"),
        ("secret ls", "mode"),
    ],
)
def test_invalid_key_is_refused_like_the_daemon(command, key):
    with pytest.raises(FilterError) as err:
        parse_filters([f"{key}=x"], command)
    assert str(err.value) == f"Error response from daemon: Invalid filter '{key}'"


def test_docker_keys():
    assert ACCEPTED["service ls"] == ("id", "label", "mode", "name")
    assert ACCEPTED["service ps"] == ("id", "name", "node", "desired-state")
    assert ACCEPTED["node ls"] == ("id", "label", "node.label", "membership", "name", "role")


def test_filters_param():
    assert filters_param({}) == {}
    assert filters_param({"name": {"a": True}}) == {"filters": {"name": {"a": True}}}


def test_invalid_filter_exits_1_before_connecting(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SWARMLET_HOST", f"unix://{tmp_path}/none.sock")
    assert main(["service", "ls", "--filter", "bogus=1"]) == 1
    assert capsys.readouterr().err == "Error response from daemon: Invalid filter 'bogus'\n"


def test_filter_without_equals_is_a_flag_error(capsys):
    assert main(["node", "ls", "-f", "role"]) == 125
    assert "bad format of filter (expected name=value)" in capsys.readouterr().err
