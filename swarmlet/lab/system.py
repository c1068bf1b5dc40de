"""Machine-level helpers for the lab: commands, processes, mounts."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from swarmlet.lab.layout import LabError

# Command -> Debian package that provides it.
PREREQUISITES = {
    "dockerd": "docker.io",
    "docker-registry": "docker-registry",
    "busybox": "busybox-static",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "iptables": "iptables",
    "nft": "nftables",
    "ip": "iproute2",
}
BUSYBOX = "/bin/busybox"


def run(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; on failure raise LabError naming the command and its stderr."""
    proc = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        raise LabError(f"{' '.join(argv)}: {err or f'exit status {proc.returncode}'}")
    return proc


def spawn_detached(
    argv: list[str], log_path: str, env: dict | None = None, cwd: str | None = None
) -> subprocess.Popen:
    """Start a long-lived process in its own session, output appended to log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def service_env() -> dict[str, str]:
    """Environment for the lab's engines and registry: no proxy settings, since every
    address they talk to is inside the lab."""
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}
    return {k: v for k, v in os.environ.items() if k.lower() not in proxies}


def environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return {}
    return dict(i.decode(errors="replace").split("=", 1) for i in items if b"=" in i)


def netns_cmd(netns_path: str, uts_path: str | None = None) -> list[str]:
    """Prefix that runs a command as a lab host (not `ip netns exec`: it remounts /sys)."""
    argv = ["nsenter", f"--net={netns_path}"]
    if uts_path:
        argv.insert(1, f"--uts={uts_path}")
    return argv


def missing_prerequisites() -> list[str]:
    """Human-readable lines for what this machine lacks to run a lab."""
    import shutil

    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (the lab makes namespaces, bridges and engines)")
    packages: dict[str, list[str]] = {}
    for cmd, pkg in PREREQUISITES.items():
        if shutil.which(cmd) is None:
            packages.setdefault(pkg, []).append(cmd)
    if "busybox-static" not in packages and not is_static(BUSYBOX):
        packages.setdefault("busybox-static", []).append(f"{BUSYBOX} (statically linked)")
    for pkg, cmds in sorted(packages.items()):
        problems.append(f"missing {', '.join(cmds)}: apt-get install -y {pkg}")
    return problems


def is_static(path: str) -> bool:
    """True when the ELF file has no program interpreter (PT_INTERP)."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            (phoff,) = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def ancestors(pid: int) -> set[int]:
    seen = set()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        pid = _ppid(pid)
    return seen


def lab_processes(folder: str, netns_paths: list[str]) -> set[int]:
    """Processes that belong to a lab: they name its folder, or live in one of its
    network namespaces; plus every descendant of those (container processes under shims)."""
    inodes = set()
    for p in netns_paths:
        try:
            inodes.add(os.stat(p).st_ino)
        except OSError:
            pass
    folder = folder.rstrip("/") + "/"
    pids = all_pids()
    found = set()
    for pid in pids:
        if any(a.startswith(folder) or f"={folder}" in a or a == folder[:-1] for a in cmdline(pid)):
            found.add(pid)
            continue
        if inodes:
            try:
                if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                    found.add(pid)
            except OSError:
                pass
    children: dict[int, list[int]] = {}
    for pid in pids:
        children.setdefault(_ppid(pid), []).append(pid)
    todo = list(found)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found - ancestors(os.getpid())


def kill_and_wait(
    pids: set[int] | list[int], sig: int = signal.SIGKILL, timeout: float = 10.0
) -> set[int]:
    """Signal the processes and wait for them to go; returns those still alive."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    alive = {p for p in pids if pid_alive(p)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {p for p in alive if pid_alive(p)}
    return alive


def mounts_under(folder: str) -> list[str]:
    """Mount points at or below folder, deepest first."""
    folder = folder.rstrip("/")
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == folder or mp.startswith(folder + "/"):
                points.append(mp)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all(folder: str) -> list[str]:
    """Unmount everything under folder (lazily when busy); returns what could not go."""
    left = []
    for _ in range(3):
        points = mounts_under(folder)
        if not points:
            return []
        for mp in points:
            if run("umount", mp, check=False).returncode != 0:
                run("umount", "-l", mp, check=False)
        left = mounts_under(folder)
    return left
