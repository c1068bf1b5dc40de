"""The API's unix socket file: who may use it, and taking over a stale one safely."""

from __future__ import annotations

import grp
import os
import socket
import stat

from swarmlet.api import client

SOCKET_GROUP = "swarmlet"
SOCKET_MODE = 0o660
# sun_path holds 108 bytes including the terminating NUL.
MAX_PATH_BYTES = 107


class SocketUnavailable(Exception):
    """The socket cannot be served; the message is one line for the operator."""


def socket_path(host: str) -> str:
    """The absolute file of a `unix:///path` address (the client's parsing, stricter)."""
    try:
        path = client.socket_path(host)
    except ValueError as exc:
        raise SocketUnavailable(str(exc)) from None
    if not path.startswith("/"):
        raise SocketUnavailable(f"unsupported address {host!r}: the socket path must be absolute")
    return path


def bind_unix_socket(path: str, group: str = SOCKET_GROUP) -> socket.socket:
    """A listening socket at `path`, mode 0660, group `group` when that group exists (else the
    daemon's own group: root only, as Docker does without a `docker` group)."""
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise SocketUnavailable(f"socket path {path} is too long (at most {MAX_PATH_BYTES} bytes)")
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, 0o755, exist_ok=True)
    except OSError as exc:
        raise SocketUnavailable(f"cannot create {parent}: {exc.strerror}") from None
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Nobody may connect between bind and chmod: the file is created owner-only.
        old_umask = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old_umask)
        gid = _group_id(group)
        if gid is not None:
            os.chown(path, -1, gid)
        os.chmod(path, SOCKET_MODE)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise SocketUnavailable(f"cannot listen on {path}: {exc.strerror}") from None
    return sock


def remove_stale_socket(path: str) -> None:
    """Remove a socket file nobody listens on; refuse when a daemon answers there or the path
    is not a socket at all."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketUnavailable(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    except OSError as exc:
        raise SocketUnavailable(f"cannot check the existing socket {path}: {exc}") from None
    finally:
        probe.close()
    raise SocketUnavailable(f"another daemon is already serving unix://{path}")


def remove_own_socket(path: str, inode: int) -> None:
    """Unlink `path` only if it is still the socket this daemon bound (same inode)."""
    try:
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None
