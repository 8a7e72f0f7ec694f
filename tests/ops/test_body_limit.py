"""The body size limit (GDS_MAX_BODY_BYTES): one 413 body for every over-limit request on every
fit route, before the body is parsed, whether it announced its length or was streamed;
against a real server, before the body is even read (the connection is then closed)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.helpers.apps import JSON, ClientFactory
from tests.helpers.servers import Server, running_server


def too_large(limit: int) -> dict[str, str]:
    """The one 413 body."""
    return {
        "detail": f"the request body is larger than the limit of {limit} bytes (max_body_bytes)"
    }


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/fit", "/fit/batch", "/fit/plot"])
async def test_body_over_limit_is_413_before_parsing(
    make_client: ClientFactory, route: str
) -> None:
    async with make_client(max_body_bytes=100) as client:
        # Not JSON at all: a 413, not a 422, so the size is checked first.
        response = await client.post(route, content=b"{" + b" " * 200, headers=JSON)
    assert response.status_code == 413
    assert response.json() == too_large(100)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


@pytest.mark.anyio
async def test_streamed_body_over_limit_is_the_same_413(make_client: ClientFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"x": ['
        for _ in range(100):
            yield b"1.0, "
        yield b'2.0], "y": [1, 2]}'

    async with make_client(max_body_bytes=100) as client:
        response = await client.post("/fit", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json() == too_large(100)
    assert response.headers["connection"] == "close"


@pytest.mark.anyio
async def test_body_at_limit_is_accepted(make_client: ClientFactory) -> None:
    body = b'{"x": [0, 1], "y": [0, 1]}'
    async with make_client(max_body_bytes=len(body)) as client:
        at_limit = await client.post("/fit", content=body, headers=JSON)
        one_over = await client.post("/fit", content=body + b" ", headers=JSON)
    assert at_limit.status_code == 200
    assert (one_over.status_code, one_over.json()) == (413, too_large(len(body)))


# Against a real server: the 413 must come before the body is read, whatever its framing.

BODY_LIMIT = 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("body-limit"), max_body_bytes=str(BODY_LIMIT)
    ) as server:
        yield server


def raw_exchange(server: Server, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send `head` and `body_parts` on a raw socket (never finishing an oversized body), then
    read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        received = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def status_and_body(answer: bytes) -> tuple[int, bytes, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body, head.decode("latin-1").lower()


@pytest.mark.slow
def test_real_server_413_on_content_length_without_reading_the_body(server: Server) -> None:
    head = (
        b"POST /fit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    # Not one byte of the announced gigabyte is sent: the answer must not wait for it.
    status, body, headers = status_and_body(raw_exchange(server, head, []))
    assert status == 413
    assert httpx.Response(413, content=body).json() == too_large(BODY_LIMIT)
    assert "connection: close" in headers


@pytest.mark.slow
def test_real_server_413_on_a_chunked_body_as_soon_as_it_passes_the_limit(
    server: Server,
) -> None:
    head = (
        b"POST /fit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b'{"x": [' + b"1.0, " * 100
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 3  # 1.5 KB, and never the final chunk
    status, body, headers = status_and_body(raw_exchange(server, head, parts))
    assert status == 413
    assert "transfer-encoding: chunked" not in headers
    assert httpx.Response(413, content=body).json() == too_large(BODY_LIMIT)
    assert "connection: close" in headers


@pytest.mark.slow
def test_real_server_413_on_an_httpx_streamed_body_then_healthy(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"x": ['
        for _ in range(400):
            yield b"1.0, "
        yield b'2.0], "y": [1, 2]}'

    with httpx.Client(base_url=server.url, timeout=5) as client:
        response = client.post("/fit", content=chunks(), headers=JSON)
        small = client.post("/fit", json={"x": [0, 1], "y": [0, 1]})
    assert (response.status_code, response.json()) == (413, too_large(BODY_LIMIT))
    assert small.status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200
