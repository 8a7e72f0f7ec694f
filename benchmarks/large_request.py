"""One POST /fit of 1,000,000 points as JSON, end to end, against parsing the same body.

    .venv/bin/python benchmarks/large_request.py [--points N] [--repeat R] [--compare]

Target (docs/performance.md): the request (real server on 127.0.0.1, one keep-alive httpx
connection, 10,000 epochs) takes at most 2 x the time of ``orjson.loads`` of the same body
plus ``np.array`` of its two lists (the unit), and the server's peak memory grows by at most
10 x the body size. Memory is the growth of the server's ``VmHWM`` (peak resident set,
/proc) over the first large request, measured after a small warm-up request.

``--compare`` also runs the same request on servers with the earlier paths: the whole body in
one ``orjson.loads`` (no chunked parse; it holds the event loop for the whole parse), then
also without the fast array path (orjson, then pydantic validates the lists), and FastAPI's
default (the standard library's ``json``, then pydantic), to show what each step buys.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable

import httpx
import numpy as np
import orjson
from _server import peak_rss_bytes, running_server

# `python -m service` variants, patched before the app is built: the whole body parsed at
# once, then without the array path (orjson, then pydantic validates the lists), and FastAPI's
# default (stdlib json, then pydantic).
_WHOLE = "import service.bodies.json_body as j; j.SPLIT_MIN_BYTES = 10**15; "
_NO_FAST_PATH = _WHOLE + "j.FAST_MIN_POINTS = 10**15; "
_RUN = "from service.__main__ import main; raise SystemExit(main([]))"
VARIANTS = {
    "POST /fit, whole body in one orjson.loads (before the chunked parse)": _WHOLE + _RUN,
    "POST /fit, orjson + pydantic lists (no array path)": _NO_FAST_PATH + _RUN,
    "POST /fit, FastAPI default (stdlib json + pydantic)": (
        _NO_FAST_PATH + "import json, types; "
        "j.orjson = types.SimpleNamespace(loads=json.loads, JSONDecodeError=json.JSONDecodeError); "
        + _RUN
    ),
}


def make_body(points: int) -> bytes:
    """A /fit body of `points` full-precision random points around y = 2x + 1."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, points)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 0.5, points)
    body = {"x": x, "y": y, "learning_rate": 0.01, "epochs": 10_000}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def parse_to_arrays(body: bytes) -> None:
    data = orjson.loads(body)
    np.array(data["x"], dtype=np.float64)
    np.array(data["y"], dtype=np.float64)


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_server(body: bytes, repeat: int, argv: list[str] | None) -> tuple[float, int]:
    """(median end-to-end seconds, peak memory growth in bytes) of POST /fit with `body`."""
    with running_server(argv=argv) as (url, pid):
        with httpx.Client(base_url=url, timeout=300) as client:
            headers = {"Content-Type": "application/json"}
            warm = client.post("/fit", json={"x": [0, 1, 2], "y": [1, 3, 5]})
            warm.raise_for_status()
            before = peak_rss_bytes(pid)

            def post() -> None:
                response = client.post("/fit", content=body, headers=headers)
                response.raise_for_status()

            post()
            growth = peak_rss_bytes(pid) - before
            seconds = median_seconds(post, repeat)
    return seconds, growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also time the slower paths")
    args = parser.parse_args()

    body = make_body(args.points)
    mib = len(body) / 2**20
    unit = median_seconds(lambda: parse_to_arrays(body), args.repeat)
    rows = [("orjson.loads + np.array (the unit)", unit, None)]
    seconds, growth = measure_server(body, args.repeat, None)
    rows.append(("POST /fit, end to end", seconds, growth))
    if args.compare:
        for name, code in VARIANTS.items():
            seconds, growth = measure_server(body, args.repeat, [sys.executable, "-c", code])
            rows.append((name, seconds, growth))

    print(f"n = {args.points:,} points, body {mib:.1f} MiB, median of {args.repeat}; ", end="")
    print(f"Python {platform.python_version()}, {platform.machine()}\n")
    print("| what | time | x unit | peak memory growth | x body |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, secs, grown in rows:
        memory = "" if grown is None else f"{grown / 2**20:.0f} MiB"
        ratio = "" if grown is None else f"{grown / len(body):.1f}"
        print(f"| {name} | {secs * 1000:.0f} ms | {secs / unit:.2f} | {memory} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
