"""The one place where errors become HTTP answers.

Mapping::

    core.FitError                 422 {"detail": [{"type": kind, "loc": ["body", field], ...}]}
    ├── core.DataError            type "data_error"
    ├── core.ParameterError       type "parameter_error"
    └── core.DivergedError        type "diverged", loc ["body", "learning_rate"],
                                  ctx {"epoch", "max_stable_learning_rate"}
    RequestValidationError        422 FastAPI's standard detail list (large inputs not echoed;
                                  at most MAX_ITEM_ERRORS per array, at most MAX_ERRORS items
                                  and MAX_ANSWER_BYTES in all, each cap closed by one
                                  "too_many_errors" item counting the rest)
    HTTPException 413             the one body of every 413 (a streamed body over the limit)
    any other Exception           500 {"detail": "internal error", "request_id": ...}, logged

In a batch, a diverged item becomes ``{"error": {"type", "msg", "ctx"}}`` in place of its
result (`batch_item_error`); any other core error of an item fails the whole request with
``loc`` ``["body", "fits", i, field]`` (`validation_error`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import core
from service.middleware import (
    REQUEST_ID_HEADER,
    SERVER_TIMING_HEADER,
    request_id_of,
    server_timing,
    too_large_detail,
)
from service.validation import MAX_ERRORS, MAX_ITEM_ERRORS

__all__ = [
    "batch_item_error",
    "error_detail",
    "install_error_handlers",
    "validation_error",
]

logger = logging.getLogger("service.errors")

MAX_ECHOED_ITEMS = 32
"""Inputs that are arrays or objects longer than this are not echoed back in a 422."""


def error_detail(error: core.FitError, loc: Sequence[str | int] = ("body",)) -> dict[str, Any]:
    """One item of a 422 ``detail`` list for a core error, at ``[*loc, error.field]``."""
    detail: dict[str, Any] = {
        "type": error.kind,
        "loc": [*loc, error.field],
        "msg": error.message,
    }
    if error.context:
        detail["ctx"] = error.context
    return detail


def batch_item_error(error: core.FitError) -> dict[str, Any]:
    """The ``{"error": {"type", "msg", "ctx"}}`` entry of a batch item that has no result."""
    return {"error": {"type": error.kind, "msg": error.message, "ctx": error.context}}


def validation_error(errors: Iterable[dict[str, Any]]) -> RequestValidationError:
    """A 422 carrying `errors` (FastAPI detail items), answered like any validation failure."""
    return RequestValidationError(list(errors))


MAX_ANSWER_BYTES = 64 * 1024
"""Largest ``detail`` list of a 422, serialized: its items are listed until the next would
pass this, then one item counts the rest."""

MAX_ECHOED_CHARS = 200
"""A longer string ``input`` is echoed shortened to this many characters."""


def _array_of(loc: Sequence[Any]) -> tuple[Any, ...]:
    """The location of the field an error is in: `loc` without its trailing item indices."""
    end = len(loc)
    while end > 1 and isinstance(loc[end - 1], int):
        end -= 1
    return tuple(loc[:end])


def _capped(errors: Sequence[Any]) -> list[Any]:
    """`errors` with at most `MAX_ITEM_ERRORS` per array field, so every bad field is still
    reported, and a ``too_many_errors`` item per field saying how many were left out."""
    kept: list[Any] = []
    omitted: dict[tuple[Any, ...], int] = {}
    listed: dict[tuple[Any, ...], int] = {}
    for error in errors:
        loc = error.get("loc", ()) if isinstance(error, dict) else ()
        field = _array_of(loc)
        if len(field) < len(loc):  # an item of an array
            if listed.get(field, 0) >= MAX_ITEM_ERRORS:
                omitted[field] = omitted.get(field, 0) + 1
                continue
            listed[field] = listed.get(field, 0) + 1
        kept.append(error)
    for field, count in omitted.items():
        kept.append(
            {
                "type": "too_many_errors",
                "loc": list(field),
                "msg": (
                    f"{count} more invalid items in {field[-1]} are not listed "
                    f"(at most {MAX_ITEM_ERRORS} are)"
                ),
                "ctx": {"omitted": count, "listed": MAX_ITEM_ERRORS},
            }
        )
    return kept


def _json_safe(value: Any) -> Any:
    """`value` with NaN and infinities spelled as strings, since JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    return value


def _small(value: Any, budget: list[int]) -> bool:
    """Whether `value` holds at most ``budget[0]`` values in all, none a long string (it
    stops counting as soon as the budget is spent, so it costs O(budget))."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    if isinstance(value, str):
        return len(value) <= MAX_ECHOED_CHARS
    if isinstance(value, dict):
        return all(_small(key, budget) and _small(item, budget) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_small(item, budget) for item in value)
    return True


def _echoable(detail: Any) -> Any:
    """A detail item that is valid JSON, its ``input`` shortened when it is a long string and
    left out when it is a large array or object (more than `MAX_ECHOED_ITEMS` values).

    The rejected input may itself be NaN or Infinity (Python's JSON parser accepts them).
    """
    if not isinstance(detail, dict):
        return detail
    given = detail.get("input")
    if detail.get("type") == "too_many_errors":  # its input is only the count, in ctx already
        detail = {key: value for key, value in detail.items() if key != "input"}
    elif isinstance(given, str) and len(given) > MAX_ECHOED_CHARS:
        detail = {**detail, "input": given[:MAX_ECHOED_CHARS] + "..."}
    elif isinstance(given, list | tuple | dict) and not _small(given, [MAX_ECHOED_ITEMS + 1]):
        detail = {key: value for key, value in detail.items() if key != "input"}
    return _json_safe(jsonable_encoder(detail))


def _answer_items(errors: Sequence[Any]) -> list[Any]:
    """The ``detail`` list of a 422: at most `MAX_ERRORS` items and `MAX_ANSWER_BYTES`, the
    last item counting those left out."""
    kept: list[Any] = []
    size = 2
    reserve = 512  # room for the counting item
    for n, error in enumerate(errors):
        item = _echoable(error)
        length = len(json.dumps(item, ensure_ascii=False)) + 1
        if (
            len(kept) == MAX_ERRORS - 1
            and n < len(errors) - 1
            or (size + length > MAX_ANSWER_BYTES - reserve)
        ):
            left = len(errors) - n
            kept.append(
                {
                    "type": "too_many_errors",
                    "loc": ["body"],
                    "msg": (
                        f"{left} more errors are not listed (an answer lists at most "
                        f"{MAX_ERRORS} errors and {MAX_ANSWER_BYTES // 1024} KiB)"
                    ),
                    "ctx": {"omitted": left},
                }
            )
            break
        kept.append(item)
        size += length
    return kept


async def _fit_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, core.FitError)
    return JSONResponse(status_code=422, content={"detail": [error_detail(exc)]})


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _answer_items(_capped(exc.errors()))})


async def _http_error(request: Request, exc: Exception) -> Any:
    """FastAPI's own answer, except that a body found too large while it streamed (Starlette's
    413 "Content Too Large") gets the same answer as one whose length announced it."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:
        limit = request.app.state.settings.max_body_bytes
        return JSONResponse(status_code=413, content={"detail": too_large_detail(limit)})
    return await http_exception_handler(request, exc)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = request_id_of(request.scope)
    logger.error(
        "unhandled error in %s %s (request id %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
        extra={"request_id": request_id},
    )
    return JSONResponse(
        status_code=500,
        content={"detail": "internal error", "request_id": request_id},
        # Served outside the request middleware (by Starlette's ServerErrorMiddleware), so
        # this answer stamps its own headers.
        headers={REQUEST_ID_HEADER: request_id, SERVER_TIMING_HEADER: server_timing(request.scope)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on `app` (Starlette finds them along the MRO)."""
    app.add_exception_handler(core.FitError, _fit_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
