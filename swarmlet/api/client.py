"""HTTP/JSON client for the daemon's unix socket, standard library only.

The CLI imports this module and nothing heavier, so that every command starts fast.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse

DEFAULT_HOST = "unix:///run/swarmlet/swarmlet.sock"


class DaemonUnreachable(Exception):
    """No daemon answers at the configured address."""

    def __init__(self, host: str):
        super().__init__(f"Cannot connect to the swarmlet daemon at {host}: is it running?")
        self.host = host


class APIError(Exception):
    """The daemon answered with an error status; `message` is its JSON `message`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def default_host() -> str:
    return os.environ.get("SWARMLET_HOST") or DEFAULT_HOST


def socket_path(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise ValueError(f"unsupported daemon address {host!r}: expected unix:///path")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Client:
    """One request per call; the daemon is local, so connections are not pooled."""

    def __init__(self, host: str | None = None, timeout: float | None = 300.0):
        self.host = host or default_host()
        self.timeout = timeout

    def _open(self, method: str, path: str, query: dict | None, body) -> http.client.HTTPResponse:
        if query:
            items = {
                k: (json.dumps(v) if isinstance(v, (dict, list)) else str(v))
                for k, v in query.items()
                if v is not None
            }
            path = path + "?" + urllib.parse.urlencode(items)
        headers = {"Host": "swarmlet"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = _UnixConnection(socket_path(self.host), self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            return conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
            conn.close()
            if isinstance(exc, PermissionError):
                raise APIError(
                    0,
                    f"permission denied while trying to connect to the swarmlet daemon socket at {self.host}",
                ) from exc
            raise DaemonUnreachable(self.host) from exc

    def request(self, method: str, path: str, query: dict | None = None, body=None):
        """Send a request and return the decoded JSON body (None when empty)."""
        resp = self._open(method, path, query, body)
        raw = resp.read()
        value = None
        if raw:
            ctype = resp.getheader("Content-Type", "")
            try:
                value = json.loads(raw) if "json" in ctype else raw.decode(errors="replace")
            except ValueError:
                raise APIError(
                    resp.status, f"malformed answer from the daemon: {raw[:200]!r}"
                ) from None
        if resp.status >= 400:
            msg = value.get("message", "") if isinstance(value, dict) else str(value or "")
            raise APIError(resp.status, msg or resp.reason)
        return value

    def stream(self, method: str, path: str, query: dict | None = None, body=None):
        """Yield the response body in chunks as the daemon sends them (logs, progress)."""
        resp = self._open(method, path, query, body)
        if resp.status >= 400:
            raw = resp.read()
            try:
                msg = json.loads(raw).get("message", "")
            except ValueError:
                msg = raw.decode(errors="replace")
            raise APIError(resp.status, msg or resp.reason)
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                return
            yield chunk

    def get(self, path: str, **query):
        return self.request("GET", path, query or None)

    def post(self, path: str, body=None, **query):
        return self.request("POST", path, query or None, body)

    def delete(self, path: str, **query):
        return self.request("DELETE", path, query or None)
