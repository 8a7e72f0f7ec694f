"""Load test over loopback, and the three HTTP ratios of docs/performance.md in one run.

    .venv/bin/python benchmarks/load.py [--duration 10] [--concurrency 32] [--client auto]
                                        [--workers 1 2]

Starts the servers itself on free 127.0.0.1 ports and drives them with one load generator:
`wrk <https://github.com/wg/wrk>`_ (one thread) when it is installed (``apt-get install
wrk``), else an httpx ``AsyncClient`` per concurrent worker and the standard library's
``http.client`` for one connection at a time. wrk is the better yardstick: on a small machine
an httpx client spends more CPU per request than the server does on ``/healthz``, so with
httpx the throughput ratios measure the client as much as the server.

The ratios (one-worker service, the same clients for the service and its yardsticks):

0. the core's ``Server-Timing: fit`` duration of that fit in the running server (median of
   1,000 sequential requests) against NumPy's closed form on the same arrays in process
   (target <= 5 x; ``benchmarks/core.py`` times the same block in process);
1. the article's fit (n = 100, lr 0.001, 10,000 epochs, sequential rule) over HTTP: median
   latency of sequential requests on one keep-alive connection, against the article's own
   pure-Python code running the same fit in-process (target <= 1/200);
2. POST /fit of that fit against GET /healthz, successful requests per second with
   ``--concurrency`` connections (default 8, ``GDS_MAX_CONCURRENCY``'s default: more
   concurrent fits are answered 503 by design) (target >= 80 %);
3. GET /healthz of the service against GET /healthz of a minimal FastAPI app (one
   ``async def`` route, no middleware, ``benchmarks/_minimal_app.py``) under uvicorn with its
   defaults (uvloop, httptools, no access log) (target >= 50 %).

With ratio 2 it prints its ceiling: ``POST /fit`` of ``benchmarks/_floor_app.py``, the floor
of any fit request (orjson into arrays, the service's core, no validation, middleware, log or
metrics), costs some microseconds per request more than that app's ``GET /healthz``; a
service whose fit request added no more than that to its own ``/healthz`` would reach
``/healthz / (/healthz + that)``, the best ratio 2 can be on this server and client.

Then, for each ``--workers`` count, the article's fit under load: requests per second, p50 and
p99 latency, errors, and the resident memory of the server's processes (VmRSS summed over the
process and its children) before and after. ``--workers`` with no value skips that table.

The service runs with its default settings (info logs, discarded). ``--memoized-descent``
runs it with the core's descent memoized (the same data and options answer the stored
result; moments, statistics and everything else are computed per request): what the HTTP
side costs once a small fit's descent takes microseconds. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
from _article import article_fit
from _server import running_server
from core import closed_form, timed

from service.examples import ARTICLE_X, ARTICLE_Y

LEARNING_RATE = 0.001
EPOCHS = 10_000
ARTICLE_FIT: dict[str, Any] = {
    "x": ARTICLE_X,
    "y": ARTICLE_Y,
    "learning_rate": LEARNING_RATE,
    "epochs": EPOCHS,
    "update": "sequential",  # the article's order: m first, then b at the new m
}
MEMOIZED_DESCENT = [
    sys.executable,
    "-c",
    "import types, service.core as c, service.operations as o\n"
    "stored = {}\n"
    "def fit_moments(moments, options):\n"
    "    key = repr((moments, options))\n"
    "    if key not in stored:\n"
    "        stored[key] = c.fit_moments(moments, options)\n"
    "    return stored[key]\n"
    "o.core = types.SimpleNamespace(**{**vars(c), 'fit_moments': fit_moments})\n"
    "from service.__main__ import main\n"
    "raise SystemExit(main([]))\n",
]
MINIMAL_APP = [
    sys.executable,
    "-m",
    "uvicorn",
    "_minimal_app:app",
    "--app-dir",
    str(Path(__file__).resolve().parent),
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--log-level",
    "warning",
    "--no-access-log",
]
FLOOR_APP = [part.replace("_minimal_app:", "_floor_app:") for part in MINIMAL_APP]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The parent pid is the second field after the parenthesised command name.
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def resident_mib(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MiB (Linux /proc)."""
    total_kib, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
        pending.extend(_children(current))
    return total_kib / 1024


@dataclass
class Run:
    """One load run: requests answered (errors included), errors, and latency percentiles."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Successful (200) answers per second."""
        return (self.requests - self.errors) / self.seconds


# --- wrk ---------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk_script(method: str, body: Any) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = [==[{orjson.dumps(body).decode()}]==]")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    return "\n".join(lines) + "\n"


def wrk_run(url: str, method: str, path: str, body: Any, connections: int, duration: float) -> Run:
    """`connections` keep-alive connections sending the same request for `duration` s, by wrk
    with one thread."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(method, body))
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                script.name,
                url + path,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    done = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", output)
    assert done is not None, output
    requests, seconds = int(done[1]), _ms(done[2] + done[3]) / 1000
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket is not None:
        errors += sum(int(n) for n in socket.groups())
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    assert p50 is not None and p99 is not None, output
    return Run(requests, errors, seconds, _ms(p50[1]), _ms(p99[1]))


# --- httpx -------------------------------------------------------------------------------


def _percentile(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies) or [float("nan")]
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def hammer(
    url: str, method: str, path: str, body: Any, concurrency: int, duration: float, cap: int
) -> Run:
    """`concurrency` httpx workers sending the same request until `duration` or `cap`."""
    latencies: list[float] = []
    errors = 0
    # One client (one keep-alive connection) per worker: a single shared pool of many
    # connections costs httpx more CPU per request than the server spends on /healthz.
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(concurrency)]
    # The body encoded once, as wrk sends its bytes: encoding 200 numbers per request (httpx's
    # ``json=``) would be client work charged to POST /fit alone.
    payload = orjson.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else None
    start = time.perf_counter()
    stop_at = start + duration

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        async with client:
            while time.perf_counter() < stop_at and len(latencies) + errors < cap:
                sent = time.perf_counter()
                try:
                    response = await client.request(method, path, content=payload, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

    await asyncio.gather(*(worker(client) for client in clients))
    seconds = time.perf_counter() - start
    return Run(
        len(latencies) + errors,
        errors,
        seconds,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.99),
    )


def sequential(url: str, method: str, path: str, body: Any, duration: float) -> Run:
    """Sequential requests on one keep-alive connection for `duration` s, by the standard
    library's ``http.client`` (the latency of one request at a time: httpx's own half a
    millisecond per request would be most of what is measured)."""
    parts = urlsplit(url)
    payload = orjson.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    times: list[float] = []
    errors = 0
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        stop_at = time.perf_counter() + duration
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - sent)
            errors += response.status != 200
    finally:
        connection.close()
    return Run(len(times), errors, sum(times), statistics.median(times) * 1000, 0.0)


def fit_durations(url: str, body: Any, requests: int) -> list[float]:
    """The ``Server-Timing: fit`` durations (ms) of `requests` sequential POST /fit of `body`
    on one keep-alive connection (``http.client``), the first fifth left out as warm-up."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    durations: list[float] = []
    payload, headers = orjson.dumps(body), {"Content-Type": "application/json"}
    try:
        for i in range(requests + requests // 5):
            connection.request("POST", "/fit", body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            found = re.search(r"\bfit;dur=([0-9.]+)", response.getheader("server-timing") or "")
            if found and i >= requests // 5:
                durations.append(float(found.group(1)))
    finally:
        connection.close()
    return durations


def closed_form_seconds() -> float:
    """NumPy's closed-form least squares of the article's data set, in process, timed as the
    core benchmark times it (its `closed_form` and `timed`)."""
    x, y = np.array(ARTICLE_X), np.array(ARTICLE_Y)
    return timed(lambda: closed_form(x, y), 2_100)  # 21 groups of 100 calls: the median


# --- the runs ------------------------------------------------------------------------------

Load = Callable[[str, str, str, Any, int, float], Run]


def choose_client(name: str, cap: int) -> tuple[str, Load]:
    """The load generator: (its description, run function)."""
    if name == "wrk" or (name == "auto" and shutil.which("wrk")):
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        first = (version.splitlines() or ["wrk"])[0].split(" [")[0]
        return f"{first}, one thread", wrk_run

    def run(url: str, method: str, path: str, body: Any, connections: int, seconds: float) -> Run:
        if connections == 1:
            return sequential(url, method, path, body, seconds)
        return asyncio.run(hammer(url, method, path, body, connections, seconds, cap))

    return f"httpx {httpx.__version__} (one connection at a time: http.client)", run


def machine() -> str:
    """CPUs, their model, kernel and Python."""
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def ratios(args: argparse.Namespace, load: Load) -> None:
    """Measure and print the three HTTP ratios."""
    duration, connections = args.duration, args.concurrency
    argv = MEMOIZED_DESCENT if args.memoized_descent else None
    with running_server({"GDS_LOG_LEVEL": "info"}, argv=argv, quiet=True) as (url, _):
        load(url, "POST", "/fit", ARTICLE_FIT, connections, 2.0)  # warm up
        load(url, "GET", "/healthz", None, connections, 1.0)
        one_at_a_time = load(url, "POST", "/fit", ARTICLE_FIT, 1, args.sequential_duration)
        fit_ms = statistics.median(fit_durations(url, ARTICLE_FIT, 1000))
        fits = load(url, "POST", "/fit", ARTICLE_FIT, connections, duration)
        health = load(url, "GET", "/healthz", None, connections, duration)
    with running_server(argv=MINIMAL_APP, quiet=True, ready_path="/healthz") as (url, _):
        load(url, "GET", "/healthz", None, connections, 1.0)  # warm up
        minimal = load(url, "GET", "/healthz", None, connections, duration)
    with running_server(argv=FLOOR_APP, quiet=True, ready_path="/healthz") as (url, _):
        load(url, "POST", "/fit", ARTICLE_FIT, connections, 2.0)  # warm up
        load(url, "GET", "/healthz", None, connections, 1.0)
        floor_health = load(url, "GET", "/healthz", None, connections, duration)
        floor = load(url, "POST", "/fit", ARTICLE_FIT, connections, duration)
    article = min(
        _timed(lambda: article_fit(ARTICLE_X, ARTICLE_Y, EPOCHS, LEARNING_RATE)) for _ in range(3)
    )
    latency = one_at_a_time.p50_ms / (article * 1000)
    closed = closed_form_seconds()
    core_ratio = fit_ms / (closed * 1000)
    throughput = fits.per_second / health.per_second
    overhead = health.per_second / minimal.per_second
    errors = sum(run.errors for run in (one_at_a_time, fits, health, minimal, floor_health, floor))
    # What the floor's POST /fit costs beyond its GET, per request, added to the service's
    # /healthz: the best POST /fit could do against that /healthz on this server and client.
    floor_extra = 1 / floor.per_second - 1 / floor_health.per_second
    memoized = " (descent memoized)" if args.memoized_descent else ""
    print(f"HTTP targets (one worker, the same clients on both sides of each ratio){memoized}:\n")
    print("| what | measured | ratio | target | met |")
    print("| --- | ---: | ---: | ---: | :---: |")
    print(
        f"| the article's fit over HTTP (median of {one_at_a_time.requests:,} sequential requests "
        f"on one keep-alive connection) vs the article's code in-process | "
        f"{one_at_a_time.p50_ms:.3f} ms vs {article * 1000:,.0f} ms | 1/{1 / latency:,.0f} "
        f"| <= 1/200 | {_met(latency <= 1 / 200)} |"
    )
    print(
        f"| the core's `Server-Timing: fit` in this server (median of 1,000 sequential "
        f"requests of that fit) vs NumPy's closed form on the same arrays in process | "
        f"{fit_ms * 1000:.1f} µs vs {closed * 1e6:.1f} µs | {core_ratio:.2f} x | <= 5 x "
        f"| {_met(core_ratio <= 5)} |"
    )
    print(
        f"| POST /fit of that fit vs GET /healthz, {connections} connections, {duration:g} s "
        f"each | {fits.per_second:,.0f} vs {health.per_second:,.0f} req/s | {throughput:.0%} "
        f"| >= 80% | {_met(throughput >= 0.8)} |"
    )
    print(
        f"| GET /healthz of the service vs a minimal FastAPI app under uvicorn | "
        f"{health.per_second:,.0f} vs {minimal.per_second:,.0f} req/s | {overhead:.0%} "
        f"| >= 50% | {_met(overhead >= 0.5)} |"
    )
    floor_text = (
        f"\nThe floor of a fit request (`_floor_app`'s POST /fit: the body parsed by orjson "
        f"into two arrays, the service's core, m, b and the cost answered; no validation, "
        f"middleware, log or metrics): {floor.per_second:,.0f} req/s, "
        f"{floor.per_second / floor_health.per_second:.0%} of the same app's /healthz "
        f"({floor_health.per_second:,.0f} req/s)"
    )
    if floor_extra > 0:
        ceiling = (1 / health.per_second) / (1 / health.per_second + floor_extra)
        floor_text += (
            f", {floor_extra * 1e6:,.0f} µs more per request. A POST /fit that cost the "
            f"service no more than that beyond its /healthz would reach {ceiling:.0%} of it "
            "(the ceiling of the 80% target on this server and client)."
        )
    else:  # the noise of the run exceeded the fit's own cost
        floor_text += ": no more per request than its /healthz in this run, so no ceiling."
    print(floor_text)
    print(
        f"\nLatency under load (p50 / p99 ms): POST /fit {fits.p50_ms:.2f} / {fits.p99_ms:.2f}, "
        f"service /healthz {health.p50_ms:.2f} / {health.p99_ms:.2f}, minimal app "
        f"{minimal.p50_ms:.2f} / {minimal.p99_ms:.2f}, the floor app's POST /fit "
        f"{floor.p50_ms:.2f} / {floor.p99_ms:.2f}; errors: {errors}.\n"
    )


def worker_table(args: argparse.Namespace, load: Load) -> None:
    """Print the article's fit under load for each worker count."""
    rows = []
    for workers in args.workers:
        # info logs (the service's default), discarded
        settings = {"GDS_WORKERS": str(workers), "GDS_LOG_LEVEL": "info"}
        with running_server(settings, quiet=True) as (url, pid):
            load(url, "POST", "/fit", ARTICLE_FIT, 8, 2.0)  # warm up
            before = resident_mib(pid)
            run = load(url, "POST", "/fit", ARTICLE_FIT, args.concurrency, args.duration)
            after = resident_mib(pid)
            rows.append((workers, run, before, after))
    print(
        f"POST /fit of the article's fit, {args.concurrency} connections, "
        f"{args.duration:g} s per run:\n"
    )
    print("| workers | requests | req/s | p50 ms | p99 ms | errors | RSS before MiB | after MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workers, run, before, after in rows:
        print(
            f"| {workers} | {run.requests:,} | {run.per_second:,.0f} | {run.p50_ms:.2f} "
            f"| {run.p99_ms:.2f} | {run.errors} | {before:.0f} | {after:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="connections (8: GDS_MAX_CONCURRENCY's default, above which fits answer 503)",
    )
    parser.add_argument(
        "--sequential-duration", type=float, default=5.0, help="seconds of sequential requests"
    )
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--max-requests", type=int, default=500_000, help="httpx: cap per run")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--memoized-descent", action="store_true", help="the core's descent memoized"
    )
    args = parser.parse_args()

    client, load = choose_client(args.client, args.max_requests)
    print(f"Machine: {machine()}; client: {client} on the same machine\n")
    ratios(args, load)
    if args.workers:
        worker_table(args, load)


if __name__ == "__main__":
    main()
