"""The README's curl call against a real ``python -m service`` on loopback: a 200 with the
fit, the request id echoed and the fit's Server-Timing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from service.examples import ARTICLE_EXAMPLE, ARTICLE_X, ARTICLE_Y
from tests.helpers.fits import core_answer
from tests.helpers.servers import Server

pytestmark = pytest.mark.slow


def test_curl(live_server: Server) -> None:
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
            f"{live_server.url}/fit",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    head, _, body = result.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head.splitlines())}
    assert headers["x-request-id"] == "curl-1"
    assert headers["content-type"] == "application/json"
    assert headers["server-timing"].startswith("fit;dur=")
    options = {k: v for k, v in ARTICLE_EXAMPLE.items() if k not in ("x", "y")}
    assert json.loads(body) == core_answer(ARTICLE_X, ARTICLE_Y, **options)
