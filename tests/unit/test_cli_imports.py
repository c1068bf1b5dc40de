"""The daemon-talking commands load no heavy library (they must answer fast)."""

import json
import subprocess
import sys

HEAVY = ("trio", "docker", "pyroute2", "nacl", "cbor2", "yaml", "anyio", "trio_websocket")

PROBE = """
import json, sys
from swarmlet.cli.main import build_parser, run
args = build_parser().parse_args(sys.argv[1:])
try:
    run(args)
except SystemExit:
    pass
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def _loaded(*argv, env_host="unix:///nonexistent/swarmlet.sock"):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env={"SWARMLET_HOST": env_host, "PATH": "/usr/bin:/bin"},
        cwd=".",
    )
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_service_ls_loads_no_heavy_module():
    loaded = _loaded("service", "ls")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_service_create_loads_no_heavy_module():
    loaded = _loaded(
        "service", "create", "-p", "80:80", "--mount", "type=tmpfs,target=/t", "busybox"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_help_loads_no_heavy_module():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "swarmlet", "service", "ls", "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if "|" in line
    }
    assert not imported & set(HEAVY), imported & set(HEAVY)
