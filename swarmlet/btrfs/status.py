"""`swarmlet btrfs status`: where Docker's storage is, from every place that decides it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from swarmlet.btrfs import config, engine, host
from swarmlet.btrfs.config import ConfigError, format_size


@dataclass
class Row:
    item: str
    state: str
    ok: bool | None  # None: information only


def gather(data_root: str, fstab: str, daemon_json: str, docker_host: str | None) -> list[Row]:
    rows = []
    root = os.path.realpath(data_root)
    info = engine.info(docker_host)
    mount = host.mount_at(root, engine_owns=engine.owns_root(info, root))
    backing = host.loop_backing_file(mount.source) if mount else None
    uuid = host.fs_uuid(mount.source) if mount and mount.source.startswith("/dev/") else None
    if mount:
        rows.append(Row("file system", mount.fstype, mount.fstype == "btrfs"))
        if backing:
            rows.append(Row("image", f"{backing} (on {mount.source})", None))
        else:
            rows.append(Row("device", mount.source + (f" UUID={uuid}" if uuid else ""), None))
        total, used, free = usage(root, mount.fstype)
        rows.append(
            Row(
                "size",
                f"{format_size(total)}, {format_size(used)} used, {format_size(free)} free",
                None,
            )
        )
        rows.append(Row("mount", f"{root} mounted", True))
    else:
        rows.append(Row("mount", f"{root} is not a mount point", False))

    sources = {s for s in (backing, mount.source if mount else None) if s}
    if uuid:
        sources |= {f"UUID={uuid}", f"/dev/disk/by-uuid/{uuid}"}
    entries = [
        e
        for e in config.parse_fstab(host.read_text(fstab) or "")
        if e.mountpoint == root.rstrip("/")
    ]
    if not entries:
        rows.append(Row("fstab", f"no entry for {root} in {fstab}", False))
    for e in entries:
        good = e.fstype == "btrfs" and len(entries) == 1 and (not sources or e.source in sources)
        rows.append(Row("fstab", f"{fstab}: {e.line}", good))

    try:
        conf = config.load_daemon_json(host.read_text(daemon_json), daemon_json)
        driver = conf.get("storage-driver")
        rows.append(
            Row(
                "daemon.json",
                f"{daemon_json}: storage-driver {driver!r}"
                if driver
                else f"{daemon_json}: no storage-driver",
                driver == "btrfs",
            )
        )
    except ConfigError as e:
        rows.append(Row("daemon.json", str(e), False))

    if info is None:
        rows.append(
            Row("engine", f"no engine answers at {docker_host or 'the default host'}", False)
        )
    else:
        driver = info.get("Driver", "")
        engine_root = info.get("DockerRootDir", "")
        rows.append(Row("engine", f"Storage Driver: {driver}", driver == "btrfs"))
        rows.append(Row("engine root", engine_root, os.path.realpath(engine_root) == root))
    return rows


def usage(root: str, fstype: str) -> tuple[int, int, int]:
    """Size, used and free bytes: btrfs's own figures when it can tell, else statvfs."""
    if fstype == "btrfs":
        res = host.run(["btrfs", "filesystem", "usage", "-b", root], check=False)
        figures = dict(
            re.findall(r"^\s*(Device size|Used|Free \(estimated\)):\s+(\d+)", res.stdout, re.M)
        )
        if len(figures) == 3:
            return (
                int(figures["Device size"]),
                int(figures["Used"]),
                int(figures["Free (estimated)"]),
            )
    st = os.statvfs(root)
    total = st.f_blocks * st.f_frsize
    return total, total - st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize


def render(rows: list[Row]) -> str:
    width = max(len(r.item) for r in rows)
    mark = {True: "ok", False: "WRONG", None: ""}
    lines = [f"{'ITEM':<{width}}  {'CHECK':<5}  STATE"]
    lines += [f"{r.item:<{width}}  {mark[r.ok]:<5}  {r.state}" for r in rows]
    return "\n".join(lines)


def status(data_root: str, fstab: str, daemon_json: str, docker_host: str | None) -> int:
    rows = gather(data_root, fstab, daemon_json, docker_host)
    print(render(rows))
    bad = [r.item for r in rows if r.ok is False]
    if bad:
        print(f"Not all agree on btrfs: check {', '.join(dict.fromkeys(bad))}.")
        return 1
    print("All agree: Docker's storage is btrfs.")
    return 0
