"""Request bodies: the one place where a body becomes a validated wire model.

`BodyRoute` is the route class of the fit routes. Before FastAPI runs a route whose body is a
wire model, it reads the JSON body with orjson (five times faster than the standard library
on large arrays, and it refuses NaN and Infinity literals as malformed JSON) and validates it
against the model with the server's limits in the validation context
(``model_validate(data, context={"limits": ...})``). FastAPI then receives the model itself,
which its own validation passes through unchanged. A validation failure is FastAPI's standard
``RequestValidationError``, with every location under ``"body"``.

Large `FitRequest` bodies take a fast path (`fast_fit_request`): the points go straight from
the parsed JSON lists into float64 arrays, with a vectorized check that they are JSON numbers.
Anything the fast path is not sure of falls back to the full validation, so every 422 is the
same whichever path a body takes.

Bodies that are not JSON, and JSON that does not parse, are left to FastAPI, which answers
them as it always does (a malformed body is its 422 ``json_invalid``).
"""

from __future__ import annotations

import array
import email.message
from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

import numpy as np
import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from service.auth import authorize
from service.schemas import FitRequest, Limits

__all__ = ["BodyRoute", "fast_fit_request", "validate_body"]

FloatArray = NDArray[np.float64]


def validate_body(model: type[BaseModel], data: Any, limits: Limits) -> BaseModel:
    """`data` (a parsed JSON body) as `model`, checked against `limits`.

    Raises `RequestValidationError` with FastAPI's error items (locations under ``"body"``).
    """
    if model is FitRequest and (fast := fast_fit_request(data, limits)) is not None:
        return fast
    try:
        # from_attributes as FastAPI validates bodies, so its messages are the same.
        return model.model_validate(data, from_attributes=True, context={"limits": limits})
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)],
            body=data,
        ) from None


def fast_fit_request(data: Any, limits: Limits) -> FitRequest | None:
    """The request for a parsed JSON body with x and y, its points as arrays, or None.

    None means "not sure": the caller validates `data` the usual way, which answers every
    rejected body with its detailed 422. The fast path accepts exactly the bodies that
    validation accepts: it converts each list in one pass (`array.array` refuses strings, null
    and nested values), looks at the types of the items that became 0.0 or 1.0 (booleans
    would), checks the cross-field rules on the arrays, then validates the remaining fields
    with two-point stand-ins for x and y.
    """
    if not isinstance(data, dict) or "moments" in data:
        return None
    x_keys = [key for key in ("x", "X") if key in data]
    y_keys = [key for key in ("y", "Y") if key in data]
    if len(x_keys) != 1 or len(y_keys) != 1:
        return None
    raw_x = data[x_keys[0]]
    if isinstance(raw_x, list) and len(raw_x) > limits.max_points:
        return None
    x, y = _number_array(raw_x), _number_array(data[y_keys[0]])
    if x is None or y is None or x.size != y.size or x.min() == x.max():
        return None
    if data.get("standardize") is True and y.min() == y.max():
        return None
    stand_in = {**data, x_keys[0]: [0.0, 1.0], y_keys[0]: [0.0, 1.0]}
    try:
        request = FitRequest.model_validate(stand_in, context={"limits": limits})
    except ValidationError:
        return None
    return request.with_arrays(x, y)


def _number_array(values: Any) -> FloatArray | None:
    """`values` as a float64 array when it is a list of at least 2 finite JSON numbers
    (not booleans, strings or null), else None."""
    if type(values) is not list or len(values) < 2:
        return None
    try:
        # array.array("d") converts ints and floats and refuses str, None, lists and dicts,
        # in one C loop: faster than np.array, which would parse numeric strings.
        converted = np.frombuffer(array.array("d", values), dtype=np.float64)
    except (TypeError, OverflowError):
        return None
    if not np.isfinite(converted).all():
        return None
    # It also takes True and False as 1.0 and 0.0: only those items can be booleans.
    suspects = np.flatnonzero((converted == 0.0) | (converted == 1.0))
    if any(type(values[i]) is bool for i in suspects.tolist()):
        return None
    return converted


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of `content_type` as JSON (none, or application/*json)."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class _ParsedBodyRequest(Request):
    """A request whose `json()` is the body already parsed and validated by `BodyRoute`."""

    _validated: BaseModel | None = None
    # Freeing a million parsed floats takes tens of milliseconds: the parsed body is kept
    # until this request object goes, after the answer is sent (no higher peak: it coexisted
    # with the arrays during the conversion anyway).
    _parsed: Any = None

    async def json(self) -> Any:
        if self._validated is not None:
            return self._validated
        return orjson.loads(await self.body())


def _body_model(endpoint: Callable[..., Any]) -> type[BaseModel] | None:
    """The wire model the endpoint takes as its body, if any."""
    for hint in get_type_hints(endpoint).values():
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            return hint
    return None


class BodyRoute(APIRoute):
    """A route whose JSON body is parsed by orjson and validated by `validate_body` against
    the app's limits (``app.state.limits``) before FastAPI runs the endpoint. The API key is
    checked first (`service.auth`), so a refused request's body is never parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        model = _body_model(self.endpoint)

        async def parse_then_handle(request: Request) -> Response:
            authorize(request)
            parsed = _ParsedBodyRequest(request.scope, request.receive)
            if model is not None and _is_json(request.headers.get("content-type")):
                body = await parsed.body()
                try:
                    data = orjson.loads(body) if body else None
                except orjson.JSONDecodeError:
                    data = None  # FastAPI parses it again and answers its json_invalid 422
                if data is not None:
                    parsed._parsed = data
                    parsed._validated = validate_body(model, data, request.app.state.limits)
            return await handler(parsed)

        return parse_then_handle
