"""`swarmlet btrfs setup`: probe the host, refuse or plan, run the plan step by step.

Each step registers how to undo itself before or as it changes anything; a failure (or ^C)
unwinds those undos in reverse order and reports what state the host is left in.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable

from swarmlet.btrfs import config, engine, host
from swarmlet.btrfs.config import ConfigError, format_size
from swarmlet.btrfs.host import StepError
from swarmlet.btrfs.plan import Facts, Options, Step, build_plan, check, migrate_dir

UNIT_NAME = "docker.service"


def log(msg: str) -> None:
    print(msg, flush=True)


def probe(opts: Options) -> Facts:
    f = Facts()
    f.is_root = os.geteuid() == 0
    fs_text = host.read_text(opts.proc_filesystems) or ""
    f.btrfs_supported = any(line.split()[-1:] == ["btrfs"] for line in fs_text.splitlines())
    f.mkfs_found = shutil.which("mkfs.btrfs") is not None
    root = opts.data_root
    f.data_root_entries = host.dir_entries(root) if os.path.isdir(root) else None
    f.data_root_is_dir = os.path.isdir(root) or not os.path.lexists(root)
    if os.path.lexists(root) and not os.path.isdir(root):
        f.data_root_entries = []
    info = engine.info(opts.docker_host)
    f.engine_running = info is not None
    f.engine_driver = (info or {}).get("Driver")
    mount = host.mount_at(root, engine_owns=engine.owns_root(info, root))
    if mount:
        f.data_root_mount = (mount.fstype, mount.source)
    if opts.image:
        image = os.path.abspath(opts.image)
        f.image_exists = os.path.lexists(image)
        parent = os.path.dirname(image)
        f.image_parent_free = host.free_bytes(parent) if os.path.isdir(parent) else None
        f.image_loops = host.loops_of_file(image)
        if f.image_exists:
            f.image_signature = host.fs_signature(image)
        if mount and mount.fstype == "btrfs" and host.loop_backing_file(mount.source) == image:
            f.configured = True
            f.image_loops = []
    else:
        dev = opts.device or ""
        f.device_is_block = os.path.exists(dev) and stat.S_ISBLK(os.stat(dev).st_mode)
        if f.device_is_block:
            f.device_mounts = host.mounts_of_device(dev)
            f.device_holders = host.holders(dev)
            for part in host.partitions(dev):
                f.device_mounts += host.mounts_of_device(part)
                f.device_holders += [f"{h} (on {part})" for h in host.holders(part)]
            f.target_size = host.device_size(dev)
            f.device_signature = host.fs_signature(dev)
            if (
                mount
                and mount.fstype == "btrfs"
                and os.path.realpath(mount.source) == os.path.realpath(dev)
            ):
                f.configured = True
                f.device_uuid = host.fs_uuid(dev)
    f.fstab_text = host.read_text(opts.fstab)
    f.daemon_json_text = host.read_text(opts.daemon_json)
    try:
        f.daemon_json = config.load_daemon_json(f.daemon_json_text, opts.daemon_json)
    except ConfigError as e:
        f.daemon_json_error = str(e)
    f.unit_flag = find_unit_flag(opts.systemd_dirs)
    if opts.migrate and f.engine_running and not f.configured:
        f.images, f.images_size = engine.tagged_images(opts.docker_host)
        f.volumes_size = host.tree_size(os.path.join(root, "volumes"))
        mdir = migrate_dir(opts)
        f.migrate_dir_free = host.free_bytes(mdir) if os.path.isdir(mdir) else None
    f.aside = aside_name(root)
    return f


def aside_name(root: str) -> str:
    """A new name beside the data root for its old contents."""
    base = f"{root.rstrip('/')}.pre-btrfs-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while os.path.lexists(name):
        n += 1
        name = f"{base}-{n}"
    return name


def unit_files(dirs: list[str]) -> list[tuple[str, str]]:
    """Docker's unit and its drop-ins, in the order systemd reads them."""
    files = []
    for d in dirs:
        text = host.read_text(os.path.join(d, UNIT_NAME))
        if text is not None:
            files.append((os.path.join(d, UNIT_NAME), text))
            break
    dropins: dict[str, str] = {}
    for d in reversed(dirs):  # a drop-in in an earlier folder masks one of the same name
        folder = os.path.join(d, UNIT_NAME + ".d")
        for name in host.dir_entries(folder) or []:
            if name.endswith(".conf"):
                dropins[name] = os.path.join(folder, name)
    for name in sorted(dropins):
        files.append((dropins[name], host.read_text(dropins[name]) or ""))
    return files


def find_unit_flag(dirs: list[str]) -> config.UnitFlag | None:
    found = config.effective_exec_start(unit_files(dirs))
    if found and config.has_storage_driver(found[1]):
        return config.UnitFlag(*found)
    return None


class Runner:
    """Runs steps in order and keeps the undo stack."""

    def __init__(self, opts: Options, facts: Facts):
        self.opts, self.facts = opts, facts
        self.undo: list[tuple[str, Callable[[], None]]] = []
        self.tmp: str | None = None
        self.notes: list[str] = []
        self.irreversible: list[str] = []

    def run(self, steps: list[Step]) -> int:
        n = len(steps)
        current = None
        try:
            for i, s in enumerate(steps, 1):
                current = s
                log(f"[{i}/{n}] {s.text}")
                getattr(self, "do_" + s.kind)(s)
        except BaseException as e:
            reason = str(e) or type(e).__name__
            if isinstance(e, KeyboardInterrupt):
                reason = "interrupted"
            log(f"FAILED: {current.text if current else 'setup'}: {reason}")
            self.rollback()
            return 130 if isinstance(e, KeyboardInterrupt) else 1
        finally:
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
        log(
            f"Done: {self.opts.data_root} is btrfs on {self.opts.source}; "
            + (
                "Docker was not restarted (--no-restart)."
                if self.opts.no_restart
                else "the engine reports the btrfs storage driver."
            )
        )
        for note in self.notes:
            log(note)
        return 0

    def rollback(self) -> None:
        """Undo in reverse order; a second ^C or SIGTERM must not cut the rollback short."""
        saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._rollback()
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    def _rollback(self) -> None:
        if not self.undo and not self.irreversible:
            log("Nothing had been changed: the host is as it was.")
            return
        log("Rolling back what this run did:")
        failed = []
        for text, fn in reversed(self.undo):
            try:
                fn()
                log(f"  undone: {text}")
            except Exception as e:
                failed.append(f"{text} ({e})")
                log(f"  COULD NOT UNDO: {text}: {e}")
        if failed:
            log("The host is NOT back to how it was; still to fix by hand:")
            for f in failed:
                log(f"  - {f}")
        elif self.irreversible:
            log(
                "The host is back to how it was before this run, except: "
                + "; ".join(self.irreversible)
                + "."
            )
        else:
            log("The host is back to how it was before this run.")

    def _push(self, text: str, fn: Callable[[], None]) -> None:
        self.undo.append((text, fn))

    # ---------------------------------------------------------------- steps

    def do_create_image(self, s: Step) -> None:
        path = s.args["path"]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._push(f"removed the image file {path}", lambda: os.unlink(path))
        try:
            os.ftruncate(fd, s.args["size"])
        finally:
            os.close(fd)

    def do_mkfs(self, s: Step) -> None:
        host.run(s.args["argv"])
        if self.opts.device:
            self.irreversible.append(f"{self.opts.device} now holds an empty btrfs file system")

    def do_save_images(self, s: Step) -> None:
        self.tmp = tempfile.mkdtemp(prefix=".swarmlet-btrfs-images-", dir=migrate_dir(self.opts))
        path = os.path.join(self.tmp, "images.tar")
        engine.save_images(self.opts.docker_host, s.args["tags"], path)
        log(f"      saved {format_size(os.path.getsize(path))} to {path}")

    def _stop(self) -> None:
        res = host.run(self.opts.docker_stop, check=False)
        if engine.info(self.opts.docker_host) is not None:
            detail = (res.stderr or res.stdout).strip()
            raise StepError(
                f"Docker still answers after `{' '.join(self.opts.docker_stop)}`"
                + (f": {detail}" if detail else "")
            )

    def _start(self) -> None:
        host.run(self.opts.docker_start)

    def _start_and_wait(self) -> None:
        self._start()
        engine.wait_for_info(self.opts.docker_host)

    def do_stop_docker(self, s: Step) -> None:
        was_running = engine.info(self.opts.docker_host) is not None
        if was_running:
            self._push("started Docker again", self._start_and_wait)
        self._stop()

    def do_move_aside(self, s: Step) -> None:
        src, dst = s.args["src"], s.args["dst"]
        if os.path.lexists(dst):
            raise StepError(f"{dst} appeared meanwhile; not moving {src} onto it")
        os.rename(src, dst)
        self._push(f"moved {dst} back to {src}", lambda: os.rename(dst, src))
        self.notes.append(
            f"The old data root is kept at {dst}; delete it when you no longer need it."
        )

    def do_mkdir(self, s: Step) -> None:
        path = s.args["path"]
        os.makedirs(path, mode=0o710)
        self._push(f"removed the folder {path}", lambda: os.rmdir(path))

    def do_mount(self, s: Step) -> None:
        src, target, argv = s.args["source"], s.args["argv"][-1], s.args["argv"]

        def unmount() -> None:
            host.run(["umount", target])
            for loop in host.loops_of_file(src) if s.args["loop"] else []:
                host.run(["losetup", "-d", loop])

        self._push(f"unmounted {target}", unmount)
        try:
            host.run(argv)
        except StepError:
            self.undo.pop()
            for loop in host.loops_of_file(src) if s.args["loop"] else []:
                host.run(["losetup", "-d", loop], check=False)
            raise
        os.chmod(target, 0o710)

    def do_copy_volumes(self, s: Step) -> None:
        host.run(["cp", "-a", "--reflink=auto", s.args["src"], s.args["dst"]], timeout=3600)

    def do_write_fstab(self, s: Step) -> None:
        source = s.args["source"]
        if source is None:
            uuid = host.fs_uuid(s.args["uuid_of"])
            if not uuid:
                raise StepError(f"no UUID found on {s.args['uuid_of']}")
            source = f"UUID={uuid}"
            log(f"      the new file system is {source}")
        line = config.fstab_line(source, self.opts.data_root, loop=s.args["loop"])
        old = self.facts.fstab_text
        new = config.fstab_with_entry(old or "", line, {source}, self.opts.data_root)
        self._reload_systemd_after(lambda: self._write_restorable(self.opts.fstab, old, new))

    def do_write_daemon_json(self, s: Step) -> None:
        text = config.daemon_json_with_btrfs(self.facts.daemon_json or {})
        self._write_restorable(self.opts.daemon_json, self.facts.daemon_json_text, text)

    def do_write_dropin(self, s: Step) -> None:
        path = s.args["path"]
        self._reload_systemd_after(
            lambda: self._write_restorable(path, host.read_text(path), s.args["text"])
        )

    def _reload_systemd_after(self, change: Callable[[], None]) -> None:
        """Make a unit or fstab change, and systemd see it (also when it is undone)."""
        if not self.opts.reload_systemd:
            change()
            return
        reload = ["systemctl", "daemon-reload"]
        self._push("reloaded systemd", lambda: host.run(reload))  # undone after the change is
        change()
        host.run(reload)

    def _write_restorable(self, path: str, old: str | None, new: str) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o755)
            self._push(f"removed the folder {folder}", lambda: os.rmdir(folder))
        self._push(
            f"restored {path}" if old is not None else f"removed {path}",
            lambda: host.restore_text(path, old),
        )
        host.write_atomic(path, new)

    def do_start_docker(self, s: Step) -> None:
        self._push("stopped Docker", self._stop)
        self._start()

    def do_verify(self, s: Step) -> None:
        info = engine.wait_for_info(self.opts.docker_host)
        driver, root = info.get("Driver", ""), info.get("DockerRootDir", "")
        if driver != "btrfs":
            raise StepError(f"the engine reports the storage driver {driver!r}, not btrfs")
        if not engine.owns_root(info, self.opts.data_root):
            raise StepError(f"the engine's data root is {root}, not {self.opts.data_root}")
        log(f"      the engine reports: Storage Driver: btrfs, Docker Root Dir: {root}")

    def do_load_images(self, s: Step) -> None:
        assert self.tmp
        engine.load_images(self.opts.docker_host, os.path.join(self.tmp, "images.tar"))


def setup(opts: Options) -> int:
    facts = probe(opts)
    refusals = check(opts, facts)
    if refusals:
        for r in refusals:
            print(f"swarmlet btrfs setup: refused: {r}", file=sys.stderr)
        print("Nothing was changed.", file=sys.stderr)
        return 1
    steps = build_plan(opts, facts)
    if not steps:
        log(
            f"already configured: {opts.data_root} is btrfs on {opts.source}, in {opts.fstab} "
            f"and {opts.daemon_json}; nothing changed"
        )
        if not facts.engine_running:
            log(f"Docker is not running; start it with: {' '.join(opts.docker_start)}")
        return 0
    if opts.migrate:
        log(
            "Note: containers are not carried over to btrfs (recreate them afterwards); "
            "tagged images and volumes are."
        )
    if opts.dry_run:
        log("Plan (dry run, nothing is changed):")
        for i, s in enumerate(steps, 1):
            log(f"  {i}. {s.text}")
        return 0
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return Runner(opts, facts).run(steps)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    """SIGTERM unwinds like ^C, so that the rollback runs."""
    raise KeyboardInterrupt
