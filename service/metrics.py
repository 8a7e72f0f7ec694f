"""Prometheus metrics (prometheus-client); ``GET /metrics`` serves `render` (`service.routes.ops`).

Reported, all prefixed ``gds_``:

- ``gds_http_requests_total{method, route, status}``: answered requests. ``route`` is the
  route's template (``/fit``, ``/static``), never the raw path, so the label set stays small;
  a path no route matches is ``unmatched``.
- ``gds_http_request_duration_seconds{method, route, status}``: histogram of the time from the
  request's arrival to its last response byte.
- ``gds_http_requests_in_progress``: requests being served now.
- ``gds_fits_total{optimizer, update}`` and ``gds_fit_points_total{optimizer, update}``: fits
  run and points fitted (`record_fits`, called by the fit routes; a batch counts each fit).
- in single-process mode also prometheus-client's ``process_*`` (memory, CPU, open files)
  and ``python_*`` metrics of the serving process.

Several worker processes: ``python -m service`` with ``GDS_WORKERS`` > 1 points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary directory before the workers start (and
removes it when the server stops); each worker then writes its samples there and every
``/metrics`` scrape, whichever worker answers it, reports the sum over all workers (live and
exited), as prometheus-client's multiprocess mode does. ``process_*`` metrics are then left
out, since they would describe only the answering worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = [
    "MULTIPROCESS_DIR",
    "REGISTRY",
    "forget_dead_workers",
    "mark_worker_exited",
    "observe_request",
    "record_fits",
    "render",
    "request_started",
]

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
"""Set when this process writes its samples for a multiprocess scrape (decided at import,
as prometheus-client decides it when its first metric is created)."""

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Seconds; a small fit answers in about a millisecond, a million points in about a second."""

# The ``*_created`` timestamp series double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry()
"""The service's own registry (not the library's global one, which other code may fill)."""

if MULTIPROCESS_DIR is None:
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)

_REQUESTS = Counter(
    "gds_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
_LATENCY = Histogram(
    "gds_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, in seconds.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
_IN_PROGRESS = Gauge(
    "gds_http_requests_in_progress",
    "HTTP requests being served.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
_FITS = Counter(
    "gds_fits",
    "Fits run, by optimizer and update rule (a batch counts each of its fits).",
    ["optimizer", "update"],
    registry=REGISTRY,
)
_POINTS = Counter(
    "gds_fit_points",
    "Points fitted (each fit's n), by optimizer and update rule.",
    ["optimizer", "update"],
    registry=REGISTRY,
)


def record_fits(fits: Iterable[tuple[str, str, int]]) -> None:
    """Count fits that ran: one ``(optimizer, update, points)`` tuple per fit.

    ``points`` is the fit's n (the raw points, or the ``n`` of its moments). Call it once per
    request with all its fits, e.g. ``record_fits([(body.optimizer, body.update, n)])``.
    """
    totals: dict[tuple[str, str], list[int]] = {}
    for optimizer, update, points in fits:  # one increment per label pair, not per fit
        counts = totals.setdefault((optimizer, update), [0, 0])
        counts[0] += 1
        counts[1] += points
    for labels, (count, points) in totals.items():
        _FITS.labels(*labels).inc(count)
        _POINTS.labels(*labels).inc(points)


def request_started() -> None:
    """One more request in progress (`observe_request` ends it)."""
    _IN_PROGRESS.inc()


_RequestSeries = tuple[Counter, Histogram]
_request_series: dict[tuple[str, str, int], _RequestSeries] = {}
"""The count and latency series of each (method, route, status) seen, as `labels` gives them
(looking them up again costs each request more than counting it)."""


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration; it is no longer in progress."""
    _IN_PROGRESS.dec()
    series = _request_series.get((method, route, status))
    if series is None:
        status_label = str(status)
        series = (
            _REQUESTS.labels(method, route, status_label),
            _LATENCY.labels(method, route, status_label),
        )
        _request_series[method, route, status] = series
    series[0].inc()
    series[1].observe(seconds)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def forget_dead_workers(directory: str) -> list[int]:
    """Drop the live-gauge samples of worker processes that no longer exist (a worker killed
    by a signal never runs `mark_worker_exited`, so its in-progress requests would otherwise
    be counted for ever); returns their pids."""
    dead: set[int] = set()
    for path in Path(directory).glob("gauge_live*_*.db"):
        tail = path.stem.rpartition("_")[2]
        if tail.isdigit() and not _alive(int(tail)):
            dead.add(int(tail))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    return sorted(dead)


def _registry() -> CollectorRegistry:
    if MULTIPROCESS_DIR is None:
        return REGISTRY
    forget_dead_workers(MULTIPROCESS_DIR)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return registry


def render(accept: str | None = None) -> tuple[bytes, str]:
    """Every metric, as the format `accept` prefers (Prometheus text unless it asks for
    OpenMetrics), and that format's content type: this process's metrics, or all workers'
    in multiprocess mode."""
    encode, content_type = choose_encoder(accept or "")
    return encode(_registry()), content_type


def mark_worker_exited() -> None:
    """Drop this worker's share of the in-progress gauge (multiprocess mode) as it stops."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
