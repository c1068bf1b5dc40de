"""Faults a lab injects: network partitions, a killed swarmlet daemon, a stopped engine."""

from __future__ import annotations

import os
import signal
import socket
import time

from swarmlet.lab import engine, system
from swarmlet.lab.layout import Host, Lab, LabError, partition_blocks, partition_ruleset

DAEMON_START_TIMEOUT = 20.0


def _apply_partitions(lab: Lab) -> None:
    """Write each host's partition table (one nft transaction per host)."""
    blocks = partition_blocks([h.name for h in lab.hosts], lab.partitions)
    for h in lab.hosts:
        addrs = [lab.host(b).addr for b in blocks[h.name]]
        system.run(
            *system.netns_cmd(h.netns_path), "nft", "-f", "-", input=partition_ruleset(addrs)
        )


def partition(lab: Lab, names: list[str]) -> None:
    side = sorted({lab.host(n).name for n in names}, key=lambda n: int(n[4:]))
    if not side:
        raise LabError("lab partition needs at least one host")
    if len(side) == lab.nodes:
        raise LabError("a partition needs at least one host on the other side")
    lab.partitions.append(side)
    _apply_partitions(lab)
    lab.save()


def heal(lab: Lab) -> None:
    lab.partitions = []
    _apply_partitions(lab)
    lab.save()


def daemon_pids(host: Host) -> set[int]:
    """Live swarmlet daemons of this host: the tracked pid, or any daemon on its data dir
    (named on its command line, or through SWARMLET_DATA_DIR when started by hand)."""
    pids = set()
    tracked = system.read_pid(host.swarmlet_pidfile)
    if tracked and system.pid_alive(tracked) and host.swarmlet_data_dir in system.cmdline(tracked):
        pids.add(tracked)
    for pid in system.all_pids():
        argv = system.cmdline(pid)
        if "daemon" not in argv or not system.pid_alive(pid):
            continue
        if host.swarmlet_data_dir in argv or (
            "--data-dir" not in argv
            and system.environ(pid).get("SWARMLET_DATA_DIR") == host.swarmlet_data_dir
        ):
            pids.add(pid)
    return pids


def daemon_argv(lab: Lab, host: Host) -> list[str]:
    swarmlet = os.path.join(lab.bin_dir, "swarmlet")
    return [swarmlet, "daemon", "--data-dir", host.swarmlet_data_dir, "--host", host.swarmlet_host]


def start_daemon(lab: Lab, host: Host, argv: list[str] | None = None, wait: bool = True) -> int:
    """Start the host's swarmlet daemon detached, as the host; returns its pid.

    With wait, returns once it accepts connections on its socket; fails if it exits first.
    """
    from swarmlet.lab.core import host_env

    running = daemon_pids(host)
    if running:
        raise LabError(f"swarmlet daemon of {host.name} is already running (pid {min(running)})")
    os.makedirs(host.swarmlet_data_dir, mode=0o700, exist_ok=True)
    sock = host.swarmlet_host[len("unix://") :]
    console = os.path.join(host.swarmlet_data_dir, "console.log")
    full = system.netns_cmd(host.netns_path, host.uts_path) + (argv or daemon_argv(lab, host))
    proc = system.spawn_detached(full, console, env=host_env(lab, host), cwd=host.swarmlet_data_dir)
    with open(host.swarmlet_pidfile, "w") as f:
        f.write(str(proc.pid))
    if not wait:
        return proc.pid
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while not _accepts(sock):
        if proc.poll() is not None:
            with open(console, errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-5:])
            raise LabError(f"swarmlet daemon of {host.name} exited ({proc.returncode}): {tail}")
        if time.monotonic() > deadline:
            raise LabError(
                f"swarmlet daemon of {host.name} started (pid {proc.pid}) but its API at {sock} "
                "did not answer"
            )
        time.sleep(0.05)
    return proc.pid


def _accepts(path: str) -> bool:
    """The daemon answers its API (a file left by a killed one, or a socket bound but not yet
    served, does not count)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: swarmlet\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def kill_daemon(host: Host) -> set[int]:
    """SIGKILL the host's swarmlet daemon(s); returns the pids killed."""
    pids = daemon_pids(host)
    if not pids:
        raise LabError(f"no swarmlet daemon is running on {host.name}")
    left = system.kill_and_wait(pids, signal.SIGKILL)
    if left:
        raise LabError(f"swarmlet daemon of {host.name} did not die: {sorted(left)}")
    return pids


def engine_stop(host: Host) -> None:
    if not engine.dockerd_pid(host):
        raise LabError(f"the engine of {host.name} is not running")
    engine.stop([host])


def engine_start(lab: Lab, host: Host) -> None:
    if engine.dockerd_pid(host):
        raise LabError(f"the engine of {host.name} is already running")
    proc = engine.launch(lab, host)
    engine.wait_ready([(host, proc)])
