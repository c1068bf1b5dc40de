"""`swarmlet btrfs setup|status` for real: btrfs on a loop device under a test dockerd.

Each test gets a folder of its own holding the data root, fstab, daemon.json, the image file
and scripts that start and stop a dockerd of its own (own socket, exec root, pidfile, config
file; no bridge, no iptables). Everything it made is removed afterwards, also on failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mkfs, mount, loop devices)"),
    pytest.mark.skipif(shutil.which("dockerd") is None, reason="needs dockerd"),
    pytest.mark.skipif(shutil.which("mkfs.btrfs") is None, reason="needs btrfs-progs"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FSTAB_BEFORE = "# test fstab\n/dev/vdz9 /srv ext4 defaults 0 2\n"
DAEMON_JSON_BEFORE = '{\n  "log-level": "warn"\n}\n'


class Host:
    """A test host in a folder: paths, the dockerd scripts, and helpers to run the command."""

    def __init__(self, d: str):
        self.d = d
        self.data = os.path.join(d, "data")
        self.sock = f"unix://{d}/docker.sock"
        self.fstab = os.path.join(d, "fstab")
        self.daemon_json = os.path.join(d, "daemon.json")
        self.image = os.path.join(d, "img", "docker.img")
        self.pidfile = os.path.join(d, "docker.pid")
        self.loops: list[str] = []
        os.makedirs(os.path.join(d, "img"))
        with open(self.fstab, "w") as f:
            f.write(FSTAB_BEFORE)
        with open(self.daemon_json, "w") as f:
            f.write(DAEMON_JSON_BEFORE)
        self.start_sh = self._script(
            "start.sh",
            f"setsid dockerd --data-root {self.data} --exec-root {d}/exec --pidfile {self.pidfile} "
            f"-H {self.sock} --config-file {self.daemon_json} --bridge=none --iptables=false "
            f">>{d}/dockerd.log 2>&1 </dev/null &\n",
        )
        self.stop_sh = self._script(
            "stop.sh",
            f'pid=$(cat {self.pidfile} 2>/dev/null) || exit 0\nkill "$pid" 2>/dev/null || exit 0\n'
            'while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done\n',
        )

    def _script(self, name: str, body: str) -> str:
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    def args(self, *extra: str) -> list[str]:
        return [
            "--data-root", self.data, "--fstab", self.fstab, "--daemon-json", self.daemon_json,
            "--docker-host", self.sock, *extra,
        ]  # fmt: skip

    def setup_args(self, *extra: str) -> list[str]:
        return self.args(
            "--docker-stop", f"sh {self.stop_sh}", "--docker-start", f"sh {self.start_sh}",
            "--systemd-dirs", os.path.join(self.d, "systemd"), "--migrate-dir", self.d, *extra,
        )  # fmt: skip

    def btrfs(self, *argv: str) -> subprocess.CompletedProcess:
        res = subprocess.run(
            [sys.executable, "-m", "swarmlet.btrfs", *argv],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        print(res.stdout, res.stderr)
        return res

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.sock, timeout=60)

    def start_dockerd(self) -> None:
        subprocess.run(["sh", self.start_sh], check=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                c = self.client()
                c.ping()
                c.close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    with open(os.path.join(self.d, "dockerd.log")) as f:
                        raise AssertionError(f.read()) from None
                time.sleep(0.3)

    def import_tiny_image(self, tag: str = "t:1") -> None:
        rootfs = os.path.join(self.d, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        for applet in ("sh", "echo", "cat"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True)
        c = self.client()
        try:
            c.api.import_image_from_data(
                tar.stdout, repository=tag.split(":")[0], tag=tag.split(":")[1]
            )
        finally:
            c.close()

    def run_echo(self, tag: str = "t:1") -> bytes:
        c = self.client()
        try:
            return c.containers.run(
                tag, ["echo", "hi from btrfs"], network_mode="none", remove=True
            )
        finally:
            c.close()

    def driver(self) -> str:
        c = self.client()
        try:
            return c.info()["Driver"]
        finally:
            c.close()

    def teardown(self) -> None:
        subprocess.run(["sh", self.stop_sh], timeout=120)
        for pid in _pids_mentioning(self.d):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for mountpoint in sorted(_mounts_under(self.d), key=len, reverse=True):
            subprocess.run(["umount", "-l", mountpoint])
        for loop in _loops_under(self.d) + self.loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        shutil.rmtree(self.d, ignore_errors=True)


def _pids_mentioning(d: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if d.encode() in f.read():
                        out.append(int(pid))
            except OSError:
                pass
    return out


def _mounts_under(d: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(d + "/")]


def _loops_under(d: str) -> list[str]:
    res = subprocess.run(
        ["losetup", "-a", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True
    )
    return [ln.split()[0] for ln in res.stdout.splitlines() if d + "/" in ln]


def snapshot(h: Host) -> dict:
    """Everything a run could change: every file under the folder, mounts, loop devices."""
    files = {}
    for base, dirs, names in os.walk(h.d):
        for name in dirs + names:
            p = os.path.join(base, name)
            st = os.lstat(p)
            digest = None
            if os.path.isfile(p) and not os.path.islink(p) and st.st_size < 1 << 20:
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            files[p] = (st.st_mode, st.st_size, digest)
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return {
        "files": files,
        "mounts": _mounts_under(h.d),
        "loops": sorted(
            ln for ln in loops.splitlines() if h.d in ln or any(lp in ln for lp in h.loops)
        ),
        "signatures": {lp: _blkid(lp) for lp in h.loops},
    }


def _blkid(dev: str) -> str:
    return subprocess.run(["blkid", "-p", dev], capture_output=True, text=True).stdout


@pytest.fixture
def host():
    h = Host(tempfile.mkdtemp(prefix="swb-", dir="/tmp"))
    try:
        yield h
    finally:
        h.teardown()


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _fstab_entries(h: Host) -> list[str]:
    with open(h.fstab) as f:
        return [ln for ln in f.read().splitlines() if h.data in ln]


def test_image_setup_end_to_end(host):
    res = host.btrfs("setup", "--image", host.image, "--size", "1G", *host.setup_args())
    assert res.returncode == 0, res.stderr
    for step in ("create the sparse image file", "mkfs.btrfs", "stop Docker", "mount -t btrfs",
                 "add to", '"storage-driver": "btrfs"', "start Docker", "reports btrfs"):  # fmt: skip
        assert step in res.stdout
    assert host.driver() == "btrfs"
    host.import_tiny_image()
    assert host.run_echo() == b"hi from btrfs\n"

    assert _fstab_entries(host) == [
        f"{host.image} {host.data} btrfs loop,defaults,nofail,x-systemd.before=docker.service 0 0"
    ]
    with open(host.fstab) as f:
        assert f.read().startswith(FSTAB_BEFORE)
    with open(host.daemon_json) as f:
        assert json.load(f) == {"log-level": "warn", "storage-driver": "btrfs"}

    before = snapshot(host)
    again = host.btrfs("setup", "--image", host.image, "--size", "1G", *host.setup_args())
    assert again.returncode == 0, again.stderr
    assert "already configured" in again.stdout
    after = snapshot(host)
    assert {k: v for k, v in after.items() if k != "files"} == {
        k: v for k, v in before.items() if k != "files"
    }
    for path in (host.fstab, host.daemon_json, host.image):
        assert after["files"][path] == before["files"][path]

    status = host.btrfs("status", *host.args())
    assert status.returncode == 0, status.stdout
    assert "All agree" in status.stdout
    assert host.image in status.stdout and "Storage Driver: btrfs" in status.stdout
    assert "1GiB, " in status.stdout and " used, " in status.stdout

    with open(host.daemon_json, "w") as f:
        f.write(DAEMON_JSON_BEFORE)
    status = host.btrfs("status", *host.args())
    assert status.returncode == 1
    assert "daemon.json  WRONG" in status.stdout and "Not all agree" in status.stdout


def test_status_disagrees_before_setup(host):
    res = host.btrfs("status", *host.args())
    assert res.returncode == 1
    assert "not a mount point" in res.stdout and "no entry" in res.stdout


def test_migrate_keeps_images_and_volumes(host):
    host.start_dockerd()
    assert host.driver() != "btrfs"
    host.import_tiny_image()
    c = host.client()
    try:
        vol = c.volumes.create("keepme")
        with open(os.path.join(vol.attrs["Mountpoint"], "note.txt"), "w") as f:
            f.write("kept\n")
    finally:
        c.close()

    res = host.btrfs(
        "setup", "--image", host.image, "--size", "1G", "--migrate", *host.setup_args()
    )
    assert res.returncode == 0, res.stderr
    assert "containers are not carried over" in res.stdout
    assert "save the engine's images" in res.stdout and "load the saved images" in res.stdout
    assert host.driver() == "btrfs"
    assert host.run_echo() == b"hi from btrfs\n"
    c = host.client()
    try:
        assert "keepme" in [v.name for v in c.volumes.list()]
    finally:
        c.close()
    with open(os.path.join(host.data, "volumes", "keepme", "_data", "note.txt")) as f:
        assert f.read() == "kept\n"
    aside = [n for n in os.listdir(host.d) if n.startswith("data.pre-btrfs-")]
    assert len(aside) == 1, "the old data root is kept"
    assert not [n for n in os.listdir(host.d) if n.startswith(".swarmlet-btrfs-images-")]


def test_dry_run_changes_nothing(host):
    os.makedirs(host.data)
    with open(os.path.join(host.data, "old.txt"), "w") as f:
        f.write("old data\n")
    before = snapshot(host)
    res = host.btrfs(
        "setup", "--image", host.image, "--size", "1G", "--force", "--dry-run", *host.setup_args()
    )
    assert res.returncode == 0, res.stderr
    assert "Plan (dry run" in res.stdout
    assert f"mkfs.btrfs -L docker {host.image}" in res.stdout
    assert "move the old data root" in res.stdout
    assert snapshot(host) == before


def _ext4_loop(host: Host) -> str:
    backing = os.path.join(host.d, "ext4.img")
    with open(backing, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", backing], check=True)
    dev = subprocess.run(
        ["losetup", "-f", "--show", backing], capture_output=True, text=True, check=True
    ).stdout.strip()
    host.loops.append(dev)
    return dev


REFUSALS = {
    "device_with_file_system": "holds ext4",
    "non_empty_data_root": "is not empty",
    "no_btrfs_support": "no btrfs support",
    "not_enough_space": "not enough space",
    "storage_driver_in_unit": "passes a storage driver on the command line",
    "invalid_daemon_json": "is not valid JSON",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal_leaves_host_as_it_was(host, case):
    extra = ["--image", host.image, "--size", "1G"]
    if case == "device_with_file_system":
        extra = ["--device", _ext4_loop(host)]
    elif case == "non_empty_data_root":
        os.makedirs(host.data)
        with open(os.path.join(host.data, "precious.txt"), "w") as f:
            f.write("keep me\n")
    elif case == "no_btrfs_support":
        fake = os.path.join(host.d, "filesystems")
        with open(fake, "w") as f:
            f.write("nodev\tsysfs\nnodev\tproc\n\text4\n\tvfat\n")
        extra += ["--proc-filesystems", fake]
    elif case == "not_enough_space":
        extra = ["--image", host.image, "--size", "1000T"]
    elif case == "storage_driver_in_unit":
        unit_dir = os.path.join(host.d, "systemd")
        os.makedirs(unit_dir)
        with open(os.path.join(unit_dir, "docker.service"), "w") as f:
            f.write("[Service]\nExecStart=/usr/bin/dockerd -H fd:// --storage-driver=overlay2\n")
    elif case == "invalid_daemon_json":
        with open(host.daemon_json, "w") as f:
            f.write('{"log-level": "warn",}\n')
    before = snapshot(host)
    res = host.btrfs("setup", *extra, *host.setup_args())
    assert res.returncode == 1
    assert REFUSALS[case] in res.stderr
    assert "Nothing was changed" in res.stderr
    assert snapshot(host) == before


def test_failure_midway_rolls_back(host):
    os.makedirs(host.data)
    with open(os.path.join(host.data, "precious.txt"), "w") as f:
        f.write("keep me\n")
    before = snapshot(host)
    args = host.setup_args()
    args[args.index("--docker-start") + 1] = "sh -c 'echo engine broken >&2; exit 3'"
    res = host.btrfs("setup", "--image", host.image, "--size", "1G", "--force", *args)
    assert res.returncode == 1
    assert "FAILED: start Docker" in res.stdout and "engine broken" in res.stdout
    for undone in ("restored", "unmounted", "moved", "removed the image file"):
        assert undone in res.stdout
    assert "The host is back to how it was" in res.stdout
    assert snapshot(host) == before


def test_device_setup_by_uuid_with_unit_flag_fixed_by_dropin(host):
    backing = os.path.join(host.d, "disk.img")
    with open(backing, "wb") as f:
        f.truncate(1 << 30)
    dev = subprocess.run(
        ["losetup", "-f", "--show", backing], capture_output=True, text=True, check=True
    ).stdout.strip()
    host.loops.append(dev)
    vendor = os.path.join(host.d, "systemd", "docker.service")
    os.makedirs(os.path.dirname(vendor))
    unit = "[Service]\nExecStart=/usr/bin/dockerd -H fd:// \\\n  -s overlay2 --containerd=/run/c.sock\n"
    with open(vendor, "w") as f:
        f.write(unit)
    os.chmod(host.daemon_json, 0o640)

    res = host.btrfs("setup", "--device", dev, "--label", "swb", "--force", *host.setup_args())
    assert res.returncode == 0, res.stderr
    assert host.driver() == "btrfs"
    uuid = subprocess.run(
        ["blkid", "-s", "UUID", "-o", "value", dev], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert _fstab_entries(host) == [
        f"UUID={uuid} {host.data} btrfs defaults,nofail,x-systemd.before=docker.service 0 0"
    ]
    assert 'LABEL="swb"' in _blkid(dev)
    with open(vendor) as f:
        assert f.read() == unit, "the vendor unit is never edited"
    dropin = os.path.join(host.d, "systemd", "docker.service.d", "zz-swarmlet-storage-driver.conf")
    with open(dropin) as f:
        assert (
            "ExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/c.sock\n" in f.read()
        )
    assert os.stat(host.daemon_json).st_mode & 0o777 == 0o640

    again = host.btrfs("setup", "--device", dev, "--label", "swb", *host.setup_args())
    assert again.returncode == 0 and "already configured" in again.stdout
    status = host.btrfs("status", *host.args())
    assert status.returncode == 0, status.stdout
    assert f"UUID={uuid}" in status.stdout


def test_failure_after_stopping_docker_restarts_it_as_before(host):
    host.start_dockerd()
    host.import_tiny_image()
    driver_before = host.driver()
    entries_before = sorted(os.listdir(host.data))
    files_before = {p: _read(p) for p in (host.fstab, host.daemon_json)}
    start_unless_btrfs = host._script(
        "start-unless-btrfs.sh",
        f"grep -q btrfs {host.daemon_json} && {{ echo refusing btrfs >&2; exit 3; }}\n"
        f"exec sh {host.start_sh}\n",
    )
    args = host.setup_args()
    args[args.index("--docker-start") + 1] = f"sh {start_unless_btrfs}"
    res = host.btrfs("setup", "--image", host.image, "--size", "1G", "--force", *args)
    assert res.returncode == 1
    assert "FAILED: start Docker" in res.stdout and "refusing btrfs" in res.stdout
    assert "undone: started Docker again" in res.stdout
    assert "The host is back to how it was" in res.stdout

    assert host.driver() == driver_before != "btrfs"
    assert host.run_echo() == b"hi from btrfs\n", "the old data root, with its image, is back"
    assert sorted(os.listdir(host.data)) == entries_before
    assert {p: _read(p) for p in files_before} == files_before
    assert not os.path.exists(host.image)
    assert not [n for n in os.listdir(host.d) if n.startswith("data.pre-btrfs-")]
    assert _loops_under(host.d) == []
    assert [m for m in _mounts_under(host.d) if m != host.data] == []
