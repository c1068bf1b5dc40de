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
    daemon's own group: root only, as Docker does without a `docker` group).

    The socket is bound and listening under a temporary name first and then renamed over
    `path` in one step, so a client never finds a file at `path` that nobody listens on
    because of us: before the rename it finds the old file (a stale one is refused, as it
    should be: no daemon runs), after it the listening socket. A stale file is replaced by
    the rename; it is never unlinked while another daemon could be binding the same path."""
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise SocketUnavailable(f"socket path {path} is too long (at most {MAX_PATH_BYTES} bytes)")
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, 0o755, exist_ok=True)
    except OSError as exc:
        raise SocketUnavailable(f"cannot create {parent}: {exc.strerror}") from None
    check_not_served(path)
    staging = os.path.join(parent, f".{os.getpid()}.sock")
    if len(os.fsencode(staging)) > MAX_PATH_BYTES:
        staging = path  # no room for a longer name: bind in place
        _unlink_quietly(path)
    else:
        _unlink_quietly(staging)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Nobody may connect between bind and chmod: the file is created owner-only.
        old_umask = os.umask(0o177)
        try:
            sock.bind(staging)
        finally:
            os.umask(old_umask)
        gid = _group_id(group)
        if gid is not None:
            os.chown(staging, -1, gid)
        os.chmod(staging, SOCKET_MODE)
        sock.listen(128)
        if staging != path:
            os.rename(staging, path)
    except OSError as exc:
        sock.close()
        if staging != path:
            _unlink_quietly(staging)
        raise SocketUnavailable(f"cannot listen on {path}: {exc.strerror}") from None
    return sock


def check_not_served(path: str) -> None:
    """Refuse when a daemon answers at `path` or the path is not a socket at all; a socket
    file nobody listens on (left by a daemon that was killed) may be replaced."""
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
        return
    except OSError as exc:
        raise SocketUnavailable(f"cannot check the existing socket {path}: {exc}") from None
    finally:
        probe.close()
    raise SocketUnavailable(f"another daemon is already serving unix://{path}")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
