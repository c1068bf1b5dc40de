"""Pure text handling for the files `btrfs setup` edits: sizes, fstab, daemon.json, Docker's unit.

Nothing here touches the host, so every rule about what gets written is testable on strings.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


class ConfigError(ValueError):
    """A file or value that cannot be used as it is; the message says why and what to do."""


def parse_size(text: str) -> int:
    """`512M`, `20G`, `1.5T`, `1000000` (bytes) or with `iB`/`B` suffixes; binary units."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ConfigError(f"invalid size {text!r}: use a number with K, M, G or T (e.g. 20G)")
    value = int(float(m.group(1)) * _UNITS[m.group(2)])
    if value <= 0:
        raise ConfigError(f"invalid size {text!r}: must be more than zero")
    return value


def format_size(n: int) -> str:
    """Bytes as a short binary-unit figure (`1.5GiB`)."""
    for unit in ("PiB", "TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit[0]]
        if n >= scale:
            return f"{n / scale:.1f}{unit}".replace(".0", "")
    return f"{n}B"


# ---------------------------------------------------------------- fstab

FSTAB_BOOT_OPTIONS = "nofail,x-systemd.before=docker.service"


@dataclass(frozen=True)
class FstabEntry:
    source: str
    mountpoint: str
    fstype: str
    options: str
    line_no: int

    @property
    def line(self) -> str:
        source, mountpoint = _fstab_escape(self.source), _fstab_escape(self.mountpoint)
        return f"{source} {mountpoint} {self.fstype} {self.options} 0 0"


def fstab_line(source: str, mountpoint: str, *, loop: bool) -> str:
    """The entry for the data root: `loop` for an image file, ordered before Docker at boot.

    `nofail` keeps a host booting when the image or disk is missing; Docker, configured for
    btrfs, then refuses to start on the bare folder instead of filling the root file system.
    """
    options = ("loop," if loop else "") + "defaults," + FSTAB_BOOT_OPTIONS
    return f"{_fstab_escape(source)} {_fstab_escape(mountpoint)} btrfs {options} 0 0"


def _fstab_escape(path: str) -> str:
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def _fstab_unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for no, raw in enumerate(text.splitlines()):
        fields = raw.split("#", 1)[0].split()
        if len(fields) < 3:
            continue
        options = fields[3] if len(fields) > 3 else "defaults"
        entries.append(
            FstabEntry(
                _fstab_unescape(fields[0]),
                _norm(_fstab_unescape(fields[1])),
                fields[2],
                options,
                no,
            )
        )
    return entries


def _norm(path: str) -> str:
    return path.rstrip("/") or "/"


def fstab_matches(entry: FstabEntry, sources: set[str], mountpoint: str) -> bool:
    return (
        entry.source in sources
        and entry.mountpoint == _norm(mountpoint)
        and entry.fstype == "btrfs"
    )


def fstab_conflicts(text: str, sources: set[str], mountpoint: str) -> list[str]:
    """Entries that would fight ours: something else at the data root, or our source elsewhere."""
    problems = []
    for e in parse_fstab(text):
        if fstab_matches(e, sources, mountpoint):
            continue
        if e.mountpoint == _norm(mountpoint) or e.source in sources:
            problems.append(f"line {e.line_no + 1} already mounts {e.source} at {e.mountpoint}")
    return problems


def fstab_with_entry(text: str, line: str, sources: set[str], mountpoint: str) -> str:
    """The fstab with exactly one entry of ours: unchanged when one is already there."""
    if any(fstab_matches(e, sources, mountpoint) for e in parse_fstab(text)):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    return text + line + "\n"


# ---------------------------------------------------------------- daemon.json


def load_daemon_json(text: str | None, path: str) -> dict:
    """The engine's config as a dict; a missing or empty file is `{}`, bad JSON is an error."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"{path} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
            "fix it first: Docker would not start with it either"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def daemon_json_problems(config: dict, path: str, data_root: str) -> list[str]:
    """Settings that would make the engine ignore or refuse the btrfs data root."""
    problems = []
    root = config.get("data-root") or config.get("graph")
    if root and _norm(str(root)) != _norm(data_root):
        problems.append(
            f"{path} sets the engine's data root to {root}, not {data_root}; "
            f"pass --data-root {root} or change it"
        )
    opts = config.get("storage-opts") or []
    foreign = [o for o in opts if not str(o).startswith("btrfs.")]
    if foreign:
        problems.append(
            f"{path} has storage-opts for another driver ({', '.join(map(str, foreign))}); "
            "the btrfs driver refuses them: remove them"
        )
    return problems


def daemon_json_with_btrfs(config: dict) -> str:
    merged = dict(config)
    merged["storage-driver"] = "btrfs"
    return json.dumps(merged, indent=2) + "\n"


# ---------------------------------------------------------------- Docker's systemd unit

DROPIN_NAME = "zz-swarmlet-storage-driver.conf"


@dataclass(frozen=True)
class UnitFlag:
    """An ExecStart of Docker's unit that passes a storage driver on the command line."""

    path: str
    exec_start: str

    def without_flag(self) -> str:
        return shlex.join(strip_storage_driver(shlex.split(self.exec_start)))


def strip_storage_driver(argv: list[str]) -> list[str]:
    """dockerd's argv without `--storage-driver X`, `--storage-driver=X`, `-s X`, `-sX`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--storage-driver", "-s"):
            skip = True
        elif arg.startswith("--storage-driver=") or (
            arg.startswith("-s") and not arg.startswith("--") and len(arg) > 2
        ):
            pass
        else:
            out.append(arg)
    return out


def has_storage_driver(exec_start: str) -> bool:
    try:
        argv = shlex.split(exec_start)
    except ValueError:
        return "--storage-driver" in exec_start
    return strip_storage_driver(argv) != argv


def unit_exec_starts(text: str) -> list[str]:
    """ExecStart= values of a unit or drop-in, in order (an empty value resets the list)."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    section, values = "", []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and line.startswith("ExecStart="):
            values.append(line[len("ExecStart=") :].strip().lstrip("-@+!:"))
    return values


def effective_exec_start(files: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The ExecStart that systemd would use, and the file it came from.

    `files` is the unit followed by its drop-ins in the order systemd reads them.
    """
    current: tuple[str, str] | None = None
    for path, text in files:
        for value in unit_exec_starts(text):
            current = None if value == "" else (path, value)
    return current


def dropin_text(exec_start: str) -> str:
    return (
        "# Written by `swarmlet btrfs setup --force`: the storage driver is set in daemon.json,\n"
        "# and dockerd refuses to start when it is given both there and as a flag.\n"
        f"[Service]\nExecStart=\nExecStart={exec_start}\n"
    )
