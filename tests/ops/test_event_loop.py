"""A large JSON body does not hold the event loop (docs/operations.md): GET /healthz answers
promptly while 1,000,000-point bodies are parsed, validated and fitted, on a real server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from tests.helpers.servers import running_server

pytestmark = pytest.mark.slow

POINTS = 1_000_000
BODIES = 4


def big_body() -> bytes:
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, POINTS)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 0.5, POINTS)
    w = rng.random(POINTS) + 0.5
    return orjson.dumps(
        {"x": x, "y": y, "weights": w, "learning_rate": 0.01}, option=orjson.OPT_SERIALIZE_NUMPY
    )


def test_healthz_stays_prompt_while_million_point_bodies_are_parsed(tmp_path: Path) -> None:
    """One orjson.loads of such a body (40 MB) holds the GIL, and so the loop, for about
    150 ms; parsed in chunks the loop waits a few milliseconds at a time. The bounds are
    generous (p99 under the 100 ms target, the slowest poll under 250 ms) because the machine
    may be busy with other work: they catch a whole-body parse on the loop's path, not
    scheduling noise."""
    body = big_body()
    latencies: list[float] = []
    done = threading.Event()
    statuses: list[int] = []

    with running_server(tmp_path) as server:

        def post() -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=120) as client:
                    for _ in range(BODIES):
                        response = client.post(
                            "/fit", content=body, headers={"Content-Type": "application/json"}
                        )
                        statuses.append(response.status_code)
            finally:
                done.set()

        with httpx.Client(base_url=server.url, timeout=30) as health:
            health.get("/healthz").raise_for_status()
            poster = threading.Thread(target=post)
            poster.start()
            while not done.is_set():
                start = time.perf_counter()
                assert health.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - start)
                time.sleep(0.002)
            poster.join()

    assert statuses == [200] * BODIES
    assert len(latencies) >= 20
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    slowest = [round(t * 1000) for t in ordered[-5:]]
    assert p99 < 0.100, f"p99 {p99 * 1000:.0f} ms; the slowest (ms): {slowest}"
    assert ordered[-1] < 0.250, f"slowest /healthz {ordered[-1] * 1000:.0f} ms"
