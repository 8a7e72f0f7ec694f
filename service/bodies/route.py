"""`BodyRoute`: the route class that turns a request body into a validated wire model.

Before FastAPI runs a route whose body is a wire model, `BodyRoute`

1. checks the API key (`service.auth`), so a refused request's body is never read;
2. reads the ``Content-Type`` (`service.bodies.media`): ``application/json`` on every route,
   ``text/csv`` and ``application/vnd.apache.arrow.stream`` on the routes that declare them in
   their ``openapi_extra`` request body (the document is the behaviour). Anything else is a
   ``415``, an Arrow body without pyarrow a ``501``, both before the body is read;
3. reads the body and turns it into the model (`parse_body`): JSON in the body, or the points
   of a CSV or Arrow table with the hyperparameters of the query string. Bodies larger than
   `INLINE_BODY_BYTES` are parsed and validated in a worker thread, so that no body holds
   the event loop (a million points take a few hundred milliseconds); small ones inline,
   where a thread hop would cost more than the work;
4. calls the endpoint with the model (and the request), the way FastAPI would, when that is
   all the endpoint takes and its only dependency is the API-key check already made in step 1
   (`require_api_key`): FastAPI's per-request dependency solving would redo nothing but cost
   a large share of a small fit's time. Otherwise (and for a body FastAPI answers itself, an
   empty one or ``null``) it hands the model to FastAPI, which passes a model instance
   through its own validation.

Every refusal is FastAPI's standard error: ``RequestValidationError`` (422, locations under
``"body"`` or ``"query"``) or ``HTTPException`` (``{"detail": "..."}``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final, get_type_hints

import anyio.to_thread
import orjson
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import Headers

from service.auth import authorize, require_api_key
from service.bodies import arrow_body, media
from service.bodies.arrow_body import ArrowUnavailableError
from service.bodies.csv_body import read_csv
from service.bodies.json_body import parse_and_validate
from service.bodies.points import BodyError, Points, request_from_table
from service.bodies.query import query_errors_for_json, query_hyperparameters
from service.schemas import FitRequest, Limits

__all__ = ["INLINE_BODY_BYTES", "BodyRoute", "accepted_media_types", "parse_body"]

INLINE_BODY_BYTES: Final = 64 * 1024
"""Bodies up to this size are parsed on the event loop (well under a millisecond); larger
ones in a worker thread."""

_JSON_HEADER: Final = (b"content-type", media.JSON.encode())


def accepted_media_types(model: type[BaseModel] | None, openapi_extra: Any) -> tuple[str, ...]:
    """The body media types of a route: JSON, and those its ``openapi_extra`` request body
    declares (only a `FitRequest` body can come as a table).

    Raises `TypeError` for a table type declared on a route whose body is another model.
    """
    declared: Any = {}
    if isinstance(openapi_extra, dict):
        declared = openapi_extra.get("requestBody", {}).get("content", {})
    tables = tuple(kind for kind in (media.CSV, media.ARROW) if kind in declared)
    if tables and model is not FitRequest:
        raise TypeError(f"only FitRequest bodies can be {tables}, not {model}")
    return (media.JSON, *tables)


def parse_body(
    model: type[BaseModel],
    media_type: str,
    body: bytes,
    query: Sequence[tuple[str, str]],
    limits: Limits,
) -> tuple[BaseModel | None, Any]:
    """The validated model of `body` and what to keep alive with it (the parsed JSON).

    (None, None) leaves the body to FastAPI: an empty JSON body or ``null`` (its 422
    ``missing``). Raises `RequestValidationError` for every other invalid request.
    """
    if media_type == media.JSON:
        if query and (errors := query_errors_for_json(model, query)):
            raise RequestValidationError(errors)
        if not body:
            return None, None
        return parse_and_validate(model, body, limits)
    hyperparameters, errors = query_hyperparameters(model, query)
    points: Points | None = None
    try:
        points = read_csv(body) if media_type == media.CSV else arrow_body.read_arrow(body)
    except BodyError as error:
        errors = [*error.items, *errors]
    return request_from_table(points, hyperparameters, errors, limits), None


class _ParsedBodyRequest(Request):
    """A request whose body `BodyRoute` has already parsed and validated: `json()` answers the
    validated model, and `headers` says ``application/json``, since FastAPI asks `json()` for
    the body of JSON requests only. The client's own ``Content-Type`` stays in the scope."""

    _validated: BaseModel | None = None
    _json_sent = False  # the client's own Content-Type says JSON: `headers` need no change
    # Freeing a million parsed floats takes tens of milliseconds: the parsed body is kept
    # until this request object goes, after the answer is sent (no higher peak: it coexisted
    # with the arrays during the conversion anyway).
    _parsed: Any = None

    async def json(self) -> Any:
        if self._validated is not None:
            return self._validated
        return orjson.loads(await self.body())

    @property
    def headers(self) -> Headers:
        headers = super().headers
        if self._validated is None or self._json_sent:
            return headers
        raw = [(key, value) for key, value in headers.raw if key != b"content-type"]
        return Headers(raw=[*raw, _JSON_HEADER])


def _body_model(endpoint: Callable[..., Any]) -> type[BaseModel] | None:
    """The wire model the endpoint takes as its body, if any."""
    for hint in get_type_hints(endpoint).values():
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            return hint
    return None


Endpoint = Callable[[BaseModel, Request], Awaitable[Response]]


def _direct_endpoint(route: APIRoute, model: type[BaseModel] | None) -> Endpoint | None:
    """The route's endpoint as a call with the model and the request, when calling it so is
    all FastAPI would do: its parameters are the body model and perhaps the `Request`, and its
    only dependency is `require_api_key` (checked by `authorize` before the body is read).
    None otherwise."""
    if model is None:
        return None
    if any(depends.dependency is not require_api_key for depends in route.dependencies):
        return None
    endpoint = route.endpoint
    hints = get_type_hints(endpoint)
    body_name: str | None = None
    request_name: str | None = None
    for name in inspect.signature(endpoint).parameters:
        if hints.get(name) is model and body_name is None:
            body_name = name
        elif hints.get(name) is Request and request_name is None:
            request_name = name
        else:
            return None
    if body_name is None:
        return None
    coroutine = inspect.iscoroutinefunction(endpoint)

    async def call(body: BaseModel, request: Request) -> Response:
        arguments: dict[str, Any] = {body_name: body}
        if request_name is not None:
            arguments[request_name] = request
        if coroutine:
            answer = await endpoint(**arguments)
        else:
            answer = await anyio.to_thread.run_sync(functools.partial(endpoint, **arguments))
        if not isinstance(answer, Response):
            raise TypeError(f"{endpoint.__name__} must return a Response to be called directly")
        return answer

    return call


def _media_type(request: Request, accepted: tuple[str, ...]) -> str:
    """The body's media type (`media.media_type_of`), after checking Arrow can be read.

    Raises `HTTPException` 415, or 501 for an Arrow body without pyarrow.
    """
    media_type = media.media_type_of(request.headers.get("content-type"), accepted)
    if media_type == media.ARROW:
        try:
            arrow_body.ensure_available()
        except ArrowUnavailableError as error:
            raise HTTPException(
                status_code=501, detail=str(error), headers={"Connection": "close"}
            ) from None
    return media_type


async def _chunks(request: Request) -> tuple[list[bytes], int]:
    """The body's pieces as they arrive, and their total size (joined later, off the loop
    for a large body: joining 37 MiB is a copy and thousands of fresh pages)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
    return chunks, size


def _join_and_parse(
    request: Request,
    chunks: list[bytes],
    model: type[BaseModel],
    media_type: str,
    query: Sequence[tuple[str, str]],
    limits: Limits,
) -> tuple[BaseModel | None, Any]:
    """`parse_body` of the joined `chunks`, which also become the request's body (what
    `Request.body()` answers from now on)."""
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    chunks.clear()
    request._body = body  # noqa: SLF001  (Starlette's cache of the body)
    return parse_body(model, media_type, body, query, limits)


class BodyRoute(APIRoute):
    """A route whose body is parsed and validated by `parse_body` against the app's limits
    (``app.state.limits``) before FastAPI runs the endpoint; see the module docstring."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        model = _body_model(self.endpoint)
        accepted = accepted_media_types(model, self.openapi_extra)
        direct = _direct_endpoint(self, model)

        async def parse_then_handle(request: Request) -> Response:
            authorize(request)
            if model is None:
                return await handler(request)
            media_type = _media_type(request, accepted)
            parsed = _ParsedBodyRequest(request.scope, request.receive)
            chunks, size = await _chunks(parsed)
            parse = functools.partial(
                _join_and_parse,
                parsed,
                chunks,
                model,
                media_type,
                request.query_params.multi_items() if request.scope.get("query_string") else (),
                request.app.state.limits,
            )
            if size > INLINE_BODY_BYTES:
                validated, kept = await anyio.to_thread.run_sync(parse)
            else:
                validated, kept = parse()
            parsed._validated, parsed._parsed = validated, kept
            parsed._json_sent = media_type == media.JSON
            if direct is not None and validated is not None:
                return await direct(validated, parsed)
            return await handler(parsed)

        return parse_then_handle
