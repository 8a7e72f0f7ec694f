"""The application factory: `create_app(settings)` wires routes, middleware and error handlers.

``uvicorn --factory service.app:create_app`` (what ``python -m service`` runs) calls it with
no argument, so the settings come from the ``GDS_*`` environment; tests pass their own.

Shutdown: uvicorn stops accepting and waits for in-flight requests on SIGTERM, but runs the
lifespan's shutdown only after they have finished, too late to report "not ready" while they
do. So the lifespan hooks the server's own SIGTERM/SIGINT handlers (`_hook_shutdown_signals`):
the signal first turns ``/readyz`` to 503, then (after ``GDS_DRAIN_SECONDS`` for SIGTERM,
during which the server keeps serving) hands over to uvicorn's graceful shutdown.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service import __version__, api_docs, core, metrics, ui
from service.errors import install_error_handlers
from service.middleware import (
    REQUEST_ID_HEADER,
    SERVER_TIMING_HEADER,
    BodyLimitMiddleware,
    ServiceMiddleware,
)
from service.routes import fit, ops
from service.schemas import Limits
from service.settings import Settings, get_settings

__all__ = ["create_app"]

DESCRIPTION = """\
Fits a line y = m*x + b to points by gradient descent on the mean squared error

    cost(m, b) = (1/n) * sum_i (y_i - (m*x_i + b))^2

exactly as the per-epoch loop would (to floating-point accuracy), in one O(n) pass over the
data plus O(1) work per epoch. POST the points to `/fit`; the example is the classic
100-point data set, ready to run with "Try it out".
"""


logger = logging.getLogger("service.app")

MIB = 1024 * 1024
MALLOC_MMAP_THRESHOLD = 32 * MIB
"""Allocations up to this size come from glibc's heap (32 MiB is the largest it takes)."""
MALLOC_TRIM_THRESHOLD = 64 * MIB
"""Freed memory glibc's heap keeps for later allocations before returning it to the system."""
_M_TRIM_THRESHOLD = -1  # mallopt parameters, glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def tune_malloc() -> bool:
    """Let glibc's malloc reuse the memory of large request bodies; True when it was set.

    A large body arrives in a few hundred pieces of about 256 KiB, each copied by the server
    on its way, then is joined into one buffer. With glibc's default (dynamic) thresholds the
    pieces' memory went back to the system after every request and was faulted in again, page
    by page, by the next: 7,800 page faults and some 20 ms of a 15 MiB Arrow request's 38 ms,
    more than the time of all its parsing and fitting. With the heap serving blocks up to
    `MALLOC_MMAP_THRESHOLD` and keeping up to `MALLOC_TRIM_THRESHOLD` of freed memory, the
    next request finds its pages ready. The cost: a worker that has served a large request
    stays up to that much larger. Left alone where the environment sets glibc malloc tunables
    (``GLIBC_TUNABLES``) and off glibc.
    """
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # The mmap threshold first: setting either one ends glibc's dynamic adjustment of both.
    mmap_set = mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
    trim_set = mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)


SignalHandler = Callable[[int, FrameType | None], Any]


def _hook_shutdown_signals(app: FastAPI, drain_seconds: float) -> Callable[[], None]:
    """Wrap the server's SIGTERM and SIGINT handlers so that they mark `app` not ready first.

    Only handlers a server installed are wrapped (not the defaults, so a test process
    running the lifespan keeps its own). SIGTERM is handed over `drain_seconds` later (a
    second SIGTERM hands over at once). Returns the function that puts the handlers back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    draining = False
    hooks: dict[int, tuple[SignalHandler, SignalHandler]] = {}

    def hook(previous: SignalHandler) -> SignalHandler:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            nonlocal draining
            app.state.ready = False
            if signum == signal.SIGTERM and drain_seconds > 0 and not draining:
                draining = True
                # A signal handler may interrupt the loop anywhere: only this call is safe.
                loop.call_soon_threadsafe(start_drain, previous, signum)
                return
            previous(signum, frame)

        return on_signal

    def start_drain(previous: SignalHandler, signum: int) -> None:
        logger.info(
            "SIGTERM: /readyz answers 503; serving %g s more (GDS_DRAIN_SECONDS), then stopping",
            drain_seconds,
        )
        loop.call_later(drain_seconds, previous, signum, None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            hooks[signum] = (previous, hook(previous))
            signal.signal(signum, hooks[signum][1])

    def unhook() -> None:
        for signum, (previous, ours) in hooks.items():
            if signal.getsignal(signum) is ours:
                signal.signal(signum, previous)

    return unhook


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Ready once started; not ready (``/readyz`` 503) from the shutdown signal on."""
    settings: Settings = app.state.settings
    unhook = _hook_shutdown_signals(app, settings.drain_seconds)
    tune_malloc()
    # A library's warning goes through the log's handler (one JSON line with
    # GDS_LOG_FORMAT=json), not as raw text on stderr.
    logging.captureWarnings(True)
    # The core's compiled loops: from Numba's disk cache in milliseconds, or compiled (a few
    # seconds) the first time, before the first request rather than during it.
    await anyio.to_thread.run_sync(core.warm_up)
    # What start-up built (modules, schemas, the compiled loops' machinery: a few hundred
    # thousand objects) lives as long as the process: moved out of the collector's sight,
    # a full collection no longer walks it (about 100 ms each, inside a large batch's answer).
    gc.collect()  # (what the start left behind is freed, not frozen)
    gc.freeze()
    app.state.ready = True
    try:
        yield
    finally:
        app.state.ready = False
        # Back to the collector: a process that outlives the app (tests, an embedding
        # program) collects as before, and tools that look for an object's referrers
        # (gc.get_referrers) see the frozen ones again. (Process-wide: another app running
        # in the same process, as in tests, is unfrozen too; that only costs speed.)
        gc.unfreeze()
        unhook()
        metrics.mark_worker_exited()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service with `settings` (default: the ``GDS_*`` environment)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Gradient-descent fitting service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from api_docs, with no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.limits = Limits.from_settings(settings)
    app.state.ready = False
    for router in (fit.router, ops.router, ui.router):
        # The routes themselves rather than `include_router`: FastAPI matches the routes of
        # an included router twice per request (to choose the router, then inside it), a
        # tenth of a small request's time; none of these routers has a prefix or options
        # of its own to apply, and the OpenAPI document is the same.
        app.router.routes.extend(router.routes)
    api_docs.install(app)
    app.mount("/static", ui.static_files(), name="static")
    install_error_handlers(app)
    # One layer for the request id, metrics, access log, load shedding, body timeout and body
    # limit (each layer costs every request). CORS, when on, sits between the body timeout
    # and the body limit, as a layer of its own. Added last = outermost.
    if settings.cors_origins:
        app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, SERVER_TIMING_HEADER],
        )
    app.add_middleware(
        ServiceMiddleware,
        max_concurrency=settings.max_concurrency,
        body_timeout=settings.body_timeout,
        max_body_bytes=None if settings.cors_origins else settings.max_body_bytes,
    )
    return app
