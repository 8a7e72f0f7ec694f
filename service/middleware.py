"""Pure ASGI middleware: request id and Server-Timing on every answer, and the body size limit.

- `RequestContextMiddleware` (outermost) echoes the client's ``X-Request-ID`` when it is a
  sane token (else generates one), keeps it in the request state for handlers and logs, and
  adds ``X-Request-ID`` and ``Server-Timing: fit;dur=<ms>`` to every response, where ``<ms>``
  is the time spent in the numerical core (`core_timer`), 0 for requests that do not fit.
- `BodyLimitMiddleware` answers ``413`` before the body is read when ``Content-Length`` is
  over the limit; a body without ``Content-Length`` (chunked) is counted as it streams by
  Starlette's `RequestBodyLimitMiddleware`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID_HEADER",
    "SERVER_TIMING_HEADER",
    "BodyLimitMiddleware",
    "RequestContextMiddleware",
    "core_timer",
    "request_id_of",
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
    """The id of the request in `scope` (set by `RequestContextMiddleware`)."""
    request_id = _state(scope).get(_REQUEST_ID)
    if not isinstance(request_id, str):
        request_id = uuid.uuid4().hex
        _state(scope)[_REQUEST_ID] = request_id
    return request_id


@contextmanager
def core_timer(request: Request) -> Iterator[None]:
    """Add the time spent inside the ``with`` block to the request's ``Server-Timing``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        state = _state(request.scope)
        state[_CORE_SECONDS] = state.get(_CORE_SECONDS, 0.0) + time.perf_counter() - start


class RequestContextMiddleware:
    """Give each request an id and stamp ``X-Request-ID`` and ``Server-Timing`` on the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = sent if sent and _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        state = _state(scope)
        state[_REQUEST_ID] = request_id
        state[_CORE_SECONDS] = 0.0

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                headers[SERVER_TIMING_HEADER] = f"fit;dur={state[_CORE_SECONDS] * 1000:.3f}"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Answer ``413`` for a request body larger than `max_body_bytes`, before parsing it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await self._too_large(int(length), send)
                return
        await self.app(scope, receive, send)

    async def _too_large(self, length: int, send: Send) -> None:
        body = json.dumps(
            {
                "detail": (
                    f"request body of {length} bytes is larger than the limit of "
                    f"{self.max_body_bytes} bytes (max_body_bytes)"
                )
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
