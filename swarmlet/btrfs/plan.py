"""What `btrfs setup` will do, decided from what was found on the host (no I/O here).

`check` lists the reasons to refuse; `build_plan` turns options and facts into the ordered
steps that `--dry-run` prints and the runner executes, so the plan shown is the plan run.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from swarmlet.btrfs import config
from swarmlet.btrfs.config import format_size

MIN_SIZE = 256 << 20
MIGRATE_HEADROOM = 64 << 20


@dataclass
class Options:
    device: str | None = None
    image: str | None = None
    size: int | None = None
    data_root: str = "/var/lib/docker"
    label: str = "docker"
    force: bool = False
    dry_run: bool = False
    no_restart: bool = False
    migrate: bool = False
    daemon_json: str = "/etc/docker/daemon.json"
    fstab: str = "/etc/fstab"
    docker_stop: list[str] = field(default_factory=list)
    docker_start: list[str] = field(default_factory=list)
    docker_host: str | None = None
    proc_filesystems: str = "/proc/filesystems"
    systemd_dirs: list[str] = field(default_factory=list)
    reload_systemd: bool = False
    migrate_dir: str | None = None

    @property
    def source(self) -> str:
        return self.image or self.device or ""


@dataclass
class Facts:
    """The host as probed before anything changes."""

    is_root: bool = True
    btrfs_supported: bool = True
    mkfs_found: bool = True
    # the data root
    data_root_entries: list[str] | None = None  # None: does not exist
    data_root_is_dir: bool = True
    data_root_mount: tuple[str, str] | None = None  # (fstype, source) when it is a mount point
    configured: bool = False  # it is already our btrfs, mounted
    # an image file
    image_exists: bool = False
    image_parent_free: int | None = None  # None: the folder does not exist
    image_signature: str | None = None
    image_loops: list[str] = field(default_factory=list)
    # a device
    device_is_block: bool = False
    device_signature: str | None = None
    device_mounts: list[str] = field(default_factory=list)
    device_holders: list[str] = field(default_factory=list)
    device_uuid: str | None = None
    # files
    fstab_text: str | None = None
    daemon_json_text: str | None = None
    daemon_json: dict | None = None
    daemon_json_error: str | None = None
    unit_flag: config.UnitFlag | None = None
    # the engine
    engine_running: bool = False
    engine_driver: str | None = None
    images: list[str] = field(default_factory=list)
    images_size: int = 0
    migrate_dir_free: int | None = None
    volumes_size: int = 0
    target_size: int | None = None  # of the device; an image's is --size
    aside: str = ""


@dataclass(frozen=True)
class Step:
    kind: str
    text: str
    args: dict = field(default_factory=dict)


def fstab_sources(opts: Options, facts: Facts) -> set[str]:
    if opts.image:
        return {opts.image, os.path.abspath(opts.image)}
    out = {opts.device or ""}
    if facts.device_uuid:
        out |= {f"UUID={facts.device_uuid}", f"/dev/disk/by-uuid/{facts.device_uuid}"}
    return out


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check(opts: Options, facts: Facts) -> list[str]:
    """Every reason to refuse; an empty list means the plan may run."""
    r = []
    if not facts.is_root:
        r.append("must run as root (it formats, mounts and edits /etc)")
    if not facts.btrfs_supported:
        r.append(
            f"the kernel has no btrfs support ({opts.proc_filesystems} does not list it); "
            "try `modprobe btrfs`, or install a kernel with btrfs"
        )
    if facts.daemon_json_error:
        r.append(facts.daemon_json_error)
    elif facts.daemon_json is not None:
        r.extend(config.daemon_json_problems(facts.daemon_json, opts.daemon_json, opts.data_root))
    sources = fstab_sources(opts, facts)
    r.extend(
        f"{opts.fstab}: {p}; remove that entry first"
        for p in config.fstab_conflicts(facts.fstab_text or "", sources, opts.data_root)
    )
    if facts.unit_flag and not opts.force:
        flag = facts.unit_flag
        r.append(
            f"Docker's unit passes a storage driver on the command line ({flag.path}: "
            f"ExecStart={flag.exec_start}); dockerd refuses to start when daemon.json sets one "
            "too. Fix: add a drop-in (e.g. /etc/systemd/system/docker.service.d/"
            f"{config.DROPIN_NAME}) with `[Service]`, `ExecStart=` and "
            f"`ExecStart={flag.without_flag()}`, then `systemctl daemon-reload`; "
            "or pass --force to have that drop-in written"
        )
    if opts.device and opts.size is not None:
        r.append("--size goes with --image: a device is used whole")
    if opts.migrate and opts.no_restart:
        r.append(
            "--migrate loads the images into the restarted engine: it cannot go with --no-restart"
        )
    if facts.configured:
        return r
    if not facts.mkfs_found:
        r.append("mkfs.btrfs not found: install the btrfs-progs package")
    if opts.image:
        r.extend(_check_image(opts, facts))
    else:
        r.extend(_check_device(opts, facts))
    r.extend(_check_data_root(opts, facts))
    if opts.migrate:
        r.extend(_check_migrate(opts, facts))
    return r


def _check_image(opts: Options, facts: Facts) -> list[str]:
    r = []
    image = opts.image or ""
    if _inside(image, opts.data_root):
        r.append(f"the image {image} cannot live inside the data root {opts.data_root}")
    if facts.image_loops:
        r.append(f"{image} is in use by {', '.join(facts.image_loops)}")
    if facts.image_exists:
        if facts.image_signature and not opts.force:
            r.append(
                f"{image} already exists and holds {facts.image_signature}; "
                "--force formats it (its data is lost)"
            )
        elif not opts.force:
            r.append(f"{image} already exists; remove it or pass --force to format it")
        return r
    if opts.size is None:
        r.append("--size is required with --image (e.g. --size 20G)")
        return r
    if opts.size < MIN_SIZE:
        r.append(
            f"--size {format_size(opts.size)} is too small: btrfs needs {format_size(MIN_SIZE)}"
        )
    if facts.image_parent_free is None:
        r.append(f"the folder {os.path.dirname(os.path.abspath(image))} does not exist")
    elif facts.image_parent_free < opts.size:
        r.append(
            f"not enough space for {image}: {format_size(opts.size)} wanted, "
            f"{format_size(facts.image_parent_free)} free in {os.path.dirname(os.path.abspath(image))}"
        )
    return r


def _check_device(opts: Options, facts: Facts) -> list[str]:
    dev = opts.device
    if not facts.device_is_block:
        return [f"{dev} is not a block device"]
    r = []
    if facts.device_mounts:
        r.append(f"{dev} is mounted at {', '.join(facts.device_mounts)}")
    if facts.device_holders:
        r.append(f"{dev} is in use by {', '.join(facts.device_holders)}")
    if facts.device_signature and not opts.force:
        r.append(f"{dev} holds {facts.device_signature}; --force formats it (its data is lost)")
    return r


def _check_data_root(opts: Options, facts: Facts) -> list[str]:
    root = opts.data_root
    if facts.data_root_mount:
        fstype, source = facts.data_root_mount
        return [f"the data root {root} is already a mount point ({fstype} from {source})"]
    if facts.data_root_entries is None:
        return []
    if not facts.data_root_is_dir:
        return [f"the data root {root} is not a folder"]
    if facts.data_root_entries and not (opts.force or opts.migrate):
        return [
            f"the data root {root} is not empty ({len(facts.data_root_entries)} entries): "
            "--migrate carries the images and volumes over, --force moves it aside "
            "(neither deletes it)"
        ]
    return []


def _check_migrate(opts: Options, facts: Facts) -> list[str]:
    r = []
    if not facts.engine_running:
        r.append("--migrate saves the images from the running engine, but no engine answers")
    if facts.migrate_dir_free is None:
        r.append(f"the folder for the saved images ({migrate_dir(opts)}) does not exist")
    elif facts.migrate_dir_free < facts.images_size + MIGRATE_HEADROOM:
        r.append(
            f"not enough space in {migrate_dir(opts)} to save the images: "
            f"{format_size(facts.images_size)} needed, {format_size(facts.migrate_dir_free)} free"
        )
    target = opts.size if opts.image else facts.target_size
    wanted = facts.images_size + facts.volumes_size + MIGRATE_HEADROOM
    if target is not None and target < wanted:
        r.append(
            f"the new file system ({format_size(target)}) is too small for the images and "
            f"volumes to carry over ({format_size(wanted)} with some room)"
        )
    if _inside(migrate_dir(opts), opts.data_root):
        r.append("the folder for the saved images cannot be inside the data root")
    return r


def migrate_dir(opts: Options) -> str:
    """Where the saved images wait: beside the data root, never inside it."""
    return opts.migrate_dir or os.path.dirname(os.path.abspath(opts.data_root).rstrip("/"))


def build_plan(opts: Options, facts: Facts) -> list[Step]:
    """The steps in order; empty when the host is already configured."""
    steps: list[Step] = []
    sources = fstab_sources(opts, facts)
    root = opts.data_root
    if not facts.configured:
        steps += _storage_steps(opts, facts)
    fstab = facts.fstab_text or ""
    if not any(config.fstab_matches(e, sources, root) for e in config.parse_fstab(fstab)):
        if opts.image:
            source = os.path.abspath(opts.image)
        elif facts.device_uuid:
            source = f"UUID={facts.device_uuid}"
        else:
            source = None  # the UUID of the file system this run makes
        shown = config.fstab_line(source or "UUID=<new-uuid>", root, loop=bool(opts.image))
        steps.append(
            Step(
                "write_fstab",
                f"add to {opts.fstab}: {shown}",
                {"source": source, "uuid_of": opts.device, "loop": bool(opts.image)},
            )
        )
    config_changed = False
    if (facts.daemon_json or {}).get("storage-driver") != "btrfs":
        old = (facts.daemon_json or {}).get("storage-driver")
        steps.append(
            Step(
                "write_daemon_json",
                f'set "storage-driver": "btrfs" in {opts.daemon_json}'
                + (f" (was {old!r})" if old else "")
                + " keeping its other settings",
            )
        )
        config_changed = True
    if facts.unit_flag and opts.force:
        path = os.path.join(opts.systemd_dirs[0], "docker.service.d", config.DROPIN_NAME)
        exec_start = facts.unit_flag.without_flag()
        steps.append(
            Step(
                "write_dropin",
                f"write {path} overriding ExecStart={exec_start} (the storage driver flag "
                f"in {facts.unit_flag.path} removed; the vendor unit is not edited)",
                {"path": path, "text": config.dropin_text(exec_start)},
            )
        )
        config_changed = True
    if facts.configured:
        wrong_driver = facts.engine_running and facts.engine_driver != "btrfs"
        if not (config_changed or wrong_driver) or opts.no_restart:
            return steps
        steps.append(Step("stop_docker", f"stop Docker: {_cmd(opts.docker_stop)}"))
    if not opts.no_restart:
        steps.append(Step("start_docker", f"start Docker: {_cmd(opts.docker_start)}"))
        steps.append(
            Step("verify", f"check that the engine ({opts.docker_host or 'default'}) reports btrfs")
        )
        if opts.migrate and facts.images:
            steps.append(Step("load_images", f"load the saved images: {', '.join(facts.images)}"))
    return steps


def _storage_steps(opts: Options, facts: Facts) -> list[Step]:
    steps = []
    root = opts.data_root
    target = opts.image or opts.device or ""
    if opts.image and not facts.image_exists:
        steps.append(
            Step(
                "create_image",
                f"create the sparse image file {opts.image} of {format_size(opts.size or 0)}",
                {"path": opts.image, "size": opts.size},
            )
        )
    force = bool(opts.force and (facts.image_signature or facts.device_signature))
    mkfs = ["mkfs.btrfs", *(["-f"] if force else []), "-L", opts.label, target]
    steps.append(Step("mkfs", _cmd(mkfs), {"argv": mkfs}))
    if opts.migrate and facts.images:
        steps.append(
            Step(
                "save_images",
                f"save the engine's images to a tar in {migrate_dir(opts)}: {', '.join(facts.images)}",
                {"tags": list(facts.images)},
            )
        )
    steps.append(Step("stop_docker", f"stop Docker: {_cmd(opts.docker_stop)}"))
    if facts.data_root_entries:
        steps.append(
            Step(
                "move_aside",
                f"move the old data root {root} aside to {facts.aside} (kept, not deleted)",
                {"src": root, "dst": facts.aside},
            )
        )
    if facts.data_root_entries is None or facts.data_root_entries:
        steps.append(Step("mkdir", f"create the folder {root}", {"path": root}))
    loop = bool(opts.image)
    mount = ["mount", "-t", "btrfs", *(["-o", "loop"] if loop else []), target, root]
    steps.append(Step("mount", _cmd(mount), {"argv": mount, "source": target, "loop": loop}))
    if opts.migrate and facts.data_root_entries and "volumes" in facts.data_root_entries:
        steps.append(
            Step(
                "copy_volumes",
                f"copy the volumes from {facts.aside}/volumes to {root}/volumes",
                {"src": os.path.join(facts.aside, "volumes"), "dst": os.path.join(root, "volumes")},
            )
        )
    return steps


def _cmd(argv: list[str]) -> str:
    return shlex.join(argv)
