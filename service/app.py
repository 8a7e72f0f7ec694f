"""The application factory: `create_app(settings)` wires routes, middleware and error handlers.

``uvicorn --factory service.app:create_app`` (what ``python -m service`` runs) calls it with
no argument, so the settings come from the ``GDS_*`` environment; tests pass their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service import __version__, plotting
from service.api import router
from service.errors import install_error_handlers
from service.middleware import (
    REQUEST_ID_HEADER,
    SERVER_TIMING_HEADER,
    BodyLimitMiddleware,
    RequestContextMiddleware,
)
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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Ready once started; not ready (``/readyz`` 503) from the start of shutdown."""
    app.state.ready = True
    try:
        yield
    finally:
        app.state.ready = False


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service with `settings` (default: the ``GDS_*`` environment)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Gradient-descent fitting service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.limits = Limits(
        max_points=settings.max_points,
        max_epochs=settings.max_epochs,
        max_history_points=settings.max_history_points,
        max_batch=settings.max_batch,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.ready = False
    app.include_router(router)
    app.include_router(plotting.router)
    app.mount("/static", plotting.static_files(), name="static")
    install_error_handlers(app)
    # Added last = outermost: the request id wraps CORS, which wraps the body limit.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, SERVER_TIMING_HEADER],
        )
    app.add_middleware(RequestContextMiddleware)
    return app
