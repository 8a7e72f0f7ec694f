"""Pure ASGI middleware: request id, Server-Timing, access log and metrics; load shedding,
the body timeout and the body limit, all in one layer (`ServiceMiddleware`).

Every request passes through each middleware layer's call, closures and wrappers, so the
service's per-request work is one layer that reads the request headers once:

- **request context**: echoes the client's ``X-Request-ID`` when it is a sane token (else
  generates one), keeps it in the request state for handlers and logs, and adds
  ``X-Request-ID`` and ``Server-Timing: fit;dur=<ms>`` to every response, where ``<ms>`` is
  the time spent in the numerical core (`add_core_seconds`), 0 for requests that do not fit.
  When the answer is complete it writes the request's one access line (`service.logs`) and
  counts it in the request metrics (`service.metrics`) under its route template.
- **load shedding**: at most ``GDS_MAX_CONCURRENCY`` fit requests at once (counted from the
  arrival of their headers); one more answers ``503`` with ``Retry-After`` at once, without
  reading its body. Other routes are never refused.
- **body timeout**: ``408`` (and the connection closed) when a request's body has not arrived
  in full ``GDS_BODY_TIMEOUT`` seconds after its headers (a client trickling its body holds
  neither a fit slot nor the shutdown).
- **body limit**: ``413`` before the body is read when ``Content-Length`` is over the limit;
  a body without ``Content-Length`` (chunked) is counted as it streams by Starlette's
  `RequestBodyLimitMiddleware`, which stops reading and answers ``413`` as soon as the count
  passes the limit. Both answer the same body (`too_large_detail`), and either ``413`` closes
  the connection, so the rest of an oversized body is never read. (`BodyLimitMiddleware` is
  the same check as a layer of its own, for an app that puts CORS in between.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterable, MutableMapping
from typing import Any, Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.logs import log_request

__all__ = [
    "REQUEST_ID_HEADER",
    "SERVER_TIMING_HEADER",
    "BodyLimitMiddleware",
    "ServiceMiddleware",
    "add_core_seconds",
    "request_id_of",
    "route_of",
    "server_timing",
    "too_large_detail",
]

REQUEST_ID_HEADER = "X-Request-ID"
SERVER_TIMING_HEADER = "Server-Timing"

_REQUEST_ID = "request_id"
_CORE_SECONDS = "core_seconds"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
"""Client ids are echoed only when they look like ids (no spaces, quotes or newlines)."""


def _state(scope: Scope) -> MutableMapping[str, Any]:
    state: MutableMapping[str, Any] = scope.setdefault("state", {})
    return state


def request_id_of(scope: Scope) -> str:
    """The id of the request in `scope` (set by `ServiceMiddleware`)."""
    request_id = _state(scope).get(_REQUEST_ID)
    if not isinstance(request_id, str):
        request_id = _new_request_id()
        _state(scope)[_REQUEST_ID] = request_id
    return request_id


def _matching_route(routes: Iterable[Any], scope: Scope) -> Any:
    """The route of `routes` that fully matches `scope`, looking inside included routers."""
    for candidate in routes:
        if candidate.matches(scope)[0] is not Match.FULL:
            continue
        included = getattr(candidate, "original_router", None)  # FastAPI's include_router
        if included is not None:
            return _matching_route(getattr(included, "routes", ()), scope)
        return candidate
    return None


def route_of(scope: Scope, root_path: str | None = None) -> str:
    """The template of the route that answered `scope` (``/fit``, ``/static``), found again
    among the app's routes when routing did not record it (a mount, or a ``413`` answered
    before routing); ``unmatched`` when no route matches, so raw paths never become metric
    labels. `root_path` is the scope's ``root_path`` before routing (a mount changes it)."""
    route = scope.get("route")
    if route is None:
        router = getattr(scope.get("app"), "router", None)
        original = scope if root_path is None else {**scope, "root_path": root_path}
        route = _matching_route(getattr(router, "routes", ()), original)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def server_timing(scope: Scope) -> str:
    """The ``Server-Timing`` value of the request in `scope`: its time in the core so far."""
    return f"fit;dur={_state(scope).get(_CORE_SECONDS, 0.0) * 1000:.3f}"


def add_core_seconds(scope: Scope, seconds: float) -> None:
    """Count `seconds` spent in the core into the ``Server-Timing`` of the request in `scope`."""
    state = _state(scope)
    state[_CORE_SECONDS] = state.get(_CORE_SECONDS, 0.0) + seconds


def too_large_detail(max_body_bytes: int) -> str:
    """The ``detail`` of every ``413``, whether the body announced its length or streamed."""
    return f"the request body is larger than the limit of {max_body_bytes} bytes (max_body_bytes)"


class BodyLimitMiddleware:
    """Answer ``413`` for a request body larger than `max_body_bytes`, before parsing it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send)
            return

        await self.app(scope, receive, _closing_on_413(send))

    async def _too_large(self, send: Send) -> None:
        await _answer_json(send, 413, too_large_detail(self.max_body_bytes), [])


FIT_PATH_PREFIX = "/fit"
"""Requests whose path starts so are fits: the work load shedding bounds."""

RETRY_AFTER_SECONDS = 1


async def _answer_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    """Send a complete JSON answer ``{"detail": detail}`` that closes the connection."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServiceMiddleware:
    """The service's per-request work in one pure ASGI layer (see the module docstring):
    request id, ``Server-Timing``, access log and metrics around load shedding (fit requests
    over `max_concurrency`), the body timeout (`body_timeout` seconds) and the body limit
    (`max_body_bytes`; None leaves it to an inner `BodyLimitMiddleware`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_concurrency: int,
        body_timeout: float,
        max_body_bytes: int | None,
    ) -> None:
        self.app = app
        self.max_concurrency = max_concurrency
        self.body_timeout = body_timeout
        self.max_body_bytes = max_body_bytes
        self.in_progress = 0
        # Bodies that stream without a Content-Length are counted by Starlette's limiter.
        self.counted_app: ASGIApp | None = None
        if max_body_bytes is not None:
            self.counted_app = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        root_path = scope.get("root_path", "")
        sent_id = length = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                if sent_id is None:
                    sent_id = value
            elif key == b"content-length":
                if length is None:
                    length = value
            elif key == b"transfer-encoding":
                chunked = True
        request_id = _request_id(sent_id)
        state = _state(scope)
        state[_REQUEST_ID] = request_id
        state[_CORE_SECONDS] = 0.0
        # An exception that escapes before a response starts is answered 500 further out
        # (Starlette's ServerErrorMiddleware), so that is the status to report for it.
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (key, value) for key, value in message.get("headers", ()) if key not in _STAMPED
                ]
                headers.append(id_header)
                headers.append((b"server-timing", server_timing(scope).encode()))
                message["headers"] = headers
            await send(message)

        metrics.request_started()
        fit = scope["path"].startswith(FIT_PATH_PREFIX)
        try:
            if fit and self.in_progress >= self.max_concurrency:
                await _answer_json(
                    send_with_headers,
                    503,
                    f"the server is busy: {self.in_progress} fit requests are in progress, the "
                    f"most it takes at once (max_concurrency); retry in {RETRY_AFTER_SECONDS} s",
                    [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
                )
                return
            if fit:
                self.in_progress += 1
            try:
                if not chunked and (length is None or length == b"0"):
                    await self.app(scope, receive, send_with_headers)  # no body to time or count
                else:
                    await self._limited(scope, receive, send_with_headers, length, chunked)
            finally:
                if fit:
                    self.in_progress -= 1
        finally:
            seconds = time.perf_counter() - start
            route = route_of(scope, root_path)
            metrics.observe_request(scope["method"], route, status, seconds)
            client = scope.get("client")
            log_request(
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=seconds * 1000,
                client=client[0] if client else None,
            )

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, length: bytes | None, chunked: bool
    ) -> None:
        """The app behind the body timeout and the body limit (for a request with a body)."""
        deadline = _BodyDeadline(receive, self.body_timeout)
        limit = self.max_body_bytes
        try:
            if limit is None:
                await self.app(scope, deadline, send)
            elif length is not None and length.isdigit() and not chunked:
                if int(length) > limit:
                    await _answer_json(send, 413, too_large_detail(limit), [])
                    return
                # The server reads no more than Content-Length bytes of body for this request.
                await self.app(scope, deadline, send)
            else:
                assert self.counted_app is not None
                await self.counted_app(scope, deadline, _closing_on_413(send))
        finally:
            deadline.close()


_STAMPED: Final = frozenset({b"x-request-id", b"server-timing"})


def _new_request_id() -> str:
    """32 random hexadecimal digits (as ``uuid.uuid4().hex``, at a quarter of its cost)."""
    return os.urandom(16).hex()


def _request_id(sent: bytes | None) -> str:
    """The client's id when it is a sane token, else a new one."""
    if sent is not None:
        text = sent.decode("latin-1")
        if _SANE_REQUEST_ID.fullmatch(text):
            return text
    return _new_request_id()


def _closing_on_413(send: Send) -> Send:
    """`send`, closing the connection after a ``413``."""

    async def send_closing_on_413(message: Message) -> None:
        # The streamed body was cut short at the limit: the rest of it is still on the
        # wire, so the connection cannot carry another request.
        if message["type"] == "http.response.start" and message["status"] == 413:
            MutableHeaders(scope=message)["connection"] = "close"
        await send(message)

    return send_closing_on_413


class _BodyDeadline:
    """A `receive` that raises the ``408`` when the body has not arrived in full `seconds`
    after the request's headers (from the creation of this object).

    One timer per request, not one per message (a large body comes in hundreds of them): at
    the deadline it cancels the task waiting in `receive`, if one is; a message asked for
    after the deadline is still answered if it has arrived, and the ``408`` otherwise. (A
    message that arrives in the very loop iteration of the deadline may still get the
    ``408``, as with ``asyncio.timeout``.) `close` stops the timer (the request is over).
    """

    __slots__ = (
        "body_done",
        "deadline",
        "expired",
        "loop",
        "receive",
        "seconds",
        "timer",
        "waiting",
    )

    def __init__(self, receive: Receive, seconds: float) -> None:
        self.receive = receive
        self.seconds = seconds
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + seconds
        self.body_done = False
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None
        self.waiting: asyncio.Task[Any] | None = None

    async def __call__(self) -> Message:
        if self.body_done:  # after the body: waiting for a disconnect is not the client's delay
            return await self.receive()
        if self.expired:
            # Late, but the rest of the body may have arrived while the app was busy.
            try:
                async with asyncio.timeout(0):
                    message = await self.receive()
            except TimeoutError:
                raise self._timeout() from None
        else:
            if self.timer is None:
                self.timer = self.loop.call_at(self.deadline, self._expire)
            task = self.waiting = asyncio.current_task()
            pending = task.cancelling() if task is not None else 0
            try:
                message = await self.receive()
            except asyncio.CancelledError:
                # The timer's cancellation, and no other one since the wait began: told from
                # the others as asyncio.timeout tells its own.
                if self.expired and task is not None and task.uncancel() <= pending:
                    raise self._timeout() from None
                raise
            finally:
                self.waiting = None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
            self.close()
        return message

    def _expire(self) -> None:
        self.expired = True
        if self.waiting is not None:
            self.waiting.cancel()

    def _timeout(self) -> HTTPException:
        return HTTPException(
            status_code=408,
            detail=(
                f"the request body did not arrive in full within {self.seconds:g} s "
                "of its headers (body_timeout)"
            ),
            headers={"Connection": "close"},
        )

    def close(self) -> None:
        """Stop the timer."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
