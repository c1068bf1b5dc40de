"""The lab's busybox images: a root filesystem tar made from busybox-static.

The tar is built in memory (about 2 MB, a few milliseconds) and is identical for the
same busybox binary and version, so importing it twice gives the same image layer.
"""

from __future__ import annotations

import io
import tarfile

APPLETS = tuple(
    [
        "sh",
        "ash",
        "sleep",
        "httpd",
        "wget",
        "nslookup",
        "ip",
        "ifconfig",
        "route",
        "cat",
        "echo",
        "ls",
        "ps",
        "ping",
        "nc",
        "hostname",
        "env",
        "true",
        "false",
        "top",
        "kill",
        "mkdir",
        "rm",
        "cp",
        "mv",
        "ln",
        "grep",
        "sed",
        "awk",
        "head",
        "tail",
        "wc",
        "date",
        "uname",
        "id",
        "touch",
        "printf",
        "test",
        "seq",
        "tee",
        "vi",
        "netstat",
        "sort",
        "uniq",
        "xargs",
        "find",
        "chmod",
        "df",
        "du",
        "free",
        "uptime",
        "which",
        "basename",
        "dirname",
        "readlink",
        "realpath",
        "mount",
        "umount",
    ]
)
DIRS = ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "var/www", "run")
VERSIONS = {"latest": "1", "v2": "2"}


def rootfs_tar(version: str, busybox: str = "/bin/busybox") -> bytes:
    """Tar of a minimal root filesystem whose /VERSION holds `version`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(
            name: str, kind: bytes, data: bytes = b"", mode: int = 0o644, link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in DIRS:
            add(d, tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        with open(busybox, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, f.read(), 0o755)
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("etc/passwd", tarfile.REGTYPE, b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", tarfile.REGTYPE, b"root:x:0:\n")
        add("VERSION", tarfile.REGTYPE, f"{version}\n".encode())
        add("var/www/index.html", tarfile.REGTYPE, f"busybox {version}\n".encode())
    return buf.getvalue()
