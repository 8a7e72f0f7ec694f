"""End to end: the real server (`python -m service`) on a free loopback port, driven by the
client and by curl, then stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from service import core
from service.client import Client, FitServiceError
from service.schemas import ARTICLE_EXAMPLE, ARTICLE_X, ARTICLE_Y, BatchItemError, FitResponse

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "GDS_HOST": "127.0.0.1",
        "GDS_PORT": str(port),
        "GDS_WORKERS": "1",
        "GDS_LOG_LEVEL": "warning",
        "GDS_API_KEYS": "",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"server exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not become ready within 20 s")
            time.sleep(0.05)
        yield Server(process, url)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()


def test_client_fits_the_article_example(server: Server) -> None:
    with Client(server.url) as client:
        result = client.fit(ARTICLE_X, ARTICLE_Y, learning_rate=0.01, history_points=5)
    expected = core.fit(
        np.asarray(ARTICLE_X),
        np.asarray(ARTICLE_Y),
        core.FitOptions(learning_rate=0.01, history_points=5),
    )
    assert result == FitResponse.from_core(expected)


def test_client_batch_and_errors(server: Server) -> None:
    line = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7]}
    with Client(server.url) as client:
        results = client.fit_batch([{**line, "lr": 0.05}, {**line, "lr": 9}])
        assert isinstance(results[0], FitResponse)
        assert isinstance(results[1], BatchItemError)
        with pytest.raises(FitServiceError) as raised:
            client.fit([1, 2, 3], [1, 2, 3, 4])
        info = client.info()
    assert raised.value.status_code == 422
    assert raised.value.detail[0]["msg"] == "x and y must have the same length (got 3 and 4)"
    assert info.limits.max_points == 1_000_000


def test_curl(server: Server) -> None:
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is required in CI (.ci/run installs it)")
        pytest.skip("curl is not installed on this machine (it is in CI)")
    result = subprocess.run(
        [
            curl,
            "-sS",
            "-i",
            "-H",
            "Content-Type: application/json",
            "-H",
            "X-Request-ID: curl-1",
            "-H",
            "Expect:",
            "--data-binary",
            json.dumps(ARTICLE_EXAMPLE),
            f"{server.url}/fit",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    head, _, body = result.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head.splitlines())}
    assert headers["x-request-id"] == "curl-1"
    assert headers["server-timing"].startswith("fit;dur=")
    assert json.loads(body)["n"] == 100


def test_sigterm_stops_with_status_0(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=1)
