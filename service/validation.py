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
- `batch_work`, what a batch asks of the core in all its fits together;
- `oversized_errors` and `unknown_key_errors`, which find what is wrong with huge arrays
  and with bodies full of unknown fields in one cheap pass, reporting at most
  `MAX_ITEM_ERRORS` items per field, so that the errors of a body cost time and memory in
  proportion to its size, never one error object per bad item;
- the points that certainly pass every rule of ``x``, ``y`` and ``weights``, as float64
  arrays (`finite_numbers`, `usable_points`, and `sure_points` for all the items of a batch
  in a few vectorized passes): a request whose points pass them is validated with two
  stand-in points (`STAND_IN`) and gets its arrays after, which accepts exactly the requests
  that validating the lists accepts. Anything not certain is validated as lists, which finds
  the errors.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

__all__ = [
    "ALIASES",
    "BATCH_WORK_FACTOR",
    "DEFAULT_EPOCHS",
    "MAX_ERRORS",
    "MAX_ITEM_ERRORS",
    "STAND_IN",
    "ItemPoints",
    "alias_errors",
    "at_most",
    "batch_work",
    "constant",
    "count_error",
    "distinct_weighted",
    "finite_numbers",
    "oversized_errors",
    "reraisable",
    "too_many_error",
    "unknown_key_errors",
    "source_errors",
    "sure_points",
    "usable_points",
    "validate_with",
]

FloatArray = NDArray[np.float64]

DEFAULT_EPOCHS: Final = 10_000
"""`epochs` when a request does not say."""

BATCH_WORK_FACTOR: Final = 10
"""A batch may run at most this many times `max_epochs` epochs in all its fits, and record
this many times `max_history_points` history entries, in all its fits together: a small body
must not buy minutes of CPU or a huge answer."""

ALIASES: Final = (("x", "X"), ("y", "Y"), ("learning_rate", "lr"))
"""Fields and their aliases."""


def custom_error(
    loc: tuple[str | int, ...],
    value: Any,
    kind: str,
    template: str,
    context: dict[str, Any] | None = None,
) -> InitErrorDetails:
    """An error of type `kind` at `loc` about `value`, its message `template` formatted with
    `context` (as `PydanticCustomError` does), ready for `ValidationError.from_exception_data`."""
    return InitErrorDetails(type=PydanticCustomError(kind, template, context), loc=loc, input=value)


MAX_ITEM_ERRORS: Final = 20
"""Errors listed per array field (``x``, ``y``, a batch item's ``x``...) or for unknown
fields: a body of a million strings must not answer a million error items; one more item
counts the rest."""

MAX_ERRORS: Final = 100
"""Error items in one answer, the last of which may count the rest."""

POINT_FIELDS: Final = ("x", "X", "y", "Y", "weights")


def too_many_error(loc: tuple[str | int, ...], omitted: int, what: str) -> InitErrorDetails:
    """The ``too_many_errors`` item at `loc` saying that `omitted` more `what` are not listed."""
    return custom_error(
        loc,
        omitted,
        "too_many_errors",
        f"{{omitted}} more {what} are not listed (at most {{listed}} are)",
        {"omitted": omitted, "listed": MAX_ITEM_ERRORS},
    )


_NUMBER_TYPES = frozenset((int, float))


def _not_numbers(values: list[Any]) -> list[int]:
    """Indices of the items of `values` that are not JSON numbers (booleans are not)."""
    if set(map(type, values)) <= _NUMBER_TYPES:  # one C loop; bool is a type of its own
        return []
    return [i for i, value in enumerate(values) if type(value) not in _NUMBER_TYPES]


def oversized_errors(
    data: Mapping[str, Any], max_points: int
) -> tuple[list[InitErrorDetails], dict[str, Any]]:
    """The errors of point arrays (x, y) longer than `max_points` or holding items that are
    not numbers, found in one pass; and the body with those arrays set to None, so that
    validation does not report them item by item again.

    At most `MAX_ITEM_ERRORS` bad items are listed per array, then one ``too_many_errors``.
    """
    errors: list[InitErrorDetails] = []
    rest = dict(data)
    for key in POINT_FIELDS:
        values = data.get(key)
        if type(values) is not list:
            continue
        if len(values) > max_points:
            # x carries the error; y over the limit is always also a length mismatch or
            # comes with an x error, so it is only kept from being checked item by item.
            # weights carry their own (set to None they would silently mean "unweighted").
            if key in ("x", "X", "weights"):
                what = "x has {count} points" if key != "weights" else "weights has {count} values"
                error = count_error(what, len(values), max_points, "max_points")
                assert error is not None
                errors.append(InitErrorDetails(type=error, loc=(key,), input=values))
            rest[key] = None
            continue
        bad = _not_numbers(values)
        if not bad:
            continue
        for i in bad[:MAX_ITEM_ERRORS]:
            errors.append(
                custom_error((key, i), values[i], "float_type", "Input should be a valid number")
            )
        if len(bad) > MAX_ITEM_ERRORS:
            errors.append(
                too_many_error((key,), len(bad) - MAX_ITEM_ERRORS, f"invalid items in {key}")
            )
        rest[key] = None
    return errors, rest


def unknown_key_errors(
    data: Mapping[str, Any], known: Collection[str]
) -> tuple[list[InitErrorDetails], dict[str, Any]]:
    """When `data` holds more than `MAX_ITEM_ERRORS` keys outside `known`: the errors of the
    first of them and one counting the rest, and `data` without them (else nothing, and
    `data` as it is: validation reports a few unknown fields itself)."""
    unknown = [key for key in data if key not in known]
    if len(unknown) <= MAX_ITEM_ERRORS:
        return [], dict(data)
    errors = [
        custom_error((key,), data[key], "extra_forbidden", "Extra inputs are not permitted")
        for key in unknown[:MAX_ITEM_ERRORS]
    ]
    errors.append(too_many_error((), len(unknown) - MAX_ITEM_ERRORS, "unknown fields"))
    drop = set(unknown)
    return errors, {key: value for key, value in data.items() if key not in drop}


def constant(values: Sequence[float]) -> bool:
    """True when all values are equal (stops at the first difference, so O(1) on real data)."""
    first = values[0]
    return all(value == first for value in values)


def distinct_weighted(x: Sequence[float], weights: Sequence[float]) -> bool:
    """True when at least two distinct x have a positive weight (stops at the second)."""
    first: float | None = None
    for value, weight in zip(x, weights, strict=False):
        if weight > 0:
            if first is None:
                first = value
            elif value != first:
                return True
    return False


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
    """(epochs in all, history entries in all) of raw batch items, defaults applied.

    Every item's epochs count, not only those scanned for `tolerance`: locating where a
    descent overflows may walk a block epoch by epoch, and a batch must not buy unbounded
    per-epoch work with a small body.
    """
    run = recorded = 0
    for fit in fits:
        if not isinstance(fit, Mapping):
            continue
        epochs = fit.get("epochs", DEFAULT_EPOCHS)
        history = fit.get("history_points", 0)
        if type(epochs) is not int:
            continue
        run += epochs
        if type(history) is int:
            recorded += min(history, epochs + 1)
    return run, recorded


def alias_errors(data: Mapping[str, Any]) -> tuple[list[InitErrorDetails], dict[str, Any]]:
    """The errors of fields sent under both their name and their alias, and the body without
    those aliases (so that they are not also reported as unknown fields)."""
    errors: list[InitErrorDetails] = []
    rest = dict(data)
    for name, alias in ALIASES:
        if name in data and alias in data:
            errors.append(
                custom_error(
                    (alias,),
                    data[alias],
                    "duplicate_alias",
                    "{name} and {alias} are the same field: send only one of them",
                    {"name": name, "alias": alias},
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
        if data.get("weights") is not None:
            errors.append(
                custom_error(
                    ("weights",),
                    data.get("weights"),
                    "data_conflict",
                    "weights go with x and y, not with moments: weighted moments carry "
                    "their weights in sum_w and in the weighted sums",
                )
            )
        if present["x"] or present["y"]:
            errors.append(
                custom_error(
                    ("moments",),
                    data.get("moments"),
                    "data_conflict",
                    "send either x and y, or moments, not both",
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
                custom_error(
                    (y_key,),
                    data[y_key],
                    "length_mismatch",
                    "x and y must have the same length (got {x_length} and {y_length})",
                    {"x_length": x_length, "y_length": y_length},
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
        own = list(map(reraisable, error.errors()))
        merged = [*extra, *own] if first else [*own, *extra]
        if order is not None:
            merged.sort(key=order)
        raise ValidationError.from_exception_data(error.title, merged) from None
    if extra:
        raise ValidationError.from_exception_data(title, extra)
    return model


def reraisable(error: ErrorDetails) -> InitErrorDetails:
    """An error of a caught ValidationError, in the form `from_exception_data` takes back."""
    # Messages are already formatted; escape braces so they are not formatted again.
    template = error["msg"].replace("{", "{{").replace("}", "}}")
    return custom_error(error["loc"], error["input"], error["type"], template, error.get("ctx"))


STAND_IN: Final = (0.0, 1.0)
"""Two valid points: the x and y a request's other fields are validated with when its points
are already known to be valid (pass them as lists: ``list(STAND_IN)``)."""


def finite_numbers(values: Any) -> FloatArray | None:
    """`values` as a float64 array when it is a list of finite JSON numbers (not booleans,
    strings, null or nested values), else None."""
    if type(values) is not list:
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


def usable_points(
    standardize: bool, x: FloatArray, y: FloatArray, weights: FloatArray | None
) -> bool:
    """Whether finite points `x`, `y` (and `weights`) certainly pass every rule of the model
    that involves them (their lengths, distinct x, valid weights, varying y when
    `standardize` is True); not their count against ``max_points``."""
    if x.size != y.size or x.size < 2 or x.min() == x.max():
        return False
    if weights is None:
        return not (standardize and y.min() == y.max())
    if weights.size != x.size or not np.isfinite(weights).all() or not weights.min() >= 0:
        return False
    kept = weights > 0
    if not kept.any():
        return False
    kept_x, kept_y = x[kept], y[kept]
    if kept_x.min() == kept_x.max():
        return False
    return not (standardize and kept_y.min() == kept_y.max())


class ItemPoints(NamedTuple):
    """The points of one batch item as float64 arrays, certainly valid (`sure_points`), and
    the keys they were sent under (``x`` or ``X``, ``y`` or ``Y``); `weights` None when the
    item has none (or ``"weights": null``)."""

    x_key: str
    y_key: str
    x: FloatArray
    y: FloatArray
    weights: FloatArray | None


def _point_keys(fit: Any, max_points: int) -> tuple[str, str] | None:
    """The keys of a raw batch item's x and y when it sends them as lists of one length
    between 2 and `max_points` (and no ``moments`` key), else None."""
    if type(fit) is not dict or "moments" in fit:
        return None
    if ("x" in fit) == ("X" in fit) or ("y" in fit) == ("Y" in fit):
        return None  # neither, or both a field and its alias
    x_key = "x" if "x" in fit else "X"
    y_key = "y" if "y" in fit else "Y"
    x, y = fit[x_key], fit[y_key]
    if type(x) is not list or type(y) is not list or not 2 <= len(x) <= max_points:
        return None
    return (x_key, y_key) if len(y) == len(x) else None


def _mark_booleans(
    values: FloatArray,
    at: NDArray[np.intp],
    lists: Sequence[list[Any]],
    bad: NDArray[np.bool_],
) -> None:
    """Mark in `bad` the segments of `values` (the `lists` laid end to end, each from its
    offset in `at`) whose list holds a boolean: array.array took them as 0.0 and 1.0, so
    only the items of those values can be."""
    suspects = np.flatnonzero((values == 0.0) | (values == 1.0))
    if not suspects.size:
        return
    owners = np.searchsorted(at, suspects, side="right") - 1
    starts = at[owners]
    for index, owner, start in zip(
        suspects.tolist(), owners.tolist(), starts.tolist(), strict=True
    ):
        if type(lists[owner][index - start]) is bool:
            bad[owner] = True


def sure_points(fits: Sequence[Any], max_points: int) -> list[ItemPoints | None]:
    """For each raw item of a batch, its points as float64 arrays when they certainly pass
    every rule of ``x``, ``y`` and ``weights`` (`usable_points`, with the item's
    ``standardize``), else None: the item is then validated as sent, which finds its errors.

    All the items' x (and y) are converted into one buffer in one C loop per list, checked
    for booleans, non-finite values and constant x in a few vectorized passes over the whole
    batch; each item's arrays are views of those buffers. Weights are checked item by item.
    """
    xs, ys = array.array("d"), array.array("d")
    taken: list[tuple[int, str, str, FloatArray | None]] = []
    x_lists: list[list[Any]] = []
    y_lists: list[list[Any]] = []
    starts: list[int] = []
    for i, fit in enumerate(fits):
        keys = _point_keys(fit, max_points)
        if keys is None:
            continue
        weights = fit.get("weights")
        if weights is not None:
            weights = finite_numbers(weights)
            if weights is None:
                continue
        x, y = fit[keys[0]], fit[keys[1]]
        start = len(xs)
        try:
            xs.fromlist(x)  # unchanged when it raises
            ys.fromlist(y)
        except (TypeError, OverflowError):
            del xs[start:]
            continue
        taken.append((i, *keys, weights))
        x_lists.append(x)
        y_lists.append(y)
        starts.append(start)
    out: list[ItemPoints | None] = [None] * len(fits)
    if not taken:
        return out
    x_all = np.frombuffer(xs, dtype=np.float64)
    y_all = np.frombuffer(ys, dtype=np.float64)
    at = np.array(starts, dtype=np.intp)
    finite = np.isfinite(x_all) & np.isfinite(y_all)
    bad = np.zeros(len(taken), dtype=np.bool_)
    if not finite.all():
        bad |= ~np.logical_and.reduceat(finite, at)
    _mark_booleans(x_all, at, x_lists, bad)
    _mark_booleans(y_all, at, y_lists, bad)
    bad |= np.minimum.reduceat(x_all, at) == np.maximum.reduceat(x_all, at)
    constant_y = np.minimum.reduceat(y_all, at) == np.maximum.reduceat(y_all, at)
    stops = [*starts[1:], len(xs)]
    for (i, x_key, y_key, weights), start, stop, refused, flat_y in zip(
        taken, starts, stops, bad.tolist(), constant_y.tolist(), strict=True
    ):
        if refused:
            continue
        standardize = fits[i].get("standardize") is True
        x, y = x_all[start:stop], y_all[start:stop]
        if weights is None:
            if standardize and flat_y:
                continue
        elif not usable_points(standardize, x, y, weights):
            continue
        out[i] = ItemPoints(x_key, y_key, x, y, weights)
    return out
