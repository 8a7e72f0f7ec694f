"""The routes: thin handlers that check limits, call the core, and map its result.

Fits are plain ``def`` routes: the descent is CPU work, so it runs in the threadpool and the
service scales with worker processes (``GDS_WORKERS``). Core errors propagate to the handlers
of `service.errors`; the batch route maps its per-item errors itself, in the same module's terms.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, get_type_hints

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.types import Receive, Scope

from service import __version__, core, metrics
from service.errors import batch_item_error, error_detail, validation_error
from service.middleware import core_timer
from service.schemas import (
    BatchFitRequest,
    BatchFitResponse,
    BatchItemError,
    FitRequest,
    FitResponse,
    Health,
    Info,
    Limits,
    Readiness,
    batch_moments,
    limits_in_force,
)
from service.settings import Settings

__all__ = ["OrjsonRoute", "require_api_key", "router", "run_fit"]


class _OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson: five times faster than the standard
    library on large arrays, and it refuses NaN and Infinity literals as malformed JSON.

    With `fast_parse` (the body model's ``from_json_fast``), the parsed body becomes the
    model at once when the fast path is sure of it; FastAPI passes a model instance through
    its validation unchanged, and validates anything else (the plain parsed body) as usual.
    """

    def __init__(
        self, scope: Scope, receive: Receive, fast_parse: Callable[[Any], Any] | None = None
    ) -> None:
        super().__init__(scope, receive)
        self._fast_parse = fast_parse

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            data = orjson.loads(await self.body())
            if self._fast_parse is not None and (parsed := self._fast_parse(data)) is not None:
                # Freeing a million parsed floats takes tens of milliseconds: keep them until
                # this request object goes, after the answer is sent (no higher peak: they
                # coexisted with the arrays during the conversion anyway).
                self._parsed_body = data
                data = parsed
            self._json = data
        return self._json


def _fast_parser(endpoint: Callable[..., Any]) -> Callable[[Any], Any] | None:
    """The ``from_json_fast`` of the endpoint's body model, if it has one."""
    for hint in get_type_hints(endpoint).values():
        parse: Callable[[Any], Any] | None = getattr(hint, "from_json_fast", None)
        if isinstance(hint, type) and issubclass(hint, BaseModel) and parse is not None:
            return parse
    return None


class OrjsonRoute(APIRoute):
    """Routes of this router read their bodies with `_OrjsonRequest`; FastAPI still turns a
    decoding error (a `json.JSONDecodeError`) into its standard 422 ``json_invalid``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        fast_parse = _fast_parser(self.endpoint)

        async def orjson_handler(request: Request) -> Response:
            with limits_in_force(request.app.state.limits):
                return await handler(_OrjsonRequest(request.scope, request.receive, fast_parse))

        return orjson_handler


router = APIRouter(route_class=OrjsonRoute)

_bearer = HTTPBearer(
    auto_error=False,
    description="Needed only when the server sets GDS_API_KEYS: `Authorization: Bearer <key>`.",
)


# The dependencies are trivial and never block: `async def` keeps them on the event loop,
# where a plain `def` would cost a threadpool round trip each.
async def app_settings(request: Request) -> Settings:
    """The settings the app was built with (`create_app`), not the environment's."""
    settings: Settings = request.app.state.settings
    return settings


async def app_limits(request: Request) -> Limits:
    """The limits in force on this app."""
    limits: Limits = request.app.state.limits
    return limits


SettingsDep = Annotated[Settings, Depends(app_settings)]
LimitsDep = Annotated[Limits, Depends(app_limits)]


async def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse with 401 unless auth is off or the bearer token is one of the keys."""
    if not settings.api_keys:
        return
    token = credentials.credentials.encode() if credentials is not None else b""
    # Compare against every key, so the time taken does not tell which one nearly matched.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(token, key.encode())
    if not matched:
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def json_response(model: BaseModel) -> Response:
    """The model as JSON, serialized once by pydantic-core.

    The route's `response_model` still documents the answer; returning a `Response` spares
    FastAPI re-validating a model built from the core's finite floats (a threadpool round
    trip and a second serialization per request).
    """
    return Response(content=model.model_dump_json(), media_type="application/json")


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "GDS_API_KEYS is set and no valid bearer key was sent."},
    413: {"description": "The body is larger than `max_body_bytes`."},
    422: {
        "description": (
            "Validation failed, or the descent diverged (`type` `diverged`, `loc` "
            '`["body", "learning_rate"]`, `ctx` with `epoch` and `max_stable_learning_rate`).'
        )
    },
}


@router.post(
    "/fit",
    operation_id="fit",
    response_model=FitResponse,
    responses=_ERROR_RESPONSES,
    dependencies=[Depends(require_api_key)],
    tags=["fit"],
)
def fit(body: FitRequest, request: Request) -> Response:
    """Fit y = m*x + b to the points by gradient descent on the mean squared error."""
    _, result = run_fit(body, request)
    return json_response(FitResponse.from_core(result))


def run_fit(
    body: FitRequest, request: Request, options: core.FitOptions | None = None
) -> tuple[core.Moments, core.FitResult]:
    """Fit a validated body (the limits in force were checked with it), timed and counted.

    `options` replaces the body's own hyperparameters (the plot asks for its own history).
    """
    with core_timer(request):
        moments = body.to_moments()
        result = core.fit_moments(moments, options or body.to_options())
    metrics.record_fits([(body.optimizer, body.update, result.n)])
    return moments, result


@router.post(
    "/fit/batch",
    operation_id="fit_batch",
    response_model=BatchFitResponse,
    responses=_ERROR_RESPONSES,
    dependencies=[Depends(require_api_key)],
    tags=["fit"],
)
def fit_batch(body: BatchFitRequest, request: Request) -> Response:
    """Fit several data sets at once, vectorized; a diverged fit answers an error in its place."""
    errors: list[dict[str, Any]] = []
    with core_timer(request):
        # All moments in one vectorized reduction, then all descents in one core call.
        moments = batch_moments(body.fits)
        for i, item in enumerate(moments):
            if isinstance(item, core.FitError):
                errors.append(error_detail(item, ("body", "fits", i)))
        if errors:
            raise validation_error(errors)
        items = [
            (item, fit.to_options())
            for item, fit in zip(moments, body.fits, strict=True)
            if isinstance(item, core.Moments)
        ]
        outcomes = core.fit_batch(items)
    results: list[FitResponse | BatchItemError] = []
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, core.DivergedError):
            results.append(BatchItemError.model_validate(batch_item_error(outcome)))
        elif isinstance(outcome, core.FitError):
            errors.append(error_detail(outcome, ("body", "fits", i)))
        else:
            results.append(FitResponse.from_core(outcome))
    if errors:
        raise validation_error(errors)
    metrics.record_fits(
        (fit.optimizer, fit.update, outcome.n)
        for fit, outcome in zip(body.fits, outcomes, strict=True)
        if isinstance(outcome, core.FitResult)
    )
    return json_response(BatchFitResponse(results=results))


@router.get("/healthz", operation_id="healthz", response_model=Health, tags=["operations"])
def healthz() -> Health:
    """Liveness: 200 while the process lives."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The server is shutting down."}},
    tags=["operations"],
)
def readyz(request: Request, response: Response) -> Readiness:
    """Readiness: 200 once started, 503 before that and while shutting down."""
    if getattr(request.app.state, "ready", False):
        return Readiness(status="ready")
    response.status_code = 503
    return Readiness(status="not ready")


@router.get("/info", operation_id="info", response_model=Info, tags=["operations"])
def info(limits: LimitsDep) -> Info:
    """The service's version and the limits in force."""
    return Info(name="gd-fit-service", version=__version__, limits=limits, **limits.model_dump())
