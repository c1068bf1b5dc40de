"""Finding a storage driver flag in Docker's unit the way systemd reads unit and drop-ins."""

import os

from swarmlet.btrfs.setup import find_unit_flag, unit_files


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_vendor_flag_found_and_dropin_reset_clears_it(tmp_path):
    etc, lib = str(tmp_path / "etc"), str(tmp_path / "lib")
    write(f"{lib}/docker.service", "[Service]\nExecStart=/usr/bin/dockerd -H fd:// -s overlay2\n")
    flag = find_unit_flag([etc, lib])
    assert flag and flag.path == f"{lib}/docker.service"
    write(
        f"{etc}/docker.service.d/override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\n",
    )
    assert find_unit_flag([etc, lib]) is None


def test_etc_unit_and_dropins_take_precedence(tmp_path):
    etc, lib = str(tmp_path / "etc"), str(tmp_path / "lib")
    write(f"{lib}/docker.service", "[Service]\nExecStart=/usr/bin/dockerd\n")
    write(f"{etc}/docker.service", "[Service]\nExecStart=/usr/bin/dockerd --storage-driver btrfs\n")
    write(f"{lib}/docker.service.d/10-a.conf", "[Service]\nExecStart=\nExecStart=/lib/a\n")
    write(f"{etc}/docker.service.d/10-a.conf", "[Service]\nEnvironment=X=1\n")
    write(f"{lib}/docker.service.d/20-b.conf", "[Service]\nLimitNOFILE=1\n")
    paths = [p for p, _ in unit_files([etc, lib])]
    assert paths == [
        f"{etc}/docker.service",
        f"{etc}/docker.service.d/10-a.conf",
        f"{lib}/docker.service.d/20-b.conf",
    ]
    flag = find_unit_flag([etc, lib])
    assert flag and flag.path == f"{etc}/docker.service"
