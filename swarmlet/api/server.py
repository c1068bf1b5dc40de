"""HTTP/1.1 server of the local API: h11 for the protocol, trio for the I/O, `Router` for the
paths. Keep-alive, chunked streaming responses, capped request sizes; a bad request or a failing
handler costs at most its own connection, never the daemon.
"""

from __future__ import annotations

import contextlib
import email.utils
import http
import inspect
import logging
import urllib.parse

import h11
import trio

import swarmlet
from swarmlet.api.router import (
    API_VERSION,
    ApiError,
    Request,
    Response,
    Router,
    StreamResponse,
    check_api_version,
    error_response,
    split_api_version,
)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
RECEIVE_BYTES = 64 * 1024
# A connection that sends nothing for this long is closed (between requests or mid-request).
IDLE_TIMEOUT = 300.0

log = logging.getLogger("swarmlet.api")


class _CloseConnection(Exception):
    """The peer went away or idled out: close without answering."""


class ApiServer:
    """Serves `router` on stream listeners; every request gets `context` as `request.context`."""

    def __init__(
        self,
        router: Router,
        context=None,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        ready: trio.Event | None = None,
    ):
        self.router = router
        self.context = context
        self.idle_timeout = idle_timeout
        # Until `ready` is set (the daemon still starting), requests other than /_ping wait:
        # the socket answers from the moment it exists, and nothing sees a half-built node.
        self.ready = ready

    async def serve(self, listeners, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await trio.serve_listeners(self.handle_connection, listeners, task_status=task_status)

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            while True:
                event = await self._next_event(conn, stream)
                if isinstance(event, h11.ConnectionClosed):
                    return
                if not isinstance(event, h11.Request):
                    return
                response = await self._read_and_dispatch(conn, stream, event)
                await self._send(conn, stream, response, head=event.method == b"HEAD")
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            log.debug("bad request: %s", exc)
            await self._send_error_and_close(
                conn, stream, exc.error_status_hint, f"bad request: {exc}"
            )
        except _CloseConnection:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            # A handler's stream that failed midway, or a bug here: this connection ends,
            # the daemon goes on.
            log.exception("connection failed")
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await stream.aclose()

    async def _next_event(self, conn: h11.Connection, stream: trio.abc.Stream):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                with trio.move_on_after(self.idle_timeout) as timer:
                    data = await stream.receive_some(RECEIVE_BYTES)
                if timer.cancelled_caught:
                    raise _CloseConnection
                if not data and conn.their_state is h11.IDLE:
                    raise _CloseConnection  # a clean close between requests
                conn.receive_data(data)  # b"" mid-request makes h11 report the truncation
                continue
            if event is h11.PAUSED:
                raise _CloseConnection
            return event

    async def _read_and_dispatch(
        self, conn: h11.Connection, stream: trio.abc.Stream, head: h11.Request
    ) -> Response | StreamResponse:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return self._too_large()
        if conn.they_are_waiting_for_100_continue:
            await stream.send_all(conn.send(h11.InformationalResponse(status_code=100)))
        body = bytearray()
        while True:
            event = await self._next_event(conn, stream)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    return self._too_large()
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise _CloseConnection
        target = head.target.decode("latin-1")
        raw_path, _, raw_query = target.partition("?")
        api_version, path = split_api_version(raw_path)
        request = Request(
            method=head.method.decode("latin-1").upper(),
            path=path,
            query=urllib.parse.parse_qs(raw_query, keep_blank_values=True),
            headers=headers,
            body=bytes(body),
            api_version=api_version,
            context=self.context,
        )
        if self.ready is not None and request.path != "/_ping":
            await self.ready.wait()
        return await dispatch(self.router, request)

    @staticmethod
    def _too_large() -> Response:
        response = error_response(
            413, f"request body too large (limit {MAX_BODY_BYTES // (1024 * 1024)} MiB)"
        )
        response.headers.append(("Connection", "close"))
        return response

    async def _send(
        self,
        conn: h11.Connection,
        stream: trio.abc.Stream,
        response: Response | StreamResponse,
        *,
        head: bool,
    ) -> None:
        headers = _common_headers(response.content_type) + response.headers
        if isinstance(response, Response):
            body = response.encoded()
            headers.append(("Content-Length", str(len(body))))
            await stream.send_all(conn.send(_h11_response(response.status, headers)))
            if body and not head:
                await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            return
        # No Content-Length: h11 frames the body as chunked for HTTP/1.1 peers.
        await stream.send_all(conn.send(_h11_response(response.status, headers)))
        if head:
            await _close_chunks(response.chunks)
        elif not await self._stream_body(conn, stream, response.chunks):
            raise _CloseConnection
        await stream.send_all(conn.send(h11.EndOfMessage()))

    async def _stream_body(self, conn: h11.Connection, stream: trio.abc.Stream, chunks) -> bool:
        """Send chunks as they come; stop early (False) when the client hangs up, so that a
        follow-mode stream with nothing to say does not outlive its reader."""
        hung_up = False

        async def watch_for_hangup(scope: trio.CancelScope) -> None:
            nonlocal hung_up
            try:
                while data := await stream.receive_some(RECEIVE_BYTES):
                    conn.receive_data(data)  # a pipelined request, kept for the next cycle
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            hung_up = True
            scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_for_hangup, nursery.cancel_scope)
            try:
                async with _opened(chunks) as body:
                    async for chunk in body:
                        if chunk:
                            await stream.send_all(conn.send(h11.Data(data=chunk)))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                hung_up = True
            finally:
                nursery.cancel_scope.cancel()
        return not hung_up

    async def _send_error_and_close(
        self, conn: h11.Connection, stream: trio.abc.Stream, status: int, message: str
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        response = error_response(status, message)
        response.headers.append(("Connection", "close"))
        try:
            with trio.move_on_after(5):
                await self._send(conn, stream, response, head=False)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass


async def dispatch(router: Router, request: Request) -> Response | StreamResponse:
    """Route one request and turn what the handler returns or raises into a response."""
    log.debug("Calling %s %s", request.method, request.path)  # dockerd's wording
    try:
        check_api_version(request.api_version)
        handler, params = router.match(request.method, request.path)
        result = handler(request, params)
        if inspect.isawaitable(result):
            result = await result
    except ApiError as exc:
        return error_response(exc.status, exc.message)
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {exc.__class__.__name__}: {exc}")
    if isinstance(result, Response | StreamResponse):
        return result
    if result is None:
        return Response(200, b"")
    return Response(200, result)


@contextlib.asynccontextmanager
async def _opened(chunks):
    """A response body as an async iterable: `chunks` itself, or what it gives when it is an
    async context manager (a producer that runs tasks of its own, made with
    `trio.as_safe_channel`, is entered here, where its tasks can be cancelled safely)."""
    if hasattr(chunks, "__aenter__"):
        async with chunks as body:
            yield body
        return
    try:
        yield chunks
    finally:
        await _close_chunks(chunks)


async def _close_chunks(chunks) -> None:
    """Let a streaming handler's generator run its cleanup (close files, stop following)."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        with trio.CancelScope(shield=True):
            await close()


def _common_headers(content_type: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", content_type),
        ("Api-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", f"swarmlet/{swarmlet.__version__} (linux)"),
        ("Date", email.utils.formatdate(usegmt=True)),
    ]


def _h11_response(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return h11.Response(status_code=status, headers=headers, reason=reason.encode())
