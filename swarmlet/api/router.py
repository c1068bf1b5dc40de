"""Requests, responses and the path router of the local API (no I/O here).

A handler is `handler(request, params)` (plain or async) where `params` holds the values of the
`{name}` segments of its pattern. It returns a JSON-able value (sent as 200 JSON; None sends an
empty 200), a `Response`, or a `StreamResponse`; it raises `ApiError(status, message)` to answer
`{"message": ...}` with that status.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import AsyncIterable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"

_VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ApiError(Exception):
    """Answered as `{"message": message}` with HTTP status `status` (Docker's error shape)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """One API request as handlers see it: path without the `/v1.41` prefix, decoded query."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    api_version: str | None = None
    # What the daemon hands to every handler (the node, its store, ...); opaque to the router.
    context: Any = None

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter `name`."""
        values = self.query.get(name)
        return values[-1] if values else default

    def bool_param(self, name: str, default: bool = False) -> bool:
        """Docker's boolean query values: `1`/`true`/`True` are true, `0`/`false`/empty false."""
        value = self.param(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("", "0", "false"):
            return False
        raise ApiError(400, f"invalid boolean value {value!r} for query parameter {name!r}")

    def int_param(self, name: str, default: int | None = None) -> int | None:
        value = self.param(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(
                400, f"invalid integer value {value!r} for query parameter {name!r}"
            ) from None

    def json(self) -> Any:
        """The body decoded as JSON (None when empty); a bad body is a 400."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"invalid JSON in request body: {exc}") from None

    def filters(self, allowed: frozenset[str] | set[str] | None = None) -> dict[str, list[str]]:
        """Docker's `filters` query parameter: a JSON object of key -> values, either as a list
        (`{"name": ["web"]}`) or as a set (`{"name": {"web": true}}`). Keys outside `allowed`
        are refused like Docker refuses them."""
        raw = self.param("filters")
        if not raw:
            return {}
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise ApiError(400, f"invalid filters {raw!r}: not JSON") from None
        if not isinstance(decoded, dict):
            raise ApiError(400, f"invalid filters {raw!r}: expected a JSON object")
        result: dict[str, list[str]] = {}
        for key, values in decoded.items():
            if allowed is not None and key not in allowed:
                raise ApiError(400, f"invalid filter '{key}'")
            if isinstance(values, dict):
                values = [v for v, on in values.items() if on]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ApiError(400, f"invalid filter '{key}': values must be strings")
            result[key] = list(values)
        return result


@dataclass
class Response:
    """A complete response; `body` is bytes, or any other value to be sent as JSON."""

    status: int = 200
    body: Any = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json_bytes(self.body)


@dataclass
class StreamResponse:
    """A response whose body is sent as it is produced (chunked): logs, progress. `chunks` is
    an async iterable of bytes, or an async context manager giving one (for a producer with
    tasks of its own: `trio.as_safe_channel`); it is closed when the client hangs up."""

    chunks: AsyncIterable[bytes] | AbstractAsyncContextManager[AsyncIterable[bytes]]
    status: int = 200
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def error_response(status: int, message: str) -> Response:
    return Response(status, {"message": message})


def split_api_version(path: str) -> tuple[str | None, str]:
    """`/v1.41/services` -> ("1.41", "/services"); unprefixed paths have no version."""
    match = _VERSION_PREFIX.match(path)
    if not match:
        return None, path
    major, minor, rest = match.groups()
    return f"{int(major)}.{int(minor)}", rest


def check_api_version(version: str | None) -> None:
    """Refuse versions outside [MIN_API_VERSION, API_VERSION] with Docker's wording."""
    if version is None:
        return

    def key(v: str) -> tuple[int, int]:
        major, minor = v.split(".")
        return int(major), int(minor)

    if key(version) > key(API_VERSION):
        raise ApiError(
            400,
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}",
        )
    if key(version) < key(MIN_API_VERSION):
        raise ApiError(
            400,
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version",
        )


Handler = Callable[[Request, dict[str, str]], Any]


class Router:
    """Maps (method, path pattern) to handlers. Registering a pattern again replaces its
    handler, so later parts swap the placeholders without touching the table's shape."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, tuple[str, ...]], Handler] = {}

    @staticmethod
    def _segments(pattern: str) -> tuple[str, ...]:
        if not pattern.startswith("/"):
            raise ValueError(f"route pattern must start with '/': {pattern!r}")
        return tuple(pattern.strip("/").split("/")) if pattern != "/" else ()

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes[(method.upper(), self._segments(pattern))] = handler

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def handler_for(self, method: str, pattern: str) -> Handler | None:
        return self._routes.get((method.upper(), self._segments(pattern)))

    def patterns(self) -> list[tuple[str, str]]:
        """Every registered (method, pattern), for listings and tests."""
        return sorted((m, "/" + "/".join(segs)) for m, segs in self._routes)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and params for a raw request path (segments are percent-decoded after
        splitting); a literal segment wins over a `{param}` one. 404 `page not found` when no
        pattern matches, 405 when only other methods do. HEAD falls back to GET."""
        stripped = path.strip("/")
        segments = tuple(urllib.parse.unquote(s) for s in stripped.split("/")) if stripped else ()
        methods_seen = set()
        best: tuple[int, Handler, dict[str, str]] | None = None
        for (route_method, pattern), handler in self._routes.items():
            params = _match_segments(pattern, segments)
            if params is None:
                continue
            methods_seen.add(route_method)
            if route_method == method and (best is None or len(params) < best[0]):
                best = (len(params), handler, params)
        if best is not None:
            return best[1], best[2]
        if method == "HEAD" and "GET" in methods_seen:
            return self.match("GET", path)
        if methods_seen:
            raise ApiError(405, f"method {method} not allowed for {path}")
        raise ApiError(404, "page not found")


def _match_segments(pattern: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params = {}
    for want, got in zip(pattern, segments, strict=True):
        name = _PARAM.match(want)
        if name:
            if not got:
                return None
            params[name.group(1)] = got
        elif want != got:
            return None
    return params
