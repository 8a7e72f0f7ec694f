"""The operations routes: ``GET /healthz``, ``/readyz``, ``/info`` and ``/metrics``.

Open to everyone (no API key), tagged ``operations``. They are ``async def``: trivial and never
blocking, they answer on the event loop even when every thread of the pool is fitting.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service import __version__, metrics
from service.schemas import Health, Info, Limits, Readiness

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: 200 while the process lives."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The server is shutting down."}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    """Readiness: 200 once started, 503 before that and while shutting down."""
    if getattr(request.app.state, "ready", False):
        return Readiness(status="ready")
    response.status_code = 503
    return Readiness(status="not ready")


@router.get("/info", operation_id="info", response_model=Info)
async def info(request: Request) -> Info:
    """The service's version and the limits in force."""
    limits: Limits = request.app.state.limits
    return Info(name="gd-fit-service", version=__version__, limits=limits, **limits.model_dump())


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Metrics",
    response_class=Response,
    responses={
        200: {
            "description": (
                "Prometheus text format (OpenMetrics when `Accept` asks for "
                "`application/openmetrics-text`)."
            ),
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            },
        }
    },
)
def metrics_text(request: Request) -> Response:
    """Prometheus metrics: requests and latency by route and status, fits and points fitted."""
    content, content_type = metrics.render(request.headers.get("accept"))
    return Response(content=content, headers={"Content-Type": content_type})
