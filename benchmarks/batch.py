"""POST /fit/batch of 1,000 fits of 100 points against the same fits sent one by one.

    .venv/bin/python benchmarks/batch.py [--fits N] [--points P] [--repeat R]

Target (docs/performance.md): the batch has at least 10 x the throughput (fits per
second) of the same fits POSTed to /fit one at a time over one keep-alive connection. Both
run against one real server (``python -m service``, one worker, 127.0.0.1) with one httpx
client; each fit is a different data set with 10,000 epochs and a different learning rate,
as a batch of separate jobs would be.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import httpx
import numpy as np
import orjson
from _server import running_server


def make_fits(count: int, points: int) -> list[dict[str, Any]]:
    """`count` different fits of `points` points each (lines with noise), as /fit bodies."""
    rng = np.random.default_rng(11)
    fits = []
    for i in range(count):
        x = np.round(np.linspace(-1.0, 1.0, points) + rng.normal(0.0, 0.25, points), 4)
        y = np.round((1 + i % 7) * x + rng.normal(0.0, 0.25, points), 4)
        fits.append({"x": x.tolist(), "y": y.tolist(), "learning_rate": 0.005 + i % 5 * 0.002})
    return fits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=1000)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    fits = make_fits(args.fits, args.points)
    bodies = [orjson.dumps(fit) for fit in fits]
    batch = orjson.dumps({"fits": fits})
    headers = {"Content-Type": "application/json"}
    one_by_one: list[float] = []
    batched: list[float] = []
    with running_server() as (url, _), httpx.Client(base_url=url, timeout=120) as client:
        client.post("/fit", content=bodies[0], headers=headers).raise_for_status()
        for _ in range(args.repeat):
            start = time.perf_counter()
            singles = [client.post("/fit", content=body, headers=headers) for body in bodies]
            one_by_one.append(time.perf_counter() - start)
            start = time.perf_counter()
            response = client.post("/fit/batch", content=batch, headers=headers)
            batched.append(time.perf_counter() - start)
            response.raise_for_status()
            results = response.json()["results"]
            assert all(s.status_code == 200 for s in singles)
            same = np.allclose(
                [r["m"] for r in results], [s.json()["m"] for s in singles], rtol=1e-9
            )
            assert same, "the batch answers differ from the single fits"

    single_s, batch_s = statistics.median(one_by_one), statistics.median(batched)
    print(f"{args.fits:,} fits of {args.points} points, 10,000 epochs each, median of ", end="")
    print(f"{args.repeat}; Python {platform.python_version()}, {platform.machine()}\n")
    print("| how | time | fits per second | x one by one |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in (
        ("POST /fit one by one (keep-alive)", single_s),
        ("POST /fit/batch", batch_s),
    ):
        rate = args.fits / seconds
        print(f"| {name} | {seconds * 1000:.0f} ms | {rate:,.0f} | {single_s / seconds:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
