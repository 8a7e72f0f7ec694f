"""Worst-case work per request: the CPU time of the most expensive valid requests within the
default limits, each sent once to the app in process (parsing, validation, fit, answer).

Usage: ``python benchmarks/worst_case.py``. Prints a Markdown table of CPU seconds (this
process's user + system time, so other load on the machine changes it little) and the wall
time. The requests are built to be as expensive as the default limits allow:

- one `/fit` of `max_points` points for `max_epochs` epochs with `tolerance` 0 and a learning
  rate so small that no epoch meets it (so every epoch's gradient norm is scanned) and
  `max_history_points` log-spaced history entries, with the momentum optimizer: on the
  core's small path (double-double), and with x scaled by 1e-200, which the moments carry in
  scaled units and the core descends on its extended-precision vectorized path (the most
  expensive per epoch);
- one `/fit/batch` spending the whole batch budget: `max_batch` momentum fits sharing
  `max_points` points, 10 x `max_epochs` epochs and 10 x `max_history_points` history
  entries in all, every fit scanning for tolerance, on either path as above;
- the same batch with Nesterov's rule diverging from a huge start (`initial_m` 1e152),
  which makes the core locate the first overflowing epoch of every fit;
- `/fit/plot` of `max_points` points.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
from typing import Any

import httpx
import numpy as np
import orjson

from service.app import create_app
from service.settings import Settings

SLOW_RATE = 1e-7
"""A learning rate at which no fit of these data comes near float64's underflow within the
epochs allowed: `tolerance` 0 is never met, so every epoch is scanned."""
TINY_X = 1e-200
"""x scaled by this is carried in scaled units: the extended-precision vectorized path."""


def _bodies() -> dict[str, tuple[str, bytes]]:
    settings = Settings()
    rng = np.random.default_rng(1)
    n = settings.max_points
    x = rng.normal(0.0, 1.0, n)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 0.5, n)
    items = settings.max_batch
    per_item = n // items
    epochs_each = 10 * settings.max_epochs // items
    history_each = 10 * settings.max_history_points // items

    def batch(scale: float) -> list[dict[str, Any]]:
        return [
            {
                "x": (scale * x[i * per_item : (i + 1) * per_item]).tolist(),
                "y": y[i * per_item : (i + 1) * per_item].tolist(),
                "learning_rate": SLOW_RATE,
                "epochs": epochs_each,
                "tolerance": 0,
                "history_points": history_each,
                "optimizer": "momentum",
            }
            for i in range(items)
        ]

    def single(scale: float) -> dict[str, Any]:
        return {
            "x": (scale * x).tolist(),
            "y": y.tolist(),
            "optimizer": "momentum",
            "learning_rate": SLOW_RATE,
            "epochs": settings.max_epochs,
            "tolerance": 0,
            "history_points": settings.max_history_points,
            "history_spacing": "log",
        }

    diverging = [
        {**fit, "optimizer": "nesterov", "initial_m": 1e152, "learning_rate": 1.5}
        for fit in batch(1.0)
    ]
    plot = {"x": x.tolist(), "y": y.tolist(), "learning_rate": 0.01}
    return {
        "POST /fit: 1e6 points, 1e7 epochs (momentum), tolerance scan, 10,000 history points": (
            "/fit",
            orjson.dumps(single(1.0)),
        ),
        "... the same with x scaled by 1e-200 (the extended-precision vectorized path)": (
            "/fit",
            orjson.dumps(single(TINY_X)),
        ),
        "POST /fit/batch: 1,000 momentum fits, 1e6 points, 1e8 epochs, 1e5 history entries": (
            "/fit/batch",
            orjson.dumps({"fits": batch(1.0)}),
        ),
        "... the same with x scaled by 1e-200 (the vectorized path)": (
            "/fit/batch",
            orjson.dumps({"fits": batch(TINY_X)}),
        ),
        "POST /fit/batch: 1,000 Nesterov fits, every one diverging from initial_m = 1e152": (
            "/fit/batch",
            orjson.dumps({"fits": diverging}),
        ),
        "POST /fit/plot: 1e6 points": ("/fit/plot", orjson.dumps(plot)),
    }


async def _measure(route: str, body: bytes) -> tuple[int, float, float]:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app)
    # Started as a server is (its lifespan loads the core's compiled loops before the first
    # request), so that no row counts that one-off load.
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            cpu, wall = time.process_time(), time.perf_counter()
            response = await client.post(
                route, content=body, headers={"Content-Type": "application/json"}, timeout=600
            )
            return (
                response.status_code,
                time.process_time() - cpu,
                time.perf_counter() - wall,
            )


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print()
    print("| request (default limits) | body | status | CPU s | wall s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows: list[Any] = []
    for name, (route, body) in _bodies().items():
        status, cpu, wall = asyncio.run(_measure(route, body))
        rows.append((name, len(body), status, cpu, wall))
        print(f"| {name} | {len(body) / 2**20:.1f} MiB | {status} | {cpu:.2f} | {wall:.2f} |")


if __name__ == "__main__":
    main()
