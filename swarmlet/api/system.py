"""Handlers of Docker's system endpoints: `/_ping`, `/version`, `/info`.

They read the daemon's state from `request.context` (see `swarmlet.daemon.DaemonState`):
`data_dir`, `log_level` and `swarm_info()`, the `Swarm` section of `/info`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket

import swarmlet
from swarmlet.api.router import API_VERSION, MIN_API_VERSION, Request, Response

# Go's names for machines, as Docker reports them in /version.
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}

INACTIVE_SWARM = {
    "NodeID": "",
    "NodeAddr": "",
    "LocalNodeState": "inactive",
    "ControlAvailable": False,
    "Error": "",
    "RemoteManagers": None,
}


def build_info() -> dict[str, str]:
    """GitCommit and BuildTime that build.sh records in the zipapp; empty when run from source."""
    path = os.path.join(os.path.dirname(swarmlet.__file__), "build_info.json")
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError):
        info = {}
    return {"GitCommit": info.get("GitCommit", ""), "BuildTime": info.get("BuildTime", "")}


def ping(request: Request, params: dict[str, str]) -> Response:
    return Response(
        200,
        b"OK",
        content_type="text/plain; charset=utf-8",
        headers=[
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
            ("Swarm", _swarm_header(_swarm(request))),
        ],
    )


def version(request: Request, params: dict[str, str]) -> dict:
    details = {
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        **build_info(),
        "PythonVersion": platform.python_version(),
        "Os": "linux",
        "Arch": _GO_ARCH.get(platform.machine(), platform.machine()),
        "KernelVersion": platform.release(),
        "Experimental": "false",
    }
    return {
        "Platform": {"Name": "swarmlet"},
        "Components": [{"Name": "Engine", "Version": swarmlet.__version__, "Details": details}],
        "Version": swarmlet.__version__,
        **{k: v for k, v in details.items() if k != "Experimental"},
    }


def info(request: Request, params: dict[str, str]) -> dict:
    ctx = request.context
    return {
        "ID": getattr(ctx, "node_id", ""),
        "Name": socket.gethostname(),
        "ServerVersion": swarmlet.__version__,
        "PythonVersion": platform.python_version(),
        "OperatingSystem": _os_pretty_name(),
        "OSType": "linux",
        "OSVersion": _os_release().get("VERSION_ID", ""),
        "Architecture": platform.machine(),
        "KernelVersion": platform.release(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "DataDir": getattr(ctx, "data_dir", ""),
        "Debug": getattr(ctx, "log_level", "") == "debug",
        "SystemTime": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "Labels": [],
        "ExperimentalBuild": False,
        "Swarm": _swarm(request),
        "Warnings": [],
    }


def _swarm(request: Request) -> dict:
    provider = getattr(request.context, "swarm_info", None)
    return provider() if provider else dict(INACTIVE_SWARM)


def _swarm_header(swarm: dict) -> str:
    """Docker's `Swarm` header on /_ping: inactive, pending, error, locked, active/worker,
    active/manager."""
    state = swarm.get("LocalNodeState", "inactive")
    if state == "active":
        return "active/manager" if swarm.get("ControlAvailable") else "active/worker"
    return state


def _os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def _os_pretty_name() -> str:
    return _os_release().get("PRETTY_NAME", platform.system())


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
