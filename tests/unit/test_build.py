"""The one file, dist/swarmlet (or $SWARMLET_BIN): runs on CPython 3.11-3.13 with their native
wheels, refuses older Pythons in one line, runs for any user, and builds reproducibly.

Needs the zipapp built by build.sh (CI builds it before the tests); the interpreters come from
pyenv and a missing one is skipped by name.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.unit.daemon_process import DaemonProcess

ROOT = Path(__file__).resolve().parents[2]
ZIPAPP = Path(os.environ.get("SWARMLET_BIN") or ROOT / "dist" / "swarmlet")
SUPPORTED = ["3.11", "3.12", "3.13"]
# A home folder nobody can create, not even root.
NO_HOME = "/proc/swarmlet-no-home"

pytestmark = pytest.mark.skipif(
    not (ZIPAPP.is_file() and zipfile.is_zipfile(ZIPAPP)),
    reason=f"no zipapp at {ZIPAPP}: run build.sh first (or set SWARMLET_BIN)",
)


def pyenv_python(version: str) -> str:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    try:
        root = (
            subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() or root
        )
    except FileNotFoundError:
        pass
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python3"))
    if not found:
        pytest.skip(f"CPython {version} is not installed under pyenv ({root}/versions)")
    return found[-1]


@pytest.fixture(scope="module")
def shiv_root():
    path = tempfile.mkdtemp(prefix="swl-shiv-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_zipapp(python: str, *args: str, env: dict | None = None, **kw):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SHIV_")}
    return subprocess.run(
        [python, str(ZIPAPP), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        **kw,
    )


@pytest.mark.parametrize("version", SUPPORTED)
def test_version_names_the_python_in_use(version, shiv_root):
    python = pyenv_python(version)
    result = run_zipapp(python, "--version", env={"SHIV_ROOT": shiv_root})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("swarmlet ")
    assert f"Python {version}." in result.stdout


@pytest.mark.parametrize("version", SUPPORTED)
def test_native_wheels_load_on_each_python(version, shiv_root):
    python = pyenv_python(version)
    code = (
        "import sys, cbor2, nacl.bindings, yaml, _cffi_backend, trio, trio_websocket, docker, "
        "pyroute2, h11; assert cbor2.loads(cbor2.dumps([1])) == [1]; "
        "assert yaml.__with_libyaml__; print('%d.%d' % sys.version_info[:2])"
    )
    result = run_zipapp(python, "-c", code, env={"SHIV_ROOT": shiv_root, "SHIV_INTERPRETER": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == version


@pytest.mark.parametrize("version", SUPPORTED)
def test_daemon_serves_from_the_zipapp(version, shiv_root):
    python = pyenv_python(version)
    daemon = DaemonProcess(
        launcher=[python, str(ZIPAPP)], env={"SHIV_ROOT": shiv_root, "SHIV_INTERPRETER": "1"}
    )
    try:
        daemon.start()
        answer = daemon.client().get("/version")
        assert answer["PythonVersion"].startswith(version + ".")
        assert answer["GitCommit"]  # recorded by build.sh: the file's copy of swarmlet runs
        assert daemon.signal(signal.SIGTERM) == 0
        assert not os.path.exists(daemon.socket)
    finally:
        daemon.cleanup()


def test_later_runs_skip_shivs_bootstrap(tmp_path):
    """The first run unpacks through shiv's bootstrap; later ones use the unpacked libraries."""
    env = {"SHIV_ROOT": str(tmp_path), "PYTHONPROFILEIMPORTTIME": "1"}
    first = run_zipapp(sys.executable, "--version", env=env)
    second = run_zipapp(sys.executable, "--version", env=env)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert "| _bootstrap\n" in first.stderr
    assert "| _bootstrap\n" not in second.stderr
    assert "| swarmlet.cli.main\n" in second.stderr


def test_python_310_gets_one_line_and_nothing_unpacked(tmp_path):
    python = pyenv_python("3.10")
    result = run_zipapp(python, "--version", env={"SHIV_ROOT": str(tmp_path)})
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("swarmlet requires Python 3.11 or newer; this is Python 3.10 ")
    assert list(tmp_path.iterdir()) == []


def test_writable_home_gets_the_default_shiv_root(tmp_path):
    result = run_zipapp(sys.executable, "--version", env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert [p.name.startswith("swarmlet_") for p in (tmp_path / ".shiv").iterdir()]


def test_unwritable_home_falls_back_to_a_private_temp_folder(tmp_path):
    env = {"HOME": NO_HOME, "TMPDIR": str(tmp_path)}
    result = run_zipapp(sys.executable, "--version", env=env)
    assert result.returncode == 0, result.stderr
    fallback = tmp_path / f"swarmlet-shiv-{os.getuid()}"
    assert fallback.is_dir()
    assert fallback.stat().st_mode & 0o777 == 0o700


def test_fallback_folder_open_to_others_is_refused(tmp_path):
    planted = tmp_path / f"swarmlet-shiv-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    result = run_zipapp(sys.executable, "--version", env={"HOME": NO_HOME, "TMPDIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"swarmlet: {planted} is not a private folder of this user; set SHIV_ROOT to a writable folder"
    ]
    assert list(planted.iterdir()) == []


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root and runuser"
)
def test_unprivileged_user_runs_help():
    """`nobody` (home /nonexistent) runs the file straight through its shebang."""
    top = Path(tempfile.mkdtemp(prefix="swl-nobody-", dir="/tmp"))
    try:
        top.chmod(0o755)
        exe = top / "swarmlet"
        shutil.copy(ZIPAPP, exe)
        exe.chmod(0o755)
        scratch = top / "tmp"
        scratch.mkdir()
        os.chown(scratch, 65534, 65534)
        base = ["runuser", "-u", "nobody", "--", "env", f"TMPDIR={scratch}", "HOME=/nonexistent"]
        for args in (["--version"], ["--help"]):
            result = subprocess.run(
                base + [str(exe), *args], capture_output=True, text=True, timeout=120
            )
            output = result.stdout + result.stderr
            assert "Traceback" not in output, output
            if args == ["--version"]:
                assert result.returncode == 0, output
                assert output.startswith("swarmlet ")
            else:
                assert "usage:" in output.lower()
        fallback = scratch / "swarmlet-shiv-65534"
        assert fallback.stat().st_uid == 65534
        assert fallback.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _slow_selected(config) -> bool:
    return "slow" in (config.getoption("markexpr") or "")


@pytest.mark.slow
def test_two_builds_are_byte_identical(request):
    if not _slow_selected(request.config):
        pytest.skip("slow: runs build.sh twice; select with -m slow")
    env = {**os.environ, "PYTHON": sys.executable}
    digests = []
    for _ in range(2):
        subprocess.run(["bash", "build.sh"], cwd=ROOT, env=env, check=True, capture_output=True)
        digests.append(hashlib.sha256((ROOT / "dist" / "swarmlet").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


GROUPS = [
    "swarm", "node", "service", "stack", "network", "secret", "config",
    "btrfs", "lab", "daemon", "version", "info", "init", "join", "leave",
]  # fmt: skip


@pytest.mark.parametrize("group", GROUPS)
def test_the_file_prints_help_of_every_group(group):
    result = run_zipapp(sys.executable, group, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and group in result.stdout
