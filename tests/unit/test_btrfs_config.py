"""Pure rules for the files `btrfs setup` edits: sizes, fstab, daemon.json, Docker's unit."""

import json

import pytest

from swarmlet.btrfs import config
from swarmlet.btrfs.config import ConfigError


@pytest.mark.parametrize(
    "text,expected",
    [("512M", 512 << 20), ("20G", 20 << 30), ("1.5T", 3 << 39), ("4096", 4096), ("2GiB", 2 << 30),
     ("1000t", 1000 << 40), (" 10g ", 10 << 30)],
)  # fmt: skip
def test_parse_size(text, expected):
    assert config.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "-1G", "0", "12X", "1.2.3G"])
def test_parse_size_rejects(text):
    with pytest.raises(ConfigError):
        config.parse_size(text)


def test_format_size():
    assert config.format_size(1 << 30) == "1GiB"
    assert config.format_size(1536 << 20) == "1.5GiB"
    assert config.format_size(100) == "100B"


IMG_LINE = (
    "/srv/docker.img /var/lib/docker btrfs loop,defaults,nofail,x-systemd.before=docker.service 0 0"
)


def test_fstab_line_image_and_device():
    assert config.fstab_line("/srv/docker.img", "/var/lib/docker", loop=True) == IMG_LINE
    assert config.fstab_line("UUID=abc", "/var/lib/docker", loop=False) == (
        "UUID=abc /var/lib/docker btrfs defaults,nofail,x-systemd.before=docker.service 0 0"
    )


def test_fstab_entry_added_exactly_once():
    before = "# static\nUUID=1 / ext4 defaults 0 1"
    once = config.fstab_with_entry(before, IMG_LINE, {"/srv/docker.img"}, "/var/lib/docker")
    assert once == before + "\n" + IMG_LINE + "\n"
    twice = config.fstab_with_entry(once, IMG_LINE, {"/srv/docker.img"}, "/var/lib/docker/")
    assert twice == once


def test_fstab_conflicts():
    text = "/dev/sdb1 /var/lib/docker ext4 defaults 0 2\n/srv/docker.img /mnt btrfs loop 0 0\n"
    problems = config.fstab_conflicts(text, {"/srv/docker.img"}, "/var/lib/docker")
    assert len(problems) == 2
    assert "line 1 already mounts /dev/sdb1" in problems[0]
    assert not config.fstab_conflicts(IMG_LINE + "\n", {"/srv/docker.img"}, "/var/lib/docker")


def test_fstab_escaped_mountpoint():
    line = config.fstab_line("/img", "/var/lib/my docker", loop=True)
    assert "/var/lib/my\\040docker" in line
    assert config.parse_fstab(line)[0].mountpoint == "/var/lib/my docker"


def test_daemon_json_merge_keeps_other_keys():
    conf = config.load_daemon_json('{"log-level": "warn", "storage-driver": "overlay2"}', "d.json")
    assert json.loads(config.daemon_json_with_btrfs(conf)) == {
        "log-level": "warn",
        "storage-driver": "btrfs",
    }
    assert config.load_daemon_json(None, "d.json") == {}
    assert config.load_daemon_json("  \n", "d.json") == {}


@pytest.mark.parametrize("text,msg", [('{"a": 1,}', "not valid JSON"), ("[1]", "JSON object")])
def test_daemon_json_invalid(text, msg):
    with pytest.raises(ConfigError, match=msg):
        config.load_daemon_json(text, "/etc/docker/daemon.json")


def test_daemon_json_problems():
    assert (
        config.daemon_json_problems({"data-root": "/var/lib/docker/"}, "d", "/var/lib/docker") == []
    )
    assert (
        "data root" in config.daemon_json_problems({"data-root": "/srv"}, "d", "/var/lib/docker")[0]
    )
    assert (
        "storage-opts"
        in config.daemon_json_problems(
            {"storage-opts": ["overlay2.size=1G"]}, "d", "/var/lib/docker"
        )[0]
    )


@pytest.mark.parametrize(
    "cmd",
    ["dockerd -H fd:// --storage-driver=btrfs", "dockerd --storage-driver btrfs -H fd://",
     "dockerd -s btrfs -H fd://", "dockerd -sbtrfs -H fd://"],
)  # fmt: skip
def test_storage_driver_flag_removed(cmd):
    assert config.has_storage_driver(cmd)
    flag = config.UnitFlag("/lib/systemd/system/docker.service", cmd)
    assert flag.without_flag() == "dockerd -H fd://"


def test_other_flags_kept():
    assert not config.has_storage_driver(
        "dockerd -H fd:// --selinux-enabled --containerd=/run/c.sock"
    )


def test_effective_exec_start_follows_dropins():
    vendor = (
        "[Unit]\nDescription=x\n[Service]\nExecStart=/usr/bin/dockerd -H fd:// \\\n  -s overlay2\n"
    )
    reset = "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd://\n"
    assert config.effective_exec_start([("v", vendor)]) == (
        "v",
        "/usr/bin/dockerd -H fd:// -s overlay2",
    )
    assert config.effective_exec_start([("v", vendor), ("d", reset)]) == (
        "d",
        "/usr/bin/dockerd -H fd://",
    )
    assert config.effective_exec_start([("v", vendor), ("d", "[Service]\nExecStart=\n")]) is None


def test_dropin_resets_exec_start():
    text = config.dropin_text("/usr/bin/dockerd -H fd://")
    assert config.unit_exec_starts(text) == ["", "/usr/bin/dockerd -H fd://"]


def test_fstab_source_with_space_round_trips():
    line = config.fstab_line("/srv/my img", "/var/lib/docker", loop=True)
    assert line.startswith("/srv/my\\040img ")
    [entry] = config.parse_fstab(line)
    assert entry.source == "/srv/my img" and entry.line == line
    assert (
        config.fstab_with_entry(line + "\n", line, {"/srv/my img"}, "/var/lib/docker")
        == line + "\n"
    )
