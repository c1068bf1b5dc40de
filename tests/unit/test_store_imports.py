"""The store and the control API core stay pure: no transport, raft, trio or docker."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_store_and_controlapi_import_no_io_libraries():
    code = (
        "import sys, swarmlet.store, swarmlet.manager.controlapi\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('trio', 'docker', 'anyio', 'pyroute2')"
        " or m.startswith(('swarmlet.raft', 'swarmlet.wire', 'swarmlet.daemon'))]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""
