"""End to end: the real server (`python -m service`) on a free loopback port, driven by the
client and by curl, then stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from service import core
from service.client import Client, FitServiceError
from service.examples import ARTICLE_EXAMPLE, ARTICLE_X, ARTICLE_Y
from service.schemas import BatchItemError, FitResponse
from tests.servers import Server, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server"), log_level="warning") as server:
        yield server


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
