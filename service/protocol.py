"""The HTTP/1.1 protocol the server speaks: uvicorn's httptools protocol, guarded.

uvicorn bounds idle keep-alive connections, but not a connection that is slow to send a
request's headers (slowloris), nor the size of those headers: 400 connections trickling a
byte now and then were held open for ever, and a 128 MB header line was read in full. This
protocol closes a connection whose request headers have not arrived in full within
``GDS_HEADER_TIMEOUT`` seconds (counted from the connection's opening for its first request,
from the request's first byte afterwards), and answers ``431`` and closes when the headers of
one request pass `MAX_HEADER_BYTES`. Bodies are bounded elsewhere (``GDS_BODY_TIMEOUT`` and
``GDS_MAX_BODY_BYTES``, `service.middleware`).

``python -m service`` passes `GuardedHttpToolsProtocol` to uvicorn as its ``http`` protocol.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.settings import get_settings

__all__ = ["MAX_HEADER_BYTES", "GuardedHttpToolsProtocol"]

MAX_HEADER_BYTES = 64 * 1024
"""Largest request line plus headers of one request (nginx's large_client_header_buffers
allows 32 KiB; browsers send a few KiB)."""

logger = logging.getLogger("service.protocol")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a header size limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = get_settings().header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        # When the headers being awaited started (None between requests and after the
        # headers): one timer per connection checks it, re-armed for what is left when it
        # fires early, instead of a timer armed and cancelled for every request.
        self._headers_since: float | None = None
        self._in_headers = True
        self._header_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers_since = self.loop.time()
        self._arm_header_timer(self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still in the headers after this chunk: every byte counted so far was a header byte.
        if self._in_headers and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(431, "request headers too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        self._headers_since = self.loop.time()
        if self._header_timer is None:
            self._arm_header_timer(self._header_timeout)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._headers_since = None
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > MAX_HEADER_BYTES:
            self._refuse(431, "request headers too large")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Until the next request's first byte, uvicorn's keep-alive timeout applies.
        self._in_headers = True
        self._header_bytes = 0

    def _arm_header_timer(self, seconds: float) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(seconds, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._headers_since is None:
            return  # between requests (uvicorn's keep-alive timeout) or past the headers
        left = self._headers_since + self._header_timeout - self.loop.time()
        if left > 0:  # these headers started after the timer was armed
            self._arm_header_timer(left)
            return
        if not self.transport.is_closing():
            logger.info(
                "closed a connection from %s: no complete request headers within %g s "
                "(GDS_HEADER_TIMEOUT)",
                self.client[0] if self.client else "an unknown client",
                self._header_timeout,
            )
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with a plain-text `message` and close, mid-request."""
        self._refused = True
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        body = message.encode("ascii")
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
