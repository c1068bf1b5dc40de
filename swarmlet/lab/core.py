"""Bring a lab up, tear it down, list labs, run commands as a lab host.

A lab: a bridge with its own /24, one network + UTS namespace per host, one dockerd per
host, a registry on the bridge address holding two busybox images. Everything it makes is
named from the lab's name and recorded under its folder, so `down` can undo a partial `up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile

from swarmlet.lab import engine, image, system
from swarmlet.lab.layout import (
    MAX_NODES,
    NETNS_DIR,
    ROOT,
    Host,
    Lab,
    LabError,
    bridge_name,
    check_name,
    lab_dir,
    load,
    netns_prefix,
    preferred_subnet,
    state_path,
)

REGISTRY_TIMEOUT = 30.0


@contextlib.contextmanager
def _machine_lock():
    """Serialises subnet allocation between concurrent `lab up` runs."""
    os.makedirs(ROOT, exist_ok=True)
    with open(os.path.join(ROOT, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _used_subnets() -> set[int]:
    from swarmlet.lab.layout import all_labs

    used = {lab.subnet for lab in all_labs()}
    out = system.run("ip", "-o", "-4", "addr", "show").stdout
    used |= {int(m) for m in re.findall(r"inet 198\.18\.(\d+)\.", out)}
    return used


def _allocate_subnet(name: str) -> int:
    used = _used_subnets()
    start = preferred_subnet(name)
    for k in range(256):
        x = (start + k) % 256
        if x not in used:
            return x
    raise LabError("every /24 of 198.18.0.0/16 is in use by other labs or interfaces")


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def up(name: str, nodes: int, log=print) -> Lab:
    """Build the lab; on any failure remove what was made and raise."""
    check_name(name)
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}")
    problems = system.missing_prerequisites()
    if problems:
        raise LabError("cannot start a lab on this machine:\n  " + "\n  ".join(problems))
    with _machine_lock():
        if os.path.exists(lab_dir(name)):
            raise LabError(
                f"lab {name!r} already exists ({lab_dir(name)}); "
                f"remove it first with: swarmlet lab down --name {name}"
            )
        if _link_exists(bridge_name(name)):
            raise LabError(
                f"bridge {bridge_name(name)} already exists (another lab whose name maps to the "
                "same short name?); choose another lab name"
            )
        lab = Lab(name=name, subnet=_allocate_subnet(name), nodes=nodes)
        os.makedirs(lab.dir, mode=0o755)
        lab.save()
        try:
            _make_network(lab)
        except BaseException:
            down(name, log=lambda *a, **k: None)
            raise
    try:
        _start_services(lab)
    except BaseException:
        down(name, log=lambda *a, **k: None)
        raise
    return lab


def _make_network(lab: Lab) -> None:
    batch = [
        f"link add {lab.bridge} type bridge",
        f"addr add {lab.bridge_addr}/24 dev {lab.bridge}",
    ]
    for h in lab.hosts:
        batch.append(f"netns add {h.netns}")
    for h in lab.hosts:
        batch += [
            f"link add {h.veth} type veth peer name eth0 netns {h.netns}",
            f"link set {h.veth} master {lab.bridge}",
            f"link set {h.veth} up",
        ]
    batch.append(f"link set {lab.bridge} up")
    system.run("ip", "-batch", "-", input="\n".join(batch) + "\n")
    system.run("iptables", "-I", "FORWARD", "-i", lab.bridge, "-o", lab.bridge, "-j", "ACCEPT")
    for h in lab.hosts:
        inner = [f"addr add {h.addr}/24 dev eth0", "link set eth0 up", "link set lo up"]
        system.run("ip", "-n", h.netns, "-batch", "-", input="\n".join(inner) + "\n")
        os.makedirs(h.dir, exist_ok=True)
        os.makedirs(h.swarmlet_data_dir, mode=0o700, exist_ok=True)
        open(h.uts_path, "w").close()
        system.run("unshare", f"--uts={h.uts_path}", "hostname", h.name)


def _start_services(lab: Lab) -> None:
    registry = _start_registry(lab)
    procs = [(h, engine.launch(lab, h)) for h in lab.hosts]
    write_swarmlet_wrapper(lab)
    _wait_registry(lab, registry)
    engine.wait_ready(procs[:1])
    _push_images(lab, lab.hosts[0])
    engine.wait_ready(procs[1:])


def _start_registry(lab: Lab) -> subprocess.Popen:
    os.makedirs(os.path.join(lab.registry_dir, "data"), exist_ok=True)
    config = os.path.join(lab.registry_dir, "config.yml")
    with open(config, "w") as f:
        f.write(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {lab.registry_dir}/data\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {lab.registry}\n"
        )
    proc = system.spawn_detached(
        ["docker-registry", "serve", config],
        os.path.join(lab.registry_dir, "registry.log"),
        env=system.service_env(),
    )
    with open(os.path.join(lab.registry_dir, "registry.pid"), "w") as f:
        f.write(str(proc.pid))
    return proc


def _wait_registry(lab: Lab, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + REGISTRY_TIMEOUT
    while True:
        try:
            with socket.create_connection((lab.bridge_addr, 5000), timeout=1.0):
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(os.path.join(lab.registry_dir, "registry.log"), errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-5:])
            raise LabError(f"registry on {lab.registry} did not start: {tail}")
        time.sleep(0.05)


def _push_images(lab: Lab, host: Host) -> None:
    """Import both images into one engine and push each under two names."""
    sock = host.docker_sock
    for tag, version in image.VERSIONS.items():
        repo = f"{lab.registry}/busybox"
        engine.import_image(sock, image.rootfs_tar(version), repo, tag)
        engine.tag_image(sock, f"{repo}:{tag}", f"{lab.registry}/library/busybox", tag)
    refs = [
        (f"{lab.registry}/{path}", tag)
        for path in ("busybox", "library/busybox")
        for tag in image.VERSIONS
    ]
    for repo, tag in refs:
        engine.push_image(sock, repo, tag)


def swarmlet_command() -> tuple[list[str], dict[str, str]]:
    """How hosts run swarmlet: the zipapp running this process, else this package through
    the interpreter running it."""
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if argv0 and os.path.isfile(argv0) and zipfile.is_zipfile(argv0):
        return [argv0], {}
    import swarmlet

    root = os.path.dirname(os.path.dirname(os.path.abspath(swarmlet.__file__)))
    return [sys.executable, "-m", "swarmlet"], {"PYTHONPATH": root}


def write_swarmlet_wrapper(
    lab: Lab, command: list[str] | None = None, env: dict | None = None
) -> str:
    """`swarmlet` on the hosts' PATH: a link to the one file, or a script running the package.

    command/env default to swarmlet_command(), i.e. whatever runs `lab up`.
    """
    if command is None:
        command, env = swarmlet_command()
    os.makedirs(lab.bin_dir, exist_ok=True)
    path = os.path.join(lab.bin_dir, "swarmlet")
    tmp = path + ".tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    if len(command) == 1 and not env:
        os.symlink(os.path.abspath(command[0]), tmp)
    else:
        assigns = "".join(
            f"{k}={shlex.quote(v)}${{{k}:+:${k}}} "
            if k.endswith("PATH")
            else f"{k}={shlex.quote(v)} "
            for k, v in (env or {}).items()
        )
        with open(tmp, "w") as f:
            f.write(f'#!/bin/sh\n{assigns}exec {shlex.join(command)} "$@"\n')
        os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def host_env(lab: Lab, host: Host, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        DOCKER_HOST=host.docker_host,
        SWARMLET_DATA_DIR=host.swarmlet_data_dir,
        SWARMLET_HOST=host.swarmlet_host,
        SWARMLET_LAB_REGISTRY=lab.registry,
        SWARMLET_LAB=lab.name,
        SWARMLET_LAB_HOST=host.name,
        PATH=lab.bin_dir
        + ":"
        + env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
    )
    return env


def exec_argv(lab: Lab, host: Host, cmd: list[str]) -> tuple[list[str], dict[str, str]]:
    """argv and environment that run cmd as the host."""
    if not cmd:
        raise LabError("lab exec needs a command: swarmlet lab exec HOST -- CMD...")
    nsenter = shutil.which("nsenter") or "nsenter"
    argv = [nsenter, f"--uts={host.uts_path}", f"--net={host.netns_path}", "--", *cmd]
    return argv, host_env(lab, host)


def down(name: str, log=print) -> bool:
    """Remove everything the lab made; True when something was there. Idempotent."""
    check_name(name)
    folder = lab_dir(name)
    try:
        lab: Lab | None = load(name)
    except (LabError, ValueError, TypeError):
        lab = None
    prefix = netns_prefix(name)
    netns = set()
    with contextlib.suppress(FileNotFoundError):
        netns |= {
            n
            for n in os.listdir(NETNS_DIR)
            if n.startswith(prefix) and n[len(prefix) :].startswith("node")
        }
    hosts = lab.hosts if lab else []
    netns |= {h.netns for h in hosts}
    bridge = lab.bridge if lab else bridge_name(name)
    found = bool(netns) or os.path.exists(folder) or _link_exists(bridge)
    if not found:
        log(f"no lab named {name!r}")
        return False

    # Containers through their engines, then the engines (in parallel: each takes ~1 s).
    threads = [threading.Thread(target=_quietly, args=(engine.remove_containers, h)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.stop(hosts)
    # Whatever is left: shims, containers, registry, swarmlet daemons, commands run as hosts.
    netns_paths = [os.path.join(NETNS_DIR, n) for n in netns]
    # Repeated: a process killed mid-start may have spawned a child since the last scan.
    left: set[int] = set()
    for _ in range(5):
        pids = system.lab_processes(folder, netns_paths)
        if not pids:
            break
        left = system.kill_and_wait(pids)
    if left:
        log(f"warning: processes {sorted(left)} did not exit", file=sys.stderr)
    stuck = system.unmount_all(folder)
    for n in sorted(netns):
        system.run("ip", "netns", "delete", n, check=False)
    for h in hosts:
        if _link_exists(h.veth):
            system.run("ip", "link", "delete", h.veth, check=False)
    if _link_exists(bridge):
        system.run("ip", "link", "delete", bridge, check=False)
    rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
    while system.run("iptables", "-C", *rule, check=False).returncode == 0:
        system.run("iptables", "-D", *rule, check=False)
    if stuck:
        log(f"warning: could not unmount {stuck}; leaving {folder}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    log(f"lab {name!r} removed")
    return True


def _quietly(fn, *args) -> None:
    with contextlib.suppress(Exception):
        fn(*args)


def engine_state(host: Host) -> str:
    return "running" if engine.dockerd_pid(host) else "stopped"


def format_lab(lab: Lab) -> str:
    from swarmlet.lab.faults import daemon_pids

    lines = [f"lab {lab.name}: bridge {lab.bridge} {lab.cidr}, registry {lab.registry}"]
    rows = [("HOST", "ADDRESS", "ENGINE", "SWARMLET", "DOCKER_HOST")]
    for h in lab.hosts:
        rows.append(
            (
                h.name,
                h.addr,
                engine_state(h),
                "running" if daemon_pids(h) else "stopped",
                h.docker_host,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        lines.append("  " + "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if lab.partitions:
        lines.append("  partitions: " + "; ".join(" ".join(p) for p in lab.partitions))
    return "\n".join(lines)


__all__ = ["up", "down", "exec_argv", "host_env", "format_lab", "state_path"]
