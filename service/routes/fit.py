"""The fit routes: ``POST /fit``, ``/fit/batch`` and ``/fit/plot``.

One router carries what they share: the ``fit`` tag, the API-key check (`service.auth`), the
error answers, and `BodyRoute`, which parses and validates their bodies against the limits in
force (`service.bodies`). ``/fit`` and ``/fit/plot`` declare the table encodings of their body
(CSV and Arrow, hyperparameters in the query string) in their ``openapi_extra``, which is also
what `BodyRoute` accepts; ``/fit/batch`` takes JSON only.

The descent is CPU work. A small fit (`runs_inline`: few points, a short history, no
tolerance scan, few epochs in all by the vectorized path's measure) mostly costs less than
a threadpool round trip, and at most a few milliseconds whatever its hyperparameters, so
``/fit`` and ``/fit/batch`` run it on the event loop; anything larger goes to the threadpool
(``anyio.to_thread``), and ``/fit/plot`` (matplotlib) always does. The service scales with
worker processes (``GDS_WORKERS``). Core errors propagate to the handlers of `service.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service import operations, plotting
from service.auth import require_api_key
from service.bodies import ARROW, CSV, JSON, BodyRoute, hyperparameter_names
from service.bodies.arrow_body import INSTALL_HINT as ARROW_INSTALL_HINT
from service.schemas import BatchFitRequest, BatchFitResponse, FitRequest, FitResponse

__all__ = [
    "INLINE_MAX_BATCH_ITEMS",
    "INLINE_MAX_EPOCH_ROOTS",
    "INLINE_MAX_HISTORY",
    "INLINE_MAX_POINTS",
    "router",
    "runs_inline",
]

INLINE_MAX_POINTS: Final = 2_000
"""Most points (of a fit, or of all the fits of a batch) fitted on the event loop."""
INLINE_MAX_HISTORY: Final = 100
"""Longest history fitted on the event loop."""
INLINE_MAX_EPOCH_ROOTS: Final = 500.0
"""Most sum of sqrt(epochs) over the fits run on the event loop: one fit of 250,000 epochs,
or 16 of 976. The core's small path costs O(log epochs) for plain gd and O(sqrt(epochs))
double-double products for the momentum optimizers (well under a microsecond per unit of
sqrt(epochs)); an item it hands to the vectorized path (data scaled by powers of two, a
rate that diverges) builds tables of O(sqrt(epochs)) 7 x 7 powers, about 10 us per unit of
sqrt(epochs) here: a few milliseconds within this budget."""
INLINE_MAX_BATCH_ITEMS: Final = 16
"""Most fits of a batch fitted on the event loop."""

router = APIRouter(
    route_class=BodyRoute,
    tags=["fit"],
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"description": "GDS_API_KEYS is set and no valid bearer key was sent."},
        413: {"description": "The body is larger than `max_body_bytes`."},
        415: {"description": "The body's Content-Type is not one the route accepts."},
        422: {
            "description": (
                "Validation failed, or the descent diverged (`type` `diverged`, `loc` "
                '`["body", "learning_rate"]`, `ctx` with `epoch` and `max_stable_learning_rate`).'
            )
        },
    },
)

_CSV_EXAMPLE = "x,y\n0,1\n1,3\n2,5\n3,7\n"


def _query_parameters() -> list[dict[str, Any]]:
    """The hyperparameters as query parameters (read only with a CSV or Arrow body), with the
    schemas and descriptions of their `FitRequest` fields."""
    properties = FitRequest.model_json_schema()["properties"]
    parameters = []
    for name in dict.fromkeys(field for field, _ in hyperparameter_names(FitRequest).values()):
        # No "default" in the schema: Swagger UI would send it, with JSON bodies too.
        field = properties[name]
        schema = {
            key: value
            for key, value in field.items()
            if key not in ("title", "description", "examples", "default")
        }
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": (
                    f"{field['description']} Default `{orjson.dumps(field['default']).decode()}`."
                    " With a `text/csv` or Arrow body only (see the request body)."
                ),
            }
        )
    return parameters


TABLE_BODIES: dict[str, Any] = {
    "requestBody": {
        "description": (
            f"`{JSON}`: the FitRequest object. `{CSV}` (UTF-8): a header row naming the "
            "columns `x` and `y` and optionally `weight` (the sample weights, as the JSON "
            "`weights`; other columns ignored), then one line per point; decimal numbers, no "
            f"empty cells, NaN or infinity. `{ARROW}`: an Arrow IPC stream (uncompressed) with "
            "numeric columns `x`, `y` and optionally `weight`, no nulls; needs the server's "
            "`arrow` extra. With CSV and Arrow the "
            "hyperparameters are query parameters, with the names, defaults and rules of the "
            "JSON fields, each value written as in JSON (`epochs=5000`, `tolerance=1e-9`, "
            "`standardize=true`, `tolerance=null`) except text, which is bare "
            "(`optimizer=momentum`); a name given twice or unknown is a 422. With a JSON body, a "
            "hyperparameter in the query string is a 422."
        ),
        "content": {
            CSV: {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
            ARROW: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": _query_parameters(),
}
"""The ``openapi_extra`` of the routes that take a FitRequest as CSV or Arrow too."""

_TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    501: {
        "description": "An Arrow body, and pyarrow (the optional `arrow` extra) is not installed.",
        "content": {"application/json": {"example": {"detail": ARROW_INSTALL_HINT}}},
    },
}


def json_response(model: BaseModel) -> Response:
    """The model as JSON, serialized once by pydantic-core.

    The route's `response_model` still documents the answer; returning a `Response` spares
    FastAPI re-validating a model built from the core's finite floats (a threadpool round
    trip and a second serialization per request).
    """
    return Response(content=model.model_dump_json(), media_type="application/json")


def runs_inline(fits: Sequence[FitRequest]) -> bool:
    """Whether fitting `fits` is cheap enough for the event loop: at most
    `INLINE_MAX_BATCH_ITEMS` fits of `INLINE_MAX_POINTS` points in all, each with a history of
    at most `INLINE_MAX_HISTORY` epochs and no ``tolerance`` (its search walks the epochs where
    the rate is not stable), with sqrt(epochs) summed over the fits at most
    `INLINE_MAX_EPOCH_ROOTS`. Such a fit takes tens of microseconds (the core's small path)
    to a few milliseconds (the vectorized path), far less than the loop's budget of about
    50 ms, even with every fit slot of the worker busy at once."""
    if len(fits) > INLINE_MAX_BATCH_ITEMS:
        return False
    points, roots = 0, 0.0
    for fit in fits:
        points += fit.points
        roots += math.sqrt(fit.epochs)
        if fit.history_points > INLINE_MAX_HISTORY or fit.tolerance is not None:
            return False
    return points <= INLINE_MAX_POINTS and roots <= INLINE_MAX_EPOCH_ROOTS


def _fit(body: FitRequest, request: Request) -> Response:
    _, result = operations.fit_one(body, request)
    return json_response(FitResponse.from_core(result))


@router.post(
    "/fit",
    operation_id="fit",
    response_model=FitResponse,
    responses=_TABLE_RESPONSES,
    openapi_extra=TABLE_BODIES,
)
async def fit(body: FitRequest, request: Request) -> Response:
    """Fit y = m*x + b to the points by gradient descent on the mean squared error."""
    if runs_inline((body,)):
        return _fit(body, request)
    return await anyio.to_thread.run_sync(_fit, body, request)


def _fit_batch(body: BatchFitRequest, request: Request) -> Response:
    return json_response(BatchFitResponse(results=operations.fit_batch(body, request)))


@router.post("/fit/batch", operation_id="fit_batch", response_model=BatchFitResponse)
async def fit_batch(body: BatchFitRequest, request: Request) -> Response:
    """Fit several data sets at once, vectorized; a diverged fit answers an error in its place."""
    if runs_inline(body.fits):
        return _fit_batch(body, request)
    return await anyio.to_thread.run_sync(_fit_batch, body, request)


_IMAGE_SCHEMA = {"type": "string", "format": "binary"}

_PLOT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The figure, 1200 x 400 pixels: data and fitted line, cost over the epochs (log "
            "scale), and the (m, b) path over the cost's contours. PNG unless `Accept` prefers "
            "`image/svg+xml`."
        ),
        "content": {
            plotting.MEDIA_TYPES["png"]: {"schema": _IMAGE_SCHEMA},
            plotting.MEDIA_TYPES["svg"]: {"schema": {"type": "string"}},
        },
    },
    422: {"description": "The same validation and divergence errors as `POST /fit`."},
    501: {
        "description": (
            "matplotlib, the optional `plot` extra, is not installed; or an Arrow body, and "
            "pyarrow, the optional `arrow` extra, is not installed."
        ),
        "content": {"application/json": {"example": {"detail": plotting.INSTALL_HINT}}},
    },
}


@router.post(
    "/fit/plot",
    operation_id="fit_plot",
    response_class=Response,
    responses=_PLOT_RESPONSES,
    openapi_extra=TABLE_BODIES,
)
def fit_plot(body: FitRequest, request: Request) -> Response:
    """Fit like POST /fit and draw it: data and line, cost per epoch, (m, b) path on contours."""
    try:
        image, media_type = operations.plot_fit(body, request, request.headers.get("accept"))
    except plotting.PlottingUnavailableError as error:
        return JSONResponse(status_code=501, content={"detail": str(error)})
    return Response(
        content=image,
        media_type=media_type,
        headers={"Vary": "Accept", "Cache-Control": "no-store"},
    )
