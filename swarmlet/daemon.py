"""The swarmlet daemon: builds and supervises one node.

Today it owns the data dir (mode 0700, one daemon at a time through a lock), the log file and the
local API on its unix socket; the cluster parts plug into the router it serves. Only the standard
library is imported at module level: `swarmlet daemon --print-unit` must stay light.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass

DEFAULT_DATA_DIR = "/var/lib/swarmlet"
DEFAULT_HOST = "unix:///run/swarmlet/swarmlet.sock"
LOCK_FILE = "daemon.lock"
LOG_FILE = "swarmlet.log"
# dockerd's --log-level names.
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("swarmlet.daemon")


class StartupError(Exception):
    """The daemon cannot start; the message is one line for the operator."""


@dataclass
class DaemonState:
    """What API handlers see as `request.context`; later parts add the node's components."""

    data_dir: str
    host: str
    log_level: str
    started_at: float
    node_id: str = ""
    swarm: object = None  # swarmlet.node.swarm.SwarmNode once the daemon runs

    def swarm_info(self) -> dict:
        from swarmlet.api.system import INACTIVE_SWARM

        if self.swarm is None:
            return dict(INACTIVE_SWARM)
        return self.swarm.swarm_info()


def run(data_dir: str, host: str, log_level: str = "info", *, foreground: bool = True) -> int:
    """Serve the local API until SIGTERM or SIGINT; returns the process exit code.

    `foreground` also copies the log to stderr (as dockerd does); a detached daemon logs to
    DATA_DIR/swarmlet.log only.
    """
    stop_requested: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, frame: stop_requested.append(signum))
        for s in _STOP_SIGNALS
    }
    lock_fd = sock = socket_file = None
    handlers: list[logging.Handler] = []
    try:
        from swarmlet.api.unix_socket import SocketUnavailable, bind_unix_socket, socket_path

        try:
            level = _parse_log_level(log_level)
            path = socket_path(host)
            data_dir = os.path.abspath(data_dir)
            _make_private_dir(data_dir)
            lock_fd = _take_lock(os.path.join(data_dir, LOCK_FILE))
            handlers = _start_logging(os.path.join(data_dir, LOG_FILE), level, foreground)
            sock = bind_unix_socket(path)
            socket_file = (path, os.lstat(path).st_ino)
        except (StartupError, SocketUnavailable) as exc:
            print(f"swarmlet daemon: {exc}", file=sys.stderr)
            if handlers:  # the file only: stderr has its line already
                handlers[0].handle(
                    log.makeRecord(
                        log.name, logging.ERROR, __file__, 0, "cannot start: %s", (exc,), None
                    )
                )
                _stop_logging(handlers)
                handlers = []
            return 1
        log.info("swarmlet daemon starting (pid %d, data dir %s)", os.getpid(), data_dir)
        log.info("API listen on %s", path)
        if not stop_requested:
            import trio

            state = DaemonState(data_dir, host, log_level.lower(), time.time())
            trio.run(_serve, sock, state, stop_requested)
        return 0
    finally:
        for s in _STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        if sock is not None:
            sock.close()
        if socket_file is not None:
            from swarmlet.api.unix_socket import remove_own_socket

            remove_own_socket(*socket_file)
        if handlers:
            log.info("swarmlet daemon stopped")
            _stop_logging(handlers)
        if lock_fd is not None:
            os.close(lock_fd)  # releases the flock
        for s, handler in previous.items():
            signal.signal(s, handler)


async def _serve(sock, state: DaemonState, stop_requested: list[int]) -> None:
    """Serve until a stop signal; `stop_requested` holds signals that came during start-up,
    before trio's receiver took over."""
    import trio

    from swarmlet.api.server import ApiServer
    from swarmlet.node.swarm import SwarmNode

    ready = trio.Event()
    server = ApiServer(daemon_router(), state, ready=ready)
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:
            state.swarm = SwarmNode(state.data_dir, nursery)
            # Served at once, while the node resumes: a connection to the socket is answered
            # (/_ping now, the rest once the node is ready) rather than left in the backlog.
            listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
            await nursery.start(server.serve, [listener])
            try:
                await state.swarm.resume()
            except Exception:
                log.exception("could not rejoin the swarm from the data dir")
            state.node_id = state.swarm.node_id
            ready.set()
            log.info("daemon ready")
            signum = stop_requested[0] if stop_requested else await anext(aiter(signals))
            log.info("received %s, shutting down", signal.Signals(signum).name)
            nursery.cancel_scope.cancel()


def daemon_router():
    """Every route the daemon serves: the API's table with each part's handlers on top."""
    from swarmlet.api.cluster_routes import register_cluster_routes
    from swarmlet.api.routes import build_router
    from swarmlet.node.routes import register_membership_routes, swarm_context

    router = build_router()
    register_cluster_routes(router, swarm_context)
    register_membership_routes(router)
    return router


def systemd_unit(command: list[str], data_dir: str | None = None, host: str | None = None) -> str:
    """A unit that runs `COMMAND daemon` in the foreground. KillMode=process: stopping
    swarmlet never touches the containers it started (they belong to dockerd)."""
    argv = [*command, "daemon"]
    if data_dir and data_dir != DEFAULT_DATA_DIR:
        argv += ["--data-dir", data_dir]
    if host:
        argv += ["--host", host]
    return (
        "[Unit]\n"
        "Description=swarmlet: Docker Swarm mode as one file\n"
        "After=docker.service network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={shlex.join(argv)}\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "KillMode=process\n"
        "LimitNOFILE=1048576\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _parse_log_level(name: str) -> int:
    try:
        return LOG_LEVELS[name.lower()]
    except KeyError:
        choices = ", ".join(k for k in LOG_LEVELS if k != "warning")
        raise StartupError(f"invalid log level {name!r} (choose {choices})") from None


def _make_private_dir(path: str) -> None:
    """The data dir holds keys: only its owner may enter it."""
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        if os.stat(path).st_mode & 0o777 != 0o700:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise StartupError(f"cannot use data dir {path}: {exc.strerror}") from None


def _take_lock(path: str) -> int:
    """An exclusive flock held for the daemon's life; the file records the holder's pid."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot open lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise StartupError(
            f"another swarmlet daemon{who} is using the data dir {os.path.dirname(path)}"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def _start_logging(path: str, level: int, foreground: bool) -> list[logging.Handler]:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handlers: list[logging.Handler] = [logging.FileHandler(path)]
    except OSError as exc:
        raise StartupError(f"cannot open log file {path}: {exc.strerror}") from None
    if foreground:
        handlers.append(logging.StreamHandler(sys.stderr))
    formatter = _UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # Libraries speak from WARNING up; swarmlet at the chosen level.
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("swarmlet").setLevel(level)
    return handlers


def _stop_logging(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
