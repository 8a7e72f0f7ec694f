"""POST /fit/batch: the request (`BatchFitRequest`, with the batch's own limits and work
budget) and its answer (`BatchFitResponse`: each fit's `FitResponse`, or a `BatchItemError`
in the place of a fit that diverged)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails

from service.schemas.limits import limits_of
from service.schemas.requests import FitRequest
from service.schemas.responses import FitResponse
from service.validation import (
    BATCH_WORK_FACTOR,
    MAX_ERRORS,
    STAND_IN,
    ItemPoints,
    batch_work,
    count_error,
    custom_error,
    reraisable,
    sure_points,
    too_many_error,
)

__all__ = ["BatchFitRequest", "BatchFitResponse", "BatchItemError", "FitErrorBody"]


class BatchFitRequest(BaseModel):
    """Several fits answered together, vectorized in one pass of the core."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "fits": [
                        {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 0.05},
                        {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 1.0},
                    ]
                }
            ]
        },
    )

    fits: list[FitRequest] = Field(
        min_length=1,
        description=(
            "1 to `max_batch` fits (see GET /info), with at most `max_points` points in all."
        ),
        examples=[[{"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 0.05}]],
    )

    @model_validator(mode="wrap")
    @classmethod
    def _within_limits(
        cls, data: Any, handler: ModelWrapValidatorHandler[BatchFitRequest], info: ValidationInfo
    ) -> Any:
        """The batch's own limits (items, points in all), reported with the items' errors."""
        limits = limits_of(info)
        fits = data.get("fits") if isinstance(data, Mapping) else None
        if not isinstance(fits, list):
            return handler(data)
        points = sum(
            len(points)
            for fit in fits
            if isinstance(fit, Mapping)
            for points in [fit.get("x", fit.get("X"))]
            if isinstance(points, list)
        )
        epochs, recorded = batch_work(fits)
        checks = (
            ("fits has {count} items", len(fits), "max_batch", 1),
            ("fits hold {count} points in all", points, "max_points", 1),
            (
                "fits run {count} epochs in all",
                epochs,
                "max_epochs",
                BATCH_WORK_FACTOR,
            ),
            (
                "fits record {count} history entries in all",
                recorded,
                "max_history_points",
                BATCH_WORK_FACTOR,
            ),
        )
        errors = [
            # The count is the rejected value here; echoing every fit would say nothing more.
            InitErrorDetails(type=error, loc=("fits",), input=count)
            for what, count, limit_name, factor in checks
            if (error := count_error(what, count, getattr(limits, limit_name), limit_name, factor))
            is not None
        ]
        if errors:
            # Known bad as a whole: its items are not worth validating one by one.
            raise ValidationError.from_exception_data(cls.__name__, errors)
        # The items one by one, stopping once an answer's worth of errors is found. Items
        # whose points are certainly valid get them as arrays, their other fields validated
        # once per distinct set of values; the others are validated as sent.
        sure = sure_points(fits, limits.max_points)
        templates: dict[Any, FitRequest | None] = {}
        items: list[Any] = []
        for i, fit in enumerate(fits):
            known = sure[i]
            if known is not None:
                request = _with_points(fit, known, templates, info.context)
                if request is not None:
                    items.append(request)
                    continue
            try:
                items.append(
                    FitRequest.model_validate(fit, from_attributes=True, context=info.context)
                )
            except ValidationError as error:
                for item in error.errors():
                    errors.append(reraisable({**item, "loc": ("fits", i, *item["loc"])}))
                if len(errors) >= MAX_ERRORS and i + 1 < len(fits):
                    left = len(fits) - i - 1
                    errors.append(too_many_error(("fits",), left, "items of fits were not checked"))
                    break
        if errors:
            errors.extend(
                custom_error((key,), value, "extra_forbidden", "Extra inputs are not permitted")
                for key, value in data.items()
                if key != "fits"
            )
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return handler({**data, "fits": items})


_SCALAR_TYPES = frozenset((int, str, bool, type(None)))


def _template_key(fit: dict[str, Any], taken: tuple[str, ...]) -> Any:
    """What makes the validation of the fields of `fit` but `taken` (with stand-in points
    under the first two of them) what it is: those two names, every other key and value in
    order, each value with its type (``1``, ``1.0`` and ``true`` are different inputs) and
    floats by their bits (``-0.0`` is not ``0.0``); None when a value is not a JSON
    scalar."""
    key: list[Any] = [taken[0], taken[1]]
    for name, value in fit.items():
        if name in taken:
            continue
        kind = type(value)
        if kind is float:
            key.append((name, value.hex()))
        elif kind in _SCALAR_TYPES:
            key.append((name, kind, value))
        else:
            return None
    return tuple(key)


def _with_points(
    fit: dict[str, Any],
    points: ItemPoints,
    templates: dict[Any, FitRequest | None],
    context: Any,
) -> FitRequest | None:
    """The request of the raw batch item `fit`, whose points are known to be valid: its other
    fields validated with stand-in points (once per distinct set of them: `templates`), then
    given `points`; None when those fields have errors (the item is then validated as sent,
    which reports them)."""
    taken = (points.x_key, points.y_key, "weights" if points.weights is not None else "")
    key = _template_key(fit, taken)
    template: FitRequest | None
    if key is not None and key in templates:
        template = templates[key]
    else:
        stand_in = {name: value for name, value in fit.items() if name not in taken}
        stand_in[points.x_key] = list(STAND_IN)
        stand_in[points.y_key] = list(STAND_IN)
        try:
            validated = FitRequest.model_validate(stand_in, context=context)
        except ValidationError:
            template = None
        else:
            # Its lists dropped once, so that each item's copy needs no changes.
            template = validated.with_arrays(points.x, points.y)
        if key is not None:
            templates[key] = template
    if template is None:
        return None
    return template.with_arrays(points.x, points.y, points.weights)


class FitErrorBody(BaseModel):
    """Why one fit of a batch has no result."""

    type: str = Field(description="What went wrong.", examples=["diverged"])
    msg: str = Field(
        description="A message a person understands.",
        examples=["the descent diverged at epoch 12: ..."],
    )
    ctx: dict[str, Any] = Field(
        description="Details, e.g. `epoch` and `max_stable_learning_rate`.",
        examples=[{"epoch": 12, "max_stable_learning_rate": 0.9}],
    )


class BatchItemError(BaseModel):
    """A batch item that diverged, in place of its result."""

    error: FitErrorBody = Field(
        description="Why this fit has no result.",
        examples=[
            {
                "type": "diverged",
                "msg": "the descent diverged at epoch 12: ...",
                "ctx": {"epoch": 12, "max_stable_learning_rate": 0.9},
            }
        ],
    )


class BatchFitResponse(BaseModel):
    """One entry per requested fit, in order."""

    results: list[SerializeAsAny[FitResponse | BatchItemError]] = Field(
        description='Each fit\'s response, or `{"error": ...}` for a fit that diverged.',
        examples=[
            [
                {"m": 2.0, "b": 1.0, "cost": 0.0, "epochs_run": 10000, "...": "..."},
                {"error": {"type": "diverged", "msg": "...", "ctx": {"epoch": 12}}},
            ]
        ],
    )
