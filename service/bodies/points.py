"""A `FitRequest` from points already in float64 arrays, with every rule of the model.

Both the JSON fast path (`service.bodies.json_body`) and the table bodies (CSV, Arrow) end
here: `request_for_points` accepts exactly what validating the same points as JSON lists
accepts, and refuses with exactly the same errors, because anything it is not sure of is
validated as those lists by the model itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi.exceptions import RequestValidationError
from numpy.typing import NDArray
from pydantic import ValidationError

from service.schemas import FitRequest, Limits
from service.validation import STAND_IN, usable_points

__all__ = [
    "MAX_LISTED",
    "BodyError",
    "ErrorList",
    "FloatArray",
    "Points",
    "request_for_points",
    "request_from_table",
]

FloatArray = NDArray[np.float64]
ErrorItem = dict[str, Any]

MAX_LISTED = 20
"""Errors listed about the cells or rows of a table body; one more item counts the rest."""

_STAND_IN = list(STAND_IN)
"""Two valid points, standing in for the arrays while the other fields are validated."""


class BodyError(Exception):
    """A table body that holds no valid points: `items` are its FastAPI error items (at most
    `MAX_LISTED` about cells or rows, then one that counts the rest)."""

    def __init__(self, items: list[ErrorItem]) -> None:
        super().__init__(f"{len(items)} errors in the body")
        self.items = items


class ErrorList:
    """The errors found in a table body, in order: the first `MAX_LISTED` are kept, the rest
    only counted."""

    def __init__(self) -> None:
        self.listed: list[ErrorItem] = []
        self.omitted = 0

    def add(self, item: ErrorItem) -> None:
        """Keep `item` if fewer than `MAX_LISTED` are kept, else count it."""
        if len(self.listed) < MAX_LISTED:
            self.listed.append(item)
        else:
            self.omitted += 1

    def __bool__(self) -> bool:
        return bool(self.listed)

    def error(self) -> BodyError:
        """The `BodyError` of these errors, with a ``too_many_errors`` item counting the ones
        not kept."""
        items = list(self.listed)
        if self.omitted:
            items.append(
                {
                    "type": "too_many_errors",
                    "loc": ("body",),
                    "msg": (
                        f"{self.omitted} more errors in the body are not listed "
                        f"(at most {MAX_LISTED} are)"
                    ),
                    "ctx": {"omitted": self.omitted, "listed": MAX_LISTED},
                }
            )
        return BodyError(items)


@dataclass(frozen=True, slots=True)
class Points:
    """The points of a table body: finite float64 arrays of equal length (`weights` None when
    the table has no weight column), and the names of their columns as sent (``x`` or
    ``X``, ``y`` or ``Y``), which error locations use."""

    x: FloatArray
    y: FloatArray
    x_name: str = "x"
    y_name: str = "y"
    weights: FloatArray | None = None


def request_for_points(
    fields: Mapping[str, Any],
    x_key: str,
    y_key: str,
    x: FloatArray,
    y: FloatArray,
    limits: Limits,
    weights: FloatArray | None = None,
) -> FitRequest | None:
    """The request of `fields` (a body without its points) with the points `x` and `y` (finite
    float64 arrays, sent under `x_key` and `y_key`) and the float64 `weights` if sent as an
    array (else ``weights`` is in `fields`, if anywhere), or None when not sure it is valid.

    None happens for every invalid request (and for some valid ones): the caller then
    validates the points as lists, which finds the errors.
    """
    standardize = fields.get("standardize") is True
    if x.size > limits.max_points or not usable_points(standardize, x, y, weights):
        return None
    if weights is None and fields.get("weights") is not None:
        return None  # weights that are no float64 array: validation decides
    stand_in = {**fields, x_key: _STAND_IN, y_key: _STAND_IN}
    try:
        request = FitRequest.model_validate(stand_in, context={"limits": limits})
    except ValidationError:
        return None
    return request.with_arrays(x, y, weights)


def _located(errors: Sequence[Any], query: Mapping[str, Any]) -> list[ErrorItem]:
    """Model errors located under ``"query"`` for the fields that came from the query string,
    under ``"body"`` for the others."""
    return [
        {
            **item,
            "loc": ("query" if item["loc"] and item["loc"][0] in query else "body", *item["loc"]),
        }
        for item in errors
    ]


def request_from_table(
    points: Points | None,
    query: Mapping[str, Any],
    errors: Sequence[ErrorItem],
    limits: Limits,
) -> FitRequest:
    """The request of a table body: its `points` (None when the body had errors) and the
    hyperparameters `query` from the query string (`service.bodies.query`).

    Raises `RequestValidationError` with `errors` (the body's and the query's own) and the
    model's errors, located under ``"body"`` or ``"query"``: every error in one answer.
    """
    if points is not None and not errors:
        fast = request_for_points(
            query, points.x_name, points.y_name, points.x, points.y, limits, points.weights
        )
        if fast is not None:
            return fast
    if points is None:
        # The body's errors are known; the hyperparameters are checked with stand-in points.
        data: dict[str, Any] = {**query, "x": _STAND_IN, "y": _STAND_IN}
    else:
        # The model finds the errors, exactly as for the same points sent as JSON lists.
        data = {**query, points.x_name: points.x.tolist(), points.y_name: points.y.tolist()}
        if points.weights is not None:
            data["weights"] = points.weights.tolist()
    try:
        request = FitRequest.model_validate(data, from_attributes=True, context={"limits": limits})
    except ValidationError as error:
        model_errors = _located(error.errors(include_url=False), query)
        raise RequestValidationError([*errors, *model_errors]) from None
    if errors:
        raise RequestValidationError(list(errors))
    return request
