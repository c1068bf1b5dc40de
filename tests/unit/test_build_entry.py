"""Where the one file unpacks its libraries (swarmlet/__main__.py, run before shiv's bootstrap)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

import swarmlet.__main__ as entry
from swarmlet.__main__ import choose_extraction_root

NO_HOME = "/proc/swarmlet-no-home"  # not even root can create it


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_shiv_root_from_the_environment_wins(tmp_path):
    env = {"SHIV_ROOT": str(tmp_path / "mine")}
    assert choose_extraction_root(env) == str(tmp_path / "mine")


def test_own_home_keeps_shivs_default(tmp_path, monkeypatch, temp_dir):
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {}
    assert choose_extraction_root(env) == str(tmp_path / ".shiv")
    assert "SHIV_ROOT" not in env
    assert (tmp_path / ".shiv").is_dir()


def test_unwritable_home_falls_back_to_a_private_temp_folder(monkeypatch, temp_dir):
    monkeypatch.setenv("HOME", NO_HOME)
    env = {}
    root = choose_extraction_root(env)
    assert root == str(temp_dir / f"swarmlet-shiv-{os.geteuid()}")
    assert env["SHIV_ROOT"] == root
    assert os.stat(root).st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_home_folder_of_another_user_is_not_used(tmp_path, monkeypatch, temp_dir):
    """root with a user's HOME (sudo -E) must not import code that user could have planted."""
    foreign = tmp_path / ".shiv"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    monkeypatch.setenv("HOME", str(tmp_path))
    root = choose_extraction_root({})
    assert root == str(temp_dir / f"swarmlet-shiv-{os.geteuid()}")


def test_group_writable_home_root_is_not_used(tmp_path, monkeypatch, temp_dir):
    shared = tmp_path / ".shiv"
    shared.mkdir()
    shared.chmod(0o775)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert choose_extraction_root({}) == str(temp_dir / f"swarmlet-shiv-{os.geteuid()}")


def test_open_fallback_folder_is_refused_in_one_line(tmp_path):
    planted = tmp_path / f"swarmlet-shiv-{os.geteuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    code = "from swarmlet.__main__ import choose_extraction_root; choose_extraction_root({})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": NO_HOME, "TMPDIR": str(tmp_path)},
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"swarmlet: {planted} is not a private folder of this user; set SHIV_ROOT to a writable folder"
    ]


def test_unpacked_libraries_are_found_where_shiv_puts_them(tmp_path, monkeypatch):
    monkeypatch.setattr(entry, "SHIV_BUILD_ID", "abc123")
    archive = tmp_path / "bin" / "swarmlet"
    archive.parent.mkdir()
    archive.write_bytes(b"")
    link = tmp_path / "swarmlet-link"
    link.symlink_to(archive)
    root = tmp_path / "root"
    assert entry.unpacked_site_packages(str(root), str(link), {}) is None  # first run
    site_packages = root / "swarmlet_abc123" / "site-packages"
    site_packages.mkdir(parents=True)
    assert entry.unpacked_site_packages(str(root), str(link), {}) == str(site_packages)
    assert entry.unpacked_site_packages(str(root), str(link), {"SHIV_ROOT": str(root)}) == str(
        site_packages
    )
    # Any other SHIV_* setting is shiv's business: its bootstrap runs.
    assert entry.unpacked_site_packages(str(root), str(link), {"SHIV_INTERPRETER": "1"}) is None


def test_source_tree_has_no_build_id():
    assert entry.SHIV_BUILD_ID is None
    assert entry.unpacked_site_packages("/", "/x", {}) is None
