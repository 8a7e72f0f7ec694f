"""The operations between a route and the core: fit one body, fit a batch, draw a fit.

Each operation takes a validated wire model (`service.schemas`), converts it into the core's
inputs (float64 arrays, `core.FitOptions`), times the core for the request's
``Server-Timing`` header (`core_timer`: the time in the core, from those inputs to its
result), calls the core, counts the fits in the metrics, and answers wire models or raises
the errors `service.errors` maps to HTTP. Nothing here parses bodies (`service.bodies`) or
knows routes (`service.routes`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from starlette.requests import Request

from service import core, metrics, plotting
from service.errors import batch_item_error, error_detail, validation_error
from service.middleware import add_core_seconds
from service.schemas import BatchFitRequest, BatchItemError, FitRequest, FitResponse

FloatArray = NDArray[np.float64]

__all__ = [
    "BatchPoints",
    "batch_moments",
    "batch_points",
    "core_inputs",
    "core_timer",
    "fit_batch",
    "fit_body",
    "fit_inputs",
    "fit_one",
    "plot_fit",
    "with_statistics",
]


class core_timer:  # (named as the function it replaces: ``with core_timer(request):``)
    """Add the time spent inside the ``with`` block to the request's ``Server-Timing``.

    A class with slots rather than a generator context manager: the time between the two
    clock reads is the block's own, with only a method call around it (a generator's
    resumption would be counted in the header too)."""

    __slots__ = ("scope", "start")

    def __init__(self, request: Request) -> None:
        self.scope = request.scope
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        add_core_seconds(self.scope, time.perf_counter() - self.start)


def fit_one(
    body: FitRequest, request: Request, options: core.FitOptions | None = None
) -> tuple[core.Moments, core.FitResult]:
    """Fit a validated body (the limits in force were checked with it), timed and counted.

    `options` replaces the body's own hyperparameters (the plot asks for its own history).
    The result carries its `statistics`. Raises the core's `FitError` subclasses.
    ``Server-Timing`` gets the time in the core (`fit_inputs`), from the body's core inputs
    (`core_inputs`) to the result.
    """
    options, points = core_inputs(body, options)
    with core_timer(request):
        moments, result = fit_inputs(body, options, points)
    metrics.record_fits([(body.optimizer, body.update, result.n)])
    return moments, result


def fit_body(
    body: FitRequest, options: core.FitOptions | None = None
) -> tuple[core.Moments, core.FitResult]:
    """The fit of a body, untimed: its core inputs (`core_inputs`, with `options` in place of
    its own), then the core (`fit_inputs`)."""
    return fit_inputs(body, *core_inputs(body, options))


def core_inputs(
    body: FitRequest, options: core.FitOptions | None = None
) -> tuple[core.FitOptions, core.Points | None]:
    """What the core takes of a body: its options (`options` in place of its own) and, for
    raw data, its points as float64 arrays (x, y, weights or None), converted from the
    request's lists once; None for a body that sends moments."""
    points = None if body.moments is not None else (*body.data_arrays(), body.weight_array())
    return options or body.to_options(), points


def fit_inputs(
    body: FitRequest, options: core.FitOptions, points: core.Points | None
) -> tuple[core.Moments, core.FitResult]:
    """What ``Server-Timing: fit`` measures, the time in the core: the moments (of `points`,
    or the body's own), the descent with `options` and the statistics at the body's
    confidence level."""
    if points is not None:
        return core.fit_points(*points, options, body.confidence_level)
    moments = body.to_moments()
    result = core.fit_moments(moments, options)
    return moments, with_statistics([body], [moments], [result])[0]


def with_statistics(
    bodies: Sequence[FitRequest],
    moments: Sequence[core.Moments],
    results: Sequence[core.FitResult],
    points: Sequence[core.Points | None] | None = None,
) -> list[core.FitResult]:
    """The `results` with their statistics (`core.with_statistics`): O(1) each from the
    `moments`, plus one pass over the points of each raw-data body for ``mae`` (`points`:
    each body's (x, y, weights) when the caller has them as arrays already)."""
    if points is None:
        points = [
            None if body.moments is not None else (*body.data_arrays(), body.weight_array())
            for body in bodies
        ]
    levels = [body.confidence_level for body in bodies]
    return core.with_statistics(results, moments, levels, points)


def fit_batch(body: BatchFitRequest, request: Request) -> list[FitResponse | BatchItemError]:
    """Every fit of a batch, vectorized: one reduction for all moments, one core call for all
    descents. A diverged fit answers an error in its place; any other core error of an item
    fails the whole batch (a `RequestValidationError` at ``["body", "fits", i, field]``)."""
    errors: list[dict[str, Any]] = []
    points = batch_points(body.fits)  # (the core's inputs: Server-Timing times the core)
    options = [fit.to_options() for fit in body.fits]
    with core_timer(request):
        moments = batch_moments(body.fits, points)
        for i, item in enumerate(moments):
            if isinstance(item, core.FitError):
                errors.append(error_detail(item, ("body", "fits", i)))
        if errors:
            raise validation_error(errors)
        items = [
            (item, fit_options)
            for item, fit_options in zip(moments, options, strict=True)
            if isinstance(item, core.Moments)
        ]
        outcomes = core.fit_batch(items)
        fitted = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, core.FitResult)]
        completed = with_statistics(
            [body.fits[i] for i, _ in fitted],
            [items[i][0] for i, _ in fitted],
            [result for _, result in fitted],
            [points.per_fit[i] for i, _ in fitted],
        )
        for (i, _), result in zip(fitted, completed, strict=True):
            outcomes[i] = result
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
    return results


def plot_fit(body: FitRequest, request: Request, accept: str | None) -> tuple[bytes, str]:
    """Fit like `fit_one` with the history the figure needs, and draw it in the format
    `accept` prefers; returns the image and its media type.

    Raises `plotting.PlottingUnavailableError` without matplotlib, and the core's errors.
    """
    plotting.ensure_available()
    image_format = plotting.choose_format(accept)
    moments, result = fit_one(body, request, plotting.plot_options(body.to_options()))
    x, y = (None, None) if body.moments is not None else body.data_arrays()
    image = plotting.render_fit(
        result, moments, x, y, weights=body.weight_array(), image_format=image_format
    )
    return image, plotting.MEDIA_TYPES[image_format]


def batch_moments(
    fits: Sequence[FitRequest], points: BatchPoints
) -> list[core.Moments | core.FitError]:
    """The core's moments of every fit of a batch, each in place, or the error of its data.

    The raw-data fits, laid end to end in `points` (`batch_points` of `fits`), are reduced
    together (`core.segment_moments`), the moments fits are checked one by one
    (`core.Moments.from_sums`).
    """
    out: list[core.Moments | core.FitError] = []
    if points.lengths.size:
        weights = [item[2] for item in points.per_fit if item is not None]
        stacked = iter(
            core.segment_moments(
                points.x,
                points.y,
                points.lengths,
                weights if any(w is not None for w in weights) else None,
            )
        )
    for fit, item in zip(fits, points.per_fit, strict=True):
        if item is not None:
            out.append(next(stacked))
            continue
        assert fit.moments is not None  # guaranteed by validation
        try:
            out.append(fit.moments.to_core())
        except core.FitError as error:
            out.append(error)
    return out


@dataclass(frozen=True)
class BatchPoints:
    """The points of a batch's raw-data fits, laid end to end, and each fit's share."""

    x: FloatArray
    y: FloatArray
    lengths: NDArray[np.int64]
    per_fit: list[core.Points | None]
    """Each fit's (x, y, weights), views of `x` and `y`; None for a fit that sends moments."""


def batch_points(fits: Sequence[FitRequest]) -> BatchPoints:
    """The `BatchPoints` of `fits`: their lists converted in one pass where every raw-data fit
    has lists (else their arrays joined)."""
    raw = [fit for fit in fits if fit.moments is None]
    lengths = [fit.points for fit in raw]
    total = sum(lengths)
    if all(fit.x is not None and fit.y is not None for fit in raw):
        chain = itertools.chain.from_iterable
        x = np.fromiter(chain(fit.x or () for fit in raw), np.float64, total)
        y = np.fromiter(chain(fit.y or () for fit in raw), np.float64, total)
    else:
        pairs = [fit.data_arrays() for fit in raw]
        x = np.concatenate([pair[0] for pair in pairs]) if pairs else np.empty(0)
        y = np.concatenate([pair[1] for pair in pairs]) if pairs else np.empty(0)
    bounds = itertools.accumulate(lengths, initial=0)
    start = next(bounds)
    views: list[core.Points] = []
    for fit, stop in zip(raw, bounds, strict=True):
        views.append((x[start:stop], y[start:stop], fit.weight_array()))
        start = stop
    shares = iter(views)
    return BatchPoints(
        x,
        y,
        np.array(lengths, dtype=np.int64),
        [None if fit.moments is not None else next(shares) for fit in fits],
    )
