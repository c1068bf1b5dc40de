"""The plan `btrfs setup` runs (and `--dry-run` prints), and its refusals, from probed facts."""

from swarmlet.btrfs import config
from swarmlet.btrfs.plan import Facts, Options, build_plan, check

IMG = "/srv/docker.img"
ROOT = "/var/lib/docker"


def opts(**kw) -> Options:
    base = dict(image=IMG, size=20 << 30, data_root=ROOT, docker_stop=["stop"], docker_start=["start"],
                systemd_dirs=["/etc/systemd/system"])  # fmt: skip
    base.update(kw)
    return Options(**base)


def facts(**kw) -> Facts:
    base = dict(image_parent_free=100 << 30, data_root_entries=[], aside=ROOT + ".pre-btrfs-x")
    base.update(kw)
    return Facts(**base)


def kinds(o, f) -> list[str]:
    assert check(o, f) == []
    return [s.kind for s in build_plan(o, f)]


def test_fresh_image_plan():
    assert kinds(opts(), facts()) == [
        "create_image", "mkfs", "stop_docker", "mount", "write_fstab", "write_daemon_json",
        "start_docker", "verify",
    ]  # fmt: skip


def test_configured_host_has_nothing_to_do():
    line = config.fstab_line(IMG, ROOT, loop=True)
    f = facts(configured=True, fstab_text=line + "\n", daemon_json={"storage-driver": "btrfs"},
              engine_running=True, engine_driver="btrfs")  # fmt: skip
    assert kinds(opts(), f) == []


def test_configured_host_missing_daemon_json_restarts():
    line = config.fstab_line(IMG, ROOT, loop=True)
    f = facts(configured=True, fstab_text=line + "\n", daemon_json={}, engine_running=True,
              engine_driver="overlay2")  # fmt: skip
    assert kinds(opts(), f) == ["write_daemon_json", "stop_docker", "start_docker", "verify"]


def test_non_empty_root_refused_without_force_and_moved_with_it():
    f = facts(data_root_entries=["image", "overlay2"])
    assert any("is not empty" in r for r in check(opts(), f))
    assert kinds(opts(force=True), f)[2:5] == ["stop_docker", "move_aside", "mkdir"]


def test_migrate_saves_before_stop_and_loads_after_verify():
    f = facts(data_root_entries=["volumes", "image"], engine_running=True, images=["t:1"],
              images_size=1 << 20, migrate_dir_free=10 << 30)  # fmt: skip
    k = kinds(opts(migrate=True), f)
    assert k.index("save_images") < k.index("stop_docker")
    assert k.index("mount") < k.index("copy_volumes") < k.index("start_docker")
    assert k[-2:] == ["verify", "load_images"]


def test_refusals():
    assert any("root" in r for r in check(opts(), facts(is_root=False)))
    assert any("btrfs support" in r for r in check(opts(), facts(btrfs_supported=False)))
    assert any("btrfs-progs" in r for r in check(opts(), facts(mkfs_found=False)))
    assert any("not enough space" in r for r in check(opts(size=1000 << 40), facts()))
    assert any(
        "mount point" in r for r in check(opts(), facts(data_root_mount=("ext4", "/dev/vda")))
    )
    assert any("already exists" in r for r in check(opts(), facts(image_exists=True)))
    assert any(
        "--no-restart" in r
        for r in check(
            opts(migrate=True, no_restart=True),
            facts(engine_running=True, migrate_dir_free=1 << 40),
        )
    )
    assert any("inside the data root" in r for r in check(opts(image=ROOT + "/x.img"), facts()))


def test_device_with_file_system_needs_force():
    o = opts(image=None, size=None, device="/dev/vdb")
    f = facts(device_is_block=True, device_signature="ext4")
    assert any("holds ext4" in r for r in check(o, f))
    plan = build_plan(opts(image=None, size=None, device="/dev/vdb", force=True), f)
    assert plan[0].text == "mkfs.btrfs -f -L docker /dev/vdb"
    assert any(
        "mounted at" in r for r in check(o, facts(device_is_block=True, device_mounts=["/mnt"]))
    )


def test_unit_flag_reported_then_fixed_by_dropin_with_force():
    flag = config.UnitFlag(
        "/lib/systemd/system/docker.service", "/usr/bin/dockerd -H fd:// -s overlay2"
    )
    [refusal] = check(opts(), facts(unit_flag=flag))
    assert "ExecStart=/usr/bin/dockerd -H fd://`" in refusal and "--force" in refusal
    steps = build_plan(opts(force=True), facts(unit_flag=flag))
    [dropin] = [s for s in steps if s.kind == "write_dropin"]
    assert dropin.args["path"] == "/etc/systemd/system/docker.service.d/" + config.DROPIN_NAME
    assert "ExecStart=\nExecStart=/usr/bin/dockerd -H fd://\n" in dropin.args["text"]


def test_migrate_refused_when_new_file_system_too_small():
    f = facts(data_root_entries=["image"], engine_running=True, images=["t:1"],
              images_size=900 << 20, volumes_size=200 << 20, migrate_dir_free=10 << 30)  # fmt: skip
    assert any("too small for the images" in r for r in check(opts(size=1 << 30, migrate=True), f))
    assert check(opts(size=2 << 30, migrate=True), f) == []
    assert any(
        "no engine answers" in r for r in check(opts(migrate=True), facts(migrate_dir_free=1 << 40))
    )


def test_dry_run_plan_names_the_exact_commands():
    texts = [s.text for s in build_plan(opts(), facts())]
    assert texts[1] == f"mkfs.btrfs -L docker {IMG}"
    assert f"mount -t btrfs -o loop {IMG} {ROOT}" in texts
    assert any(t.endswith(config.fstab_line(IMG, ROOT, loop=True)) for t in texts)
    assert "stop Docker: stop" in texts and "start Docker: start" in texts


def test_cli_builds_options_and_default_docker_commands(monkeypatch):
    import argparse

    from swarmlet.btrfs import cli

    parser = argparse.ArgumentParser(prog="swarmlet")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["btrfs", "setup", "--image", "x.img", "--size", "2G", "--migrate"])
    assert args.func is cli._setup and args.size == 2 << 30 and args.migrate
    assert cli._docker_command("sh /x/stop.sh", "stop") == ["sh", "/x/stop.sh"]
    monkeypatch.setattr(cli.os.path, "isdir", lambda p: False)
    assert cli._docker_command(None, "start") == ["service", "docker", "start"]
    args = parser.parse_args(["btrfs", "status", "--data-root", "/srv/d"])
    assert args.func is cli._status and args.data_root == "/srv/d"
