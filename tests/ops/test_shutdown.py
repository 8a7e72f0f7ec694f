"""SIGTERM: an idle server exits with status 0 and closes its port; with a request in
flight, it still gets its fit, /readyz answers 503 (or new connections are refused), and the
process exits with status 0. Real `python -m service` servers."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.servers import Server, running_server

pytestmark = pytest.mark.slow

MOMENTS = {"n": 100, "mean_x": 0.0, "mean_y": 0.0, "sxx": 10.0, "sxy": 5.0, "syy": 4.0}
BATCH = {"fits": [{"moments": MOMENTS, "learning_rate": 0.01, "history_points": 10}] * 4}
SEND_SECONDS = 1.5
"""How long the in-flight request takes to send its body. The core fits even ten million
epochs in milliseconds, so a slow client, not a slow fit, keeps the request in flight."""


def slow_body() -> Iterator[bytes]:
    """`BATCH` as JSON, sent in 25 pieces over `SEND_SECONDS`."""
    body = json.dumps(BATCH).encode()
    pieces = 25
    size = -(-len(body) // pieces)
    for start in range(0, len(body), size):
        yield body[start : start + size]
        time.sleep(SEND_SECONDS / pieces)


class InFlight:
    """A POST /fit/batch that takes `SEND_SECONDS` to send, in a thread; `answer` once it
    came back."""

    def __init__(self, server: Server) -> None:
        self.answer: httpx.Response | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._post, args=(server.url,), daemon=True)
        self.thread.start()

    def _post(self, url: str) -> None:
        try:
            self.answer = httpx.post(
                f"{url}/fit/batch",
                content=slow_body(),
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error

    def result(self) -> httpx.Response:
        self.thread.join(timeout=120)
        assert self.error is None, repr(self.error)
        assert self.answer is not None
        return self.answer


def wait_in_flight(server: Server, request: InFlight) -> None:
    """Until the server counts the slow request in progress (besides the scrape itself)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
        match = re.search(r"^gds_http_requests_in_progress (\S+)", text, re.MULTILINE)
        if match and float(match.group(1)) >= 2:
            return
        assert request.thread.is_alive(), "the request finished before SIGTERM could be sent"
        time.sleep(0.01)
    pytest.fail("the long fit never showed up as in progress")


def get(url: str) -> Any:
    """The status of GET `url` on a new connection, or the transport error's name."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError as error:
        return type(error).__name__


def check_fit(answer: httpx.Response) -> None:
    """The in-flight batch was answered in full, as if no signal had come."""
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == len(BATCH["fits"])
    assert all(result["epochs_run"] == 10_000 for result in results)
    assert all(len(result["history"]["epoch"]) == 10 for result in results)


def test_sigterm_on_an_idle_server_exits_0_and_closes_the_port(tmp_path: Path) -> None:
    with running_server(tmp_path, log_level="warning") as server:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        assert get(f"{server.url}/healthz") == "ConnectError"


def test_sigterm_lets_the_fit_finish_and_refuses_new_connections(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        request = InFlight(server)
        wait_in_flight(server, request)
        server.process.send_signal(signal.SIGTERM)
        seen = set()
        while request.thread.is_alive():
            seen.add(get(f"{server.url}/readyz"))
            time.sleep(0.05)
        check_fit(request.result())
        assert server.process.wait(timeout=30) == 0
    # The listening socket closes at once; a request that still got in sees "not ready", or
    # its connection, accepted in the moment before, closed without an answer (a close the
    # client reads as the end of the stream, or as a reset when its request was unread).
    assert seen <= {"ConnectError", "RemoteProtocolError", "ReadError", 503}, seen
    assert "ConnectError" in seen


def test_sigterm_with_drain_answers_readyz_503_while_the_fit_runs(tmp_path: Path) -> None:
    with running_server(tmp_path, drain_seconds="2.0") as server:
        request = InFlight(server)
        wait_in_flight(server, request)
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 0.6
        readiness, health = [], []
        while time.monotonic() < deadline:
            readiness.append(get(f"{server.url}/readyz"))
            health.append(get(f"{server.url}/healthz"))
            time.sleep(0.05)
        check_fit(request.result())
        assert server.process.wait(timeout=30) == 0
        log = server.log_text()
    # The first probe may race the signal handler; from then on the answer is 503.
    assert readiness[-1] == 503 and set(readiness[1:]) == {503}, readiness
    assert set(health) == {200}, health
    assert "GDS_DRAIN_SECONDS" in log
