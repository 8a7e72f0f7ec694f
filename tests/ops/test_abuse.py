"""Abuse and overload: load shedding, body and header timeouts, header size, refusing before
reading, forged log lines, the open-files limit. In-process where the behaviour is the app's,
against a real server where it is the protocol's."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException

from service import metrics, middleware, operations
from service.__main__ import raise_open_files_limit
from service.logs import TEXT_FORMAT, TextFormatter
from service.protocol import MAX_HEADER_BYTES
from service.routes import fit as fit_routes
from tests.helpers.apps import app_with, serve
from tests.helpers.servers import Server, running_server, start_server

LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7]}


@pytest.mark.anyio
async def test_fit_requests_over_max_concurrency_get_503_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)
    fit_one = operations.fit_one

    def held_fit(*args: Any, **kwargs: Any) -> Any:
        entered.release()
        release.wait(10)
        return fit_one(*args, **kwargs)

    monkeypatch.setattr(operations, "fit_one", held_fit)
    # Held fits must run in the threadpool (a small one would otherwise run on the loop).
    monkeypatch.setattr(fit_routes, "runs_inline", lambda fits: False)
    async with serve(app_with(max_concurrency=2)) as client:
        held = [asyncio.create_task(client.post("/fit", json=LINE)) for _ in range(2)]
        for _ in range(2):
            await asyncio.to_thread(entered.acquire, True, 10)
        refused = await client.post("/fit", json=LINE)
        batch = await client.post("/fit/batch", json={"fits": [LINE]})
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        release.set()
        answers = await asyncio.gather(*held)
        after = await client.post("/fit", json=LINE)
    for response in (refused, batch):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.headers["connection"] == "close"
        assert "max_concurrency" in response.json()["detail"]
    assert (health.status_code, ready.status_code) == (200, 200)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert after.status_code == 200


@pytest.mark.anyio
async def test_a_body_slower_than_body_timeout_gets_408() -> None:
    async def trickle() -> Any:
        yield b'{"x": [0, 1, 2, 3], '
        await asyncio.sleep(1.0)
        yield b'"y": [1, 3, 5, 7]}'

    async with serve(app_with(body_timeout=0.2)) as client:
        slow = await client.post(
            "/fit", content=trickle(), headers={"Content-Type": "application/json"}
        )
        fast = await client.post("/fit", json=LINE)
    assert slow.status_code == 408
    assert slow.headers["connection"] == "close"
    assert "body_timeout" in slow.json()["detail"]
    assert fast.status_code == 200


def _messages(parts: int, late: asyncio.Event | None = None) -> Any:
    """A `receive` answering `parts` body messages in turn, waiting for `late` before the
    last one (when given)."""
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        if late is not None and sent == parts:
            await late.wait()
        return {"type": "http.request", "body": b"x", "more_body": sent < parts}

    return receive


@pytest.mark.anyio
async def test_the_body_deadline_is_one_timer_per_request_not_one_per_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def counted(*args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.append(call_at(*args, **kwargs))
        return timers[-1]

    monkeypatch.setattr(loop, "call_at", counted)
    deadline = middleware._BodyDeadline(_messages(300), 30.0)
    messages = [await deadline() for _ in range(300)]
    assert [message["more_body"] for message in messages] == [True] * 299 + [False]
    assert len(timers) == 1 and timers[0].cancelled()  # stopped with the body's last message


@pytest.mark.anyio
async def test_the_body_deadline_cancels_a_wait_into_408_and_passes_other_cancellations() -> None:
    deadline = middleware._BodyDeadline(_messages(2, asyncio.Event()), 0.05)
    assert (await deadline())["more_body"]
    with pytest.raises(HTTPException) as refused:
        await deadline()  # the second message waits, past the deadline
    assert refused.value.status_code == 408
    assert "body_timeout" in refused.value.detail

    # Someone else's cancellation (a shutdown, a disconnect) stays a cancellation, also when
    # it lands together with the deadline's.
    for with_deadline in (False, True):
        waiting = middleware._BodyDeadline(_messages(2, asyncio.Event()), 30.0)
        await waiting()
        task = asyncio.ensure_future(waiting())
        await asyncio.sleep(0)
        task.cancel()
        if with_deadline:
            waiting._expire()
        with pytest.raises(asyncio.CancelledError):
            await task
        waiting.close()
        assert waiting.timer is None


@pytest.mark.anyio
async def test_the_body_deadline_is_a_408_for_a_task_that_swallowed_a_cancellation() -> None:
    """A task already marked cancelled once (a cancellation caught and not uncancelled) still
    gets the 408 at the deadline, as under ``asyncio.timeout``."""

    async def reader() -> Any:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # swallowed, cancelling() stays 1
        deadline = middleware._BodyDeadline(_messages(2, asyncio.Event()), 0.05)
        await deadline()
        return await deadline()

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(HTTPException) as refused:
        await task
    assert refused.value.status_code == 408


@pytest.mark.anyio
async def test_the_body_deadline_answers_a_late_call_whose_message_has_arrived() -> None:
    # The app was busy past the deadline, the client was not: what arrived is answered.
    deadline = middleware._BodyDeadline(_messages(2), 0.01)
    assert (await deadline())["more_body"]
    await asyncio.sleep(0.05)
    assert deadline.expired
    assert not (await deadline())["more_body"]
    # The same late call with nothing arrived is the 408.
    late = middleware._BodyDeadline(_messages(2, asyncio.Event()), 0.01)
    await late()
    await asyncio.sleep(0.05)
    with pytest.raises(HTTPException) as refused:
        await late()
    assert refused.value.status_code == 408


def test_text_log_lines_escape_control_characters() -> None:
    formatter = TextFormatter(TEXT_FORMAT)
    forged = "/x\n2026-11-30 00:00:00,000 INFO service.access: POST /fit 200 1.00 ms"
    record = logging.LogRecord(
        "service.access", logging.INFO, __file__, 1, "GET %s 404", (forged,), None
    )
    record.request_id = "abc"
    line = formatter.format(record)
    assert "\n" not in line and "\r" not in line
    assert line.endswith(
        "GET /x\\n2026-11-30 00:00:00,000 INFO service.access: POST /fit 200 1.00 ms 404 [abc]"
    )


def test_open_files_soft_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if soft == hard and hard > 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard // 2, hard))
        lowered, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert raise_open_files_limit() == (hard, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert lowered <= hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# Against a real server: the protocol's guards, and refusing before the body is read.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("abuse"), header_timeout="0.5", api_keys="k", body_timeout="2"
    ) as server:
        yield server


def _exchange(server: Server, data: bytes, wait: float = 5.0) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed_after_header_timeout(server: Server) -> None:
    start = time.monotonic()
    assert _exchange(server, b"") == b""
    assert 0.3 < time.monotonic() - start < 4


@pytest.mark.slow
def test_trickled_headers_are_cut_off_after_header_timeout(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        closed = False
        for _ in range(40):
            try:
                sock.sendall(b"X-a: b\r\n")
                if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.1)
    assert closed, "the server kept a connection that trickled its headers for 4 s"
    assert time.monotonic() - start < 4


@pytest.mark.slow
def test_headers_over_the_limit_get_431(server: Server) -> None:
    huge = b"X-Big: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n"
    answer = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + huge + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.slow
def test_a_request_without_a_key_is_refused_before_its_body_is_read(server: Server) -> None:
    head = (
        b"POST /fit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 20000000\r\n\r\n"
    )
    start = time.monotonic()
    answer = _exchange(server, head + b'{"x": [')
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - start < 1.5  # answered and closed long before the body timeout


@pytest.mark.slow
def test_a_trickled_body_gets_408_and_the_connection_closes(server: Server) -> None:
    head = (
        b"POST /fit HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer k\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    start = time.monotonic()
    answer = _exchange(server, head + b'{"x": [1, 2', wait=10)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"body_timeout" in answer
    assert 1.5 < time.monotonic() - start < 6


@pytest.mark.slow
def test_a_forged_access_line_stays_on_one_line(server: Server, tmp_path: Path) -> None:
    forged = "/x%0A2026-11-30%2000:00:00,000%20INFO%20service.access:%20POST%20/fit%20200"
    httpx.get(f"{server.url}{forged}")
    time.sleep(0.2)
    lines = [line for line in server.log_text().splitlines() if "service.access" in line]
    assert not any(line.startswith("2026-11-30 00:00:00,000") for line in lines)
    assert any("GET /x\\n2026-11-30" in line for line in lines)


def test_live_gauge_of_a_killed_worker_is_forgotten(tmp_path: Path) -> None:
    """A worker killed by a signal never marks itself dead: the next scrape does it."""
    code = (
        "import os, signal; from prometheus_client import Gauge, values;"
        "values.ValueClass = values.MultiProcessValue();"
        "g = Gauge('gds_test_in_progress', 'x', multiprocess_mode='livesum'); g.inc(3);"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert killed.returncode == -9
    (sample,) = tmp_path.glob("gauge_livesum_*.db")
    pid = int(sample.stem.rpartition("_")[2])
    assert metrics.forget_dead_workers(str(tmp_path)) == [pid]
    assert not list(tmp_path.glob("gauge_live*"))


# Bodies whose errors used to cost far more than their size: each answer stays small and fast.

FLOODS: dict[str, tuple[str, bytes]] = {
    "350,000 empty objects as x": (
        "/fit",
        b'{"x": [' + b",".join([b"{}"] * 350_000) + b'], "y": [1, 2]}',
    ),
    "a batch of 100,000 empty items": (
        "/fit/batch",
        b'{"fits": [' + b",".join([b"{}"] * 100_000) + b"]}",
    ),
    "a batch of 1,000 items with 100 bad points each": (
        "/fit/batch",
        b'{"fits": ['
        + b",".join([b'{"x": [' + b",".join([b'"a"'] * 100) + b'], "y": [1]}'] * 1000)
        + b"]}",
    ),
    "200,000 unknown keys": (
        "/fit",
        b'{"x": [1, 2], "y": [1, 2], ' + b",".join(b'"k%d": 1' % i for i in range(200_000)) + b"}",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(FLOODS))
async def test_a_flood_of_errors_answers_small_and_fast(name: str) -> None:
    route, body = FLOODS[name]
    async with serve(app_with()) as client:
        start = time.perf_counter()
        response = await client.post(
            route, content=body, headers={"Content-Type": "application/json"}
        )
        seconds = time.perf_counter() - start
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(response.content) <= 64 * 1024
    assert len(detail) <= 100
    # Each flood either lists a few errors and counts the rest, or is refused as a whole.
    assert detail[-1]["type"] in ("too_many_errors", "too_long"), detail[-1]
    assert seconds < 10, f"{name}: {seconds:.1f} s"  # generous: well under 1 s on a quiet machine


@pytest.mark.anyio
async def test_validation_of_a_flood_builds_no_error_per_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A million bad points make a bounded number of error objects (counted, not timed)."""
    from service import validation

    made = 0
    original = validation.PydanticCustomError

    def counting(*args: Any) -> Any:
        nonlocal made
        made += 1
        return original(*args)

    monkeypatch.setattr(validation, "PydanticCustomError", counting)
    body = b'{"x": [' + b",".join([b"null"] * 1_000_000) + b'], "y": [1, 2]}'
    async with serve(app_with()) as client:
        response = await client.post(
            "/fit", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert made <= 30


@pytest.mark.slow
def test_sigterm_does_not_wait_for_a_trickling_client_past_shutdown_timeout(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path, shutdown_timeout="2", body_timeout="60")
    try:
        server.wait_ready()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /fit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            time.sleep(0.3)
            start = time.monotonic()
            status = server.stop(timeout=20)
            seconds = time.monotonic() - start
    finally:
        server.stop()
    assert status == 0, server.log_text()
    assert 1.5 < seconds < 10, seconds


@pytest.mark.slow
def test_two_workers_survive_a_body_of_empty_objects_with_requests_in_flight(
    tmp_path: Path,
) -> None:
    """A 4 MB body of `{}` items used to hold a worker's event loop past uvicorn's health
    check, which killed the worker and the requests in flight on it."""
    flood = b'{"x": [' + b",".join([b"{}"] * 1_300_000) + b'], "y": [1, 2]}'
    line = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "epochs": 1000}
    # Slots for every request: this is about workers surviving, not about load shedding.
    with running_server(tmp_path, workers="2", max_concurrency="64") as server:

        async def traffic() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                floods = [
                    client.post("/fit", content=flood, headers={"Content-Type": "application/json"})
                    for _ in range(4)
                ]
                fits = [client.post("/fit", json=line) for _ in range(20)]
                answers = await asyncio.gather(*floods, *fits)
            return [answer.status_code for answer in answers]

        statuses = asyncio.run(traffic())
        log = server.log_text()
    assert statuses[:4] == [422] * 4
    assert statuses[4:] == [200] * 20
    assert "Child process" not in log and "died" not in log, log[-2000:]


@pytest.mark.slow
def test_health_answers_promptly_while_every_fit_slot_is_busy(tmp_path: Path) -> None:
    """Fits beyond the slots are refused at once; /healthz keeps answering in milliseconds."""
    slow = {
        "x": list(range(2000)),
        "y": list(range(2000)),
        "epochs": 2_000_000,
        "tolerance": 0,
        "learning_rate": 1e-9,
    }
    with running_server(tmp_path, max_concurrency="4") as server:

        async def traffic() -> tuple[list[int], list[float]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                fits = [asyncio.create_task(client.post("/fit", json=slow)) for _ in range(12)]
                await asyncio.sleep(0.3)
                delays = []
                for _ in range(20):
                    start = time.perf_counter()
                    assert (await client.get("/healthz")).status_code == 200
                    delays.append(time.perf_counter() - start)
                    await asyncio.sleep(0.02)
                answers = await asyncio.gather(*fits)
            return [answer.status_code for answer in answers], delays

        statuses, delays = asyncio.run(traffic())
    assert statuses.count(503) >= 8  # four slots: at most four fits were taken
    assert set(statuses) <= {200, 503}
    delays.sort()
    assert delays[-2] < 0.25, delays  # generous: about a millisecond on a quiet machine
