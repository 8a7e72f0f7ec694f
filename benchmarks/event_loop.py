"""How long a large JSON body holds the event loop: GET /healthz latency while 1,000,000-point
bodies are posted.

    .venv/bin/python benchmarks/event_loop.py [--points N] [--bodies B] [--compare]

Target (docs/operations.md): parsing and validating a body never blocks the event loop for
more than about 50 ms, and ``/healthz`` answers within 100 ms (p99) under load. One client
thread posts `--bodies` JSON bodies of `--points` points one after the other to POST /fit
(one-worker server on 127.0.0.1); another polls GET /healthz on its own keep-alive
connection all the while. A ``/healthz`` round trip takes about a millisecond, so its
latency beyond that is the time the event loop was held. ``--compare`` also runs the server
with large bodies parsed by one ``orjson.loads`` (the path before the chunked parse)."""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import httpx
from _server import running_server
from large_request import make_body

_RUN = "from service.__main__ import main; raise SystemExit(main([]))"
WHOLE_PARSE = [
    sys.executable,
    "-c",
    "import service.bodies.json_body as j; j.SPLIT_MIN_BYTES = 10**15; " + _RUN,
]


def health_during_posts(url: str, body: bytes, bodies: int) -> tuple[list[float], float]:
    """(/healthz latencies in seconds while `bodies` posts of `body` ran, seconds per post)."""
    latencies: list[float] = []
    done = threading.Event()
    post_seconds: list[float] = []

    def post() -> None:
        try:
            with httpx.Client(base_url=url, timeout=300) as client:
                headers = {"Content-Type": "application/json"}
                for _ in range(bodies):
                    start = time.perf_counter()
                    client.post("/fit", content=body, headers=headers).raise_for_status()
                    post_seconds.append(time.perf_counter() - start)
        finally:
            done.set()

    with httpx.Client(base_url=url, timeout=30) as health:
        health.get("/healthz").raise_for_status()
        poster = threading.Thread(target=post)
        poster.start()
        while not done.is_set():
            start = time.perf_counter()
            health.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - start)
            time.sleep(0.002)
        poster.join()
    return latencies, statistics.median(post_seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--bodies", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also the whole-body parse")
    args = parser.parse_args()
    body = make_body(args.points)
    runs: list[tuple[str, list[str] | None]] = [("chunked parse (the service)", None)]
    if args.compare:
        runs.append(("one orjson.loads of the whole body (before)", WHOLE_PARSE))
    print(
        f"GET /healthz polled while {args.bodies} bodies of {args.points:,} points "
        f"({len(body) / 2**20:.1f} MiB JSON) are posted one after the other:\n"
    )
    print("| server | /healthz polls | p50 ms | p99 ms | max ms | POST /fit median ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, argv in runs:
        with running_server(argv=argv, quiet=True) as (url, _):
            latencies, post = health_during_posts(url, body, args.bodies)
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(
            f"| {name} | {len(ordered):,} | {statistics.median(ordered) * 1000:.1f} "
            f"| {p99 * 1000:.1f} | {ordered[-1] * 1000:.1f} | {post * 1000:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
