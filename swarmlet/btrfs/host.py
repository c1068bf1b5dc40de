"""Reading and changing the host: mounts, loop devices, block devices, files, commands."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass


class StepError(RuntimeError):
    """A command or change that failed; the message is what the operator needs to read."""


def run(
    argv: list[str], *, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise StepError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise StepError(f"{shlex.join(argv)}: no answer after {timeout:.0f}s") from None
    if check and res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise StepError(
            f"{shlex.join(argv)} exited with {res.returncode}"
            + (f": {detail[-1]}" if detail else "")
        )
    return res


# ---------------------------------------------------------------- mounts


@dataclass(frozen=True)
class Mount:
    mountpoint: str
    fstype: str
    source: str
    major_minor: str


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts() -> list[Mount]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            lf, rf = left.split(), right.split()
            out.append(Mount(_unescape(lf[4]), rf[0], _unescape(rf[1]), lf[2]))
    return out


def mount_at(path: str, *, engine_owns: bool = False) -> Mount | None:
    """The topmost mount whose mount point is exactly `path`.

    A running dockerd bind-mounts its data root onto itself (and removes that when it stops);
    with `engine_owns`, such a bind is looked through to what is mounted beneath it.
    """
    real = os.path.realpath(path)
    stack = [m for m in mounts() if m.mountpoint == real]
    if engine_owns and stack:
        beneath = stack[-2].major_minor if len(stack) > 1 else _dev_of(os.path.dirname(real))
        if stack[-1].major_minor == beneath:
            stack.pop()
    return stack[-1] if stack else None


def _dev_of(path: str) -> str:
    st = os.stat(path)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def mounts_of_device(dev: str) -> list[str]:
    """Mount points of a block device, by major:minor or by source (btrfs shows its own dev)."""
    try:
        st = os.stat(dev)
    except OSError:
        return []
    mm = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    real = os.path.realpath(dev)
    return list(
        dict.fromkeys(
            m.mountpoint
            for m in mounts()
            if m.major_minor == mm
            or (m.source.startswith("/") and os.path.realpath(m.source) == real)
        )
    )


def loop_backing_file(dev: str) -> str | None:
    name = os.path.basename(os.path.realpath(dev))
    try:
        with open(f"/sys/block/{name}/loop/backing_file") as f:
            return f.read().strip()
    except OSError:
        return None


def loops_of_file(path: str) -> list[str]:
    """Loop devices backed by `path`."""
    real = os.path.realpath(path)
    out = []
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return []
    for name in names:
        if name.startswith("loop") and loop_backing_file(name) == real:
            out.append(f"/dev/{name}")
    return out


def holders(dev: str) -> list[str]:
    """What uses a block device: device-mapper, md, ... (from sysfs), and swap."""
    name = os.path.basename(os.path.realpath(dev))
    try:
        out = os.listdir(f"/sys/class/block/{name}/holders")
    except OSError:
        out = []
    swaps = (read_text("/proc/swaps") or "").splitlines()[1:]
    if any(os.path.realpath(line.split()[0]) == os.path.realpath(dev) for line in swaps if line):
        out.append("swap")
    return out


def partitions(dev: str) -> list[str]:
    """The partitions of a disk, as /dev paths."""
    name = os.path.basename(os.path.realpath(dev))
    base = f"/sys/class/block/{name}"
    try:
        children = os.listdir(base)
    except OSError:
        return []
    return [f"/dev/{c}" for c in children if os.path.exists(f"{base}/{c}/partition")]


def device_size(dev: str) -> int | None:
    name = os.path.basename(os.path.realpath(dev))
    text = read_text(f"/sys/class/block/{name}/size")
    return int(text) * 512 if text and text.strip().isdigit() else None


def tree_size(path: str) -> int:
    """Bytes allocated under a folder (like `du`), without following links."""
    total = 0
    for base, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(base, name)).st_blocks * 512
            except OSError:
                pass
    return total


def fs_signature(path: str) -> str | None:
    """What blkid finds on a device or file (file system or partition table), or None."""
    res = run(["blkid", "-p", "-o", "export", path], check=False)
    if res.returncode == 2 or not res.stdout.strip():
        return None
    if res.returncode != 0:
        raise StepError(f"blkid {path}: {(res.stderr or res.stdout).strip()}")
    fields = dict(ln.split("=", 1) for ln in res.stdout.splitlines() if "=" in ln)
    if "TYPE" in fields:
        return fields["TYPE"]
    if "PTTYPE" in fields:
        return f"partition table ({fields['PTTYPE']})"
    return fields.get("USAGE", "unknown signature")


def fs_uuid(dev: str) -> str | None:
    res = run(["blkid", "-p", "-s", "UUID", "-o", "value", dev], check=False)
    return res.stdout.strip() or None


def free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# ---------------------------------------------------------------- files


def read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_atomic(path: str, text: str, *, default_mode: int = 0o644) -> None:
    """Replace `path` in one rename, keeping its mode and owner (or `default_mode` if new)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    try:
        st = os.stat(path)
        mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = default_mode, None
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if owner:
                os.fchown(f.fileno(), *owner)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def restore_text(path: str, text: str | None) -> None:
    """Put a file back as it was: its old content, or absent if it did not exist."""
    if text is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        write_atomic(path, text)


def dir_entries(path: str) -> list[str] | None:
    """Names in a folder, or None when it does not exist."""
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return None


def systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system")
