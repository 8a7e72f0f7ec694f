"""Limits: every limit /info lists answers a clear 422 on every fit route (the body limit a
413 before parsing, checked against a real server for Content-Length and chunked bodies)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apps import app_with, serve
from tests.servers import Server, running_server

LIMITS = {"max_points": 4, "max_epochs": 50, "max_history_points": 5, "max_batch": 2}
FIT = {"x": [0, 1, 2], "y": [1, 3, 5], "epochs": 10}


def over(limit: str) -> dict[str, Any]:
    """A /fit body one past `limit` (of `LIMITS`), valid otherwise."""
    if limit == "max_points":
        return {**FIT, "x": [0, 1, 2, 3, 4], "y": [1, 3, 5, 7, 9]}
    if limit == "max_epochs":
        return {**FIT, "epochs": 51}
    assert limit == "max_history_points"
    return {**FIT, "history_points": 6}


@pytest.mark.anyio
async def test_info_lists_the_limits_tested_here() -> None:
    async with serve(app_with(**LIMITS, max_body_bytes=10_000)) as client:
        limits = (await client.get("/info")).json()["limits"]
    assert limits == {**LIMITS, "max_body_bytes": 10_000}


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/fit", "/fit/plot"])
@pytest.mark.parametrize("limit", ["max_points", "max_epochs", "max_history_points"])
async def test_each_fit_limit_is_a_clear_422(route: str, limit: str) -> None:
    async with serve(app_with(**LIMITS)) as client:
        at_limit = await client.post("/fit", json={**FIT, "x": [0, 1, 2, 3], "y": [1, 2, 3, 5]})
        response = await client.post(route, json=over(limit))
    assert at_limit.status_code == 200
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert f"({limit})" in item["msg"]
    assert str(LIMITS[limit]) in item["msg"]


@pytest.mark.anyio
@pytest.mark.parametrize("limit", ["max_points", "max_epochs", "max_history_points"])
async def test_each_fit_limit_in_a_batch_item_is_a_clear_422(limit: str) -> None:
    async with serve(app_with(**{**LIMITS, "max_points": 100})) as client:
        body = over(limit) if limit != "max_points" else {**FIT, "x": list(range(101))}
        if limit == "max_points":
            body["y"] = list(range(101))
        response = await client.post("/fit/batch", json={"fits": [FIT, body]})
    assert response.status_code == 422
    messages = [item["msg"] for item in response.json()["detail"]]
    assert any(f"({limit})" in message for message in messages), messages


@pytest.mark.anyio
async def test_batch_size_and_total_points_limits() -> None:
    async with serve(app_with(**LIMITS)) as client:
        too_many = await client.post("/fit/batch", json={"fits": [FIT, FIT, FIT]})
        too_much = await client.post("/fit/batch", json={"fits": [FIT, FIT]})
        at_limit = await client.post("/fit/batch", json={"fits": [FIT]})
    assert too_many.status_code == 422
    assert any("(max_batch)" in item["msg"] for item in too_many.json()["detail"])
    assert too_much.status_code == 422
    assert [item["msg"] for item in too_much.json()["detail"]] == [
        "fits hold 6 points in all; this server accepts at most 4 (max_points)"
    ]
    assert at_limit.status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/fit", "/fit/batch", "/fit/plot"])
async def test_body_limit_on_every_fit_route(route: str) -> None:
    async with serve(app_with(max_body_bytes=50)) as client:
        response = await client.post(
            route, content=b" " * 51, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert "(max_body_bytes)" in response.json()["detail"]


# Against a real server: the 413 must come before the body is read, whatever its framing.

BODY_LIMIT = 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("limits"), max_body_bytes=str(BODY_LIMIT)
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


@pytest.mark.e2e
def test_real_server_413_on_content_length_without_reading_the_body(server: Server) -> None:
    head = (
        b"POST /fit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    # Not one byte of the announced gigabyte is sent: the answer must not wait for it.
    status, body, headers = status_and_body(raw_exchange(server, head, []))
    assert status == 413
    assert b"larger than the limit of 1000 bytes (max_body_bytes)" in body
    assert "connection: close" in headers


@pytest.mark.e2e
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
    assert body.startswith(b"{") and b"detail" in body
    assert "connection: close" in headers


@pytest.mark.e2e
def test_real_server_413_on_an_httpx_streamed_body_then_healthy(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"x": ['
        for _ in range(400):
            yield b"1.0, "
        yield b'2.0], "y": [1, 2]}'

    with httpx.Client(base_url=server.url, timeout=5) as client:
        response = client.post(
            "/fit", content=chunks(), headers={"Content-Type": "application/json"}
        )
        small = client.post("/fit", json={"x": [0, 1], "y": [0, 1]})
    assert response.status_code == 413
    assert small.status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200
