"""Validation machinery behind the wire models: server limits, cross-field rules, merged errors.

The wire models (`service.schemas`) declare what Pydantic checks by itself. What they cannot
say declaratively lives here, as functions of plain values so it is testable on its own:

- the limits that depend on the server's settings (`at_most`, `count_error`): the models read
  the limits in force from the validation context, ``{"limits": Limits}``, which the one place
  that parses bodies (`service.bodies`) passes to ``model_validate``;
- the rule "exactly one of x/y and moments", equal lengths and aliases sent twice
  (`source_errors`, `alias_errors`), checked on the raw body so they are reported even when the
  fields have errors of their own;
- `validate_with`, which merges those errors with the model's own, so that every bad field is
  reported in one answer;
- `batch_work`, what a batch asks of the core in all its fits together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

__all__ = [
    "ALIASES",
    "BATCH_WORK_FACTOR",
    "DEFAULT_EPOCHS",
    "alias_errors",
    "at_most",
    "batch_work",
    "constant",
    "count_error",
    "source_errors",
    "validate_with",
]

DEFAULT_EPOCHS: Final = 10_000
"""`epochs` when a request does not say."""

BATCH_WORK_FACTOR: Final = 10
"""A batch may scan at most this many times `max_epochs` epochs for `tolerance`, and record
this many times `max_history_points` history entries, in all its fits together: a small body
must not buy minutes of CPU or a huge answer."""

ALIASES: Final = (("x", "X"), ("y", "Y"), ("learning_rate", "lr"))
"""Fields and their aliases."""


def constant(values: Sequence[float]) -> bool:
    """True when all values are equal (stops at the first difference, so O(1) on real data)."""
    first = values[0]
    return all(value == first for value in values)


def at_most(field: str, value: int, limit: int, limit_name: str) -> None:
    """Refuse `value` of `field` above `limit`, the server's setting `limit_name`.

    Raises `PydanticCustomError` ``less_than_equal``.
    """
    if value > limit:
        raise PydanticCustomError(
            "less_than_equal",
            f"{field} must be at most {limit} on this server ({limit_name}); got {value}",
            {"le": limit},
        )


def count_error(
    what: str, count: int, limit: int, limit_name: str, factor: int = 1
) -> PydanticCustomError | None:
    """The error for `count` points or items over `factor` times `limit` (the server's
    setting `limit_name`), or None; `what` says what was counted, e.g. ``"x has {count}
    points"``."""
    if count <= factor * limit:
        return None
    name = limit_name if factor == 1 else f"{factor} x {limit_name}"
    return PydanticCustomError(
        "too_long",
        f"{what.format(count=count)}; this server accepts at most {factor * limit} ({name})",
        {limit_name: factor * limit, "actual_length": count},
    )


def batch_work(fits: list[Any]) -> tuple[int, int]:
    """(epochs scanned for tolerance, history entries) of raw batch items, defaults applied."""
    scanned = recorded = 0
    for fit in fits:
        if not isinstance(fit, Mapping):
            continue
        epochs = fit.get("epochs", DEFAULT_EPOCHS)
        history = fit.get("history_points", 0)
        if type(epochs) is not int:
            continue
        if fit.get("tolerance") is not None:
            scanned += epochs
        if type(history) is int:
            recorded += min(history, epochs + 1)
    return scanned, recorded


def alias_errors(data: Mapping[str, Any]) -> tuple[list[InitErrorDetails], dict[str, Any]]:
    """The errors of fields sent under both their name and their alias, and the body without
    those aliases (so that they are not also reported as unknown fields)."""
    errors: list[InitErrorDetails] = []
    rest = dict(data)
    for name, alias in ALIASES:
        if name in data and alias in data:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "duplicate_alias",
                        "{name} and {alias} are the same field: send only one of them",
                        {"name": name, "alias": alias},
                    ),
                    loc=(alias,),
                    input=data[alias],
                )
            )
            del rest[alias]
    return errors, rest


def source_errors(data: Mapping[str, Any]) -> list[InitErrorDetails]:
    """The errors of the rule "exactly one of x/y and moments", and of x and y of different
    lengths (checked on the raw lists); empty when the body keeps them."""
    present = {
        name: any(data.get(key) is not None for key in keys)
        for name, keys in (("x", ("x", "X")), ("y", ("y", "Y")), ("moments", ("moments",)))
    }
    errors: list[InitErrorDetails] = []
    if present["moments"]:
        if present["x"] or present["y"]:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "data_conflict", "send either x and y, or moments, not both"
                    ),
                    loc=("moments",),
                    input=data.get("moments"),
                )
            )
        return errors
    for name, other in (("x", "y"), ("y", "x")):
        if present[name]:
            continue
        msg = (
            f"{name} is required with {other}"
            if present[other]
            else f"{name} is required (or send moments instead of x and y)"
        )
        errors.append(
            InitErrorDetails(type=PydanticCustomError("missing", msg), loc=(name,), input=data)
        )
    x_key = next((key for key in ("x", "X") if data.get(key) is not None), None)
    y_key = next((key for key in ("y", "Y") if data.get(key) is not None), None)
    if x_key and y_key and isinstance(data[x_key], list) and isinstance(data[y_key], list):
        x_length, y_length = len(data[x_key]), len(data[y_key])
        if x_length != y_length:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "length_mismatch",
                        "x and y must have the same length (got {x_length} and {y_length})",
                        {"x_length": x_length, "y_length": y_length},
                    ),
                    loc=(y_key,),
                    input=data[y_key],
                )
            )
    return errors


def validate_with(
    title: str,
    handler: Callable[[Any], Any],
    data: Any,
    extra: list[InitErrorDetails],
    *,
    order: Callable[[InitErrorDetails], int] | None = None,
    first: bool = False,
) -> Any:
    """`handler(data)`, failing with `extra` errors merged into its own (`first`: before them,
    else after them; then sorted stably by `order`, if given), so every bad field is reported
    at once.

    Raises `ValidationError` titled `title` when there is any error.
    """
    try:
        model = handler(data)
    except ValidationError as error:
        if not extra:
            raise
        own = list(map(_reraisable, error.errors()))
        merged = [*extra, *own] if first else [*own, *extra]
        if order is not None:
            merged.sort(key=order)
        raise ValidationError.from_exception_data(error.title, merged) from None
    if extra:
        raise ValidationError.from_exception_data(title, extra)
    return model


def _reraisable(error: ErrorDetails) -> InitErrorDetails:
    """An error of a caught ValidationError, in the form `from_exception_data` takes back."""
    # Messages are already formatted; escape braces so they are not formatted again.
    template = error["msg"].replace("{", "{{").replace("}", "}}")
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], template, error.get("ctx")),
        loc=error["loc"],
        input=error["input"],
    )
