"""The contract's yardstick (docs/algorithm.md) as a property, over the whole range it names.

For data float64 can carry (offsets of calendar years and of Unix timestamps in seconds,
milliseconds and nanoseconds, on x and on y; magnitudes from about 1e-300 to 1e300, reached
by exact powers of two; 2 to 50 points), every update rule and optimizer (momentum up to
0.9999), learning rates up to 0.999999 of the rule's stable bound, l2, standardize,
tolerance and histories (up to 300 entries), 1 to 40 epochs and, one example in eight, up to
GDS_YARDSTICK_EPOCHS (2000), and each way in (`fit` on either of the core's paths,
`fit_batch`, the `moments` form), each recorded m_k and b_k must be within the contract's
bound of the exact descent (`tests.core.exact`): 1e-9 relative plus 1e-12 of the
coordinate's largest magnitude so far, or 16 times the plain float64 loop's own error
there, whichever is looser. A refusal passes only where the exact descent itself leaves
float64 (a 422 the contract allows).

Derandomized (the conftest's profile), GDS_YARDSTICK_EXAMPLES examples per way in (1000 by
default: about 35 s in all; GDS_YARDSTICK_FULL_RANGE=0 keeps magnitudes within
2^-380..2^380). A long random search (3000 examples per way in passed with up to 2000
epochs, about 2 minutes; see docs/algorithm.md for what longer runs still find):

    HYPOTHESIS_PROFILE=explore GDS_YARDSTICK_EXAMPLES=3000 GDS_YARDSTICK_EPOCHS=2000 \\
        .venv/bin/pytest -p no:cacheprovider tests/core/test_yardstick.py
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from service.core import (
    DataError,
    DivergedError,
    FitError,
    FitOptions,
    FitResult,
    Moments,
    compute_moments,
    fit,
    fit_batch,
    fit_moments,
)
from tests.core import exact
from tests.core.paths import using

OFFSETS = [0.0, 2024.0, 1.7e9, 1.7e12, 1.7e18]
"""No offset, calendar years, Unix time in seconds, milliseconds, nanoseconds."""
RULES = [
    ("simultaneous", "gd"),
    ("sequential", "gd"),
    ("simultaneous", "momentum"),
    ("simultaneous", "nesterov"),
]
WAYS = ["fit-small", "fit-vectorized", "batch", "moments"]
MOMENTA = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]
RATE_FRACTIONS = [0.01, 0.3, 0.9, 0.999, 0.99999, 0.999999]
"""Learning rates as fractions of the rule's stable bound, up to 1e-6 below it."""
FULL_RANGE = os.environ.get("GDS_YARDSTICK_FULL_RANGE", "1") != "0"
"""Magnitudes down to 1e-300 and up to 1e300 (the default; GDS_YARDSTICK_FULL_RANGE=0 keeps
them within 2^-380..2^380)."""

LONG_EPOCHS = int(os.environ.get("GDS_YARDSTICK_EPOCHS", "2000"))
"""One example in eight runs from 41 to this many epochs (momentum 0.9999 needs about 1e4
to settle), the others 1 to 40."""

YARDSTICK = settings(
    max_examples=int(os.environ.get("GDS_YARDSTICK_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    standardize = draw(st.booleans())
    # Magnitudes by exact powers of two; without standardize the curvature 2 (vx + mean_x^2)
    # must stay a float64 (else no learning rate is stable and that is a 422 of its own).
    # FULL_RANGE reaches data the moments scale by powers of two (x near 1e-165 with y near
    # 1e144, whose slope's scale 2^(ey - ex) alone overflows).
    low, high = (-990, 990) if FULL_RANGE else (-380, 380)
    x_power = draw(st.integers(low, high if standardize else min(high, 480)))
    y_power = draw(st.integers(low, min(high, 480)))
    offset = draw(st.sampled_from(OFFSETS)) * draw(st.sampled_from([1.0, -1.0]))
    # The spread: at least a thousand ulps of the offset, so the x are distinct.
    spread = max(1.0, 1e3 * math.ulp(offset)) * 10.0 ** draw(st.integers(0, 4))
    x = offset + spread * rng.uniform(-1, 1, n)
    assume(np.unique(x).size >= 2)
    slope = draw(st.floats(-3, 3))
    noise = 10.0 ** draw(st.integers(-12, 0))
    y_offset = draw(st.sampled_from([0.0, 1.0, 1e6, 1.7e9, 1.7e18]))
    y = y_offset + slope * (x - x.mean()) / spread + noise * rng.normal(size=n)
    with np.errstate(over="ignore"):  # beyond float64: discarded just below
        x, y = np.ldexp(x, x_power), np.ldexp(y, y_power)
    assume(bool(np.all(np.isfinite(x)) and np.all(np.isfinite(y))))
    assume(standardize or float(np.max(np.abs(x))) < 1e150)
    update, optimizer = draw(st.sampled_from(RULES))
    return {
        "x": x,
        "y": y,
        "update": update,
        "optimizer": optimizer,
        "momentum": draw(st.sampled_from(MOMENTA)),
        "l2_fraction": draw(st.sampled_from([0.0, 0.0, 1e-6, 0.1])),
        "standardize": standardize,
        "rate_fraction": draw(st.sampled_from(RATE_FRACTIONS)),
        "epochs": draw(
            st.integers(41, LONG_EPOCHS) if draw(st.integers(0, 7)) == 0 else st.integers(1, 40)
        ),
        "start": draw(st.sampled_from(["origin", "near", "far"])),
        "tolerance": draw(st.sampled_from([None, 0.0])),
        "history": draw(st.sampled_from([0, 2, 5, 41, 300])),
        "spacing": draw(st.sampled_from(["linear", "log"])),
    }


def options_for(request: dict[str, Any], moments: Moments) -> FitOptions:
    assume(moments.syy > 0 or not request["standardize"])  # constant y: a 422 of its own
    vx = 1.0 if request["standardize"] else moments.vx
    # The probe starts on the least-squares line: its cost is finite wherever the data's is.
    slope = moments.slope
    on_line = (slope, moments.mean_y - slope * moments.mean_x)
    probe = FitOptions(
        initial_m=on_line[0] if all(map(math.isfinite, on_line)) else 0.0,
        initial_b=on_line[1] if all(map(math.isfinite, on_line)) else 0.0,
        update=request["update"],
        optimizer=request["optimizer"],
        momentum=request["momentum"],
        l2=request["l2_fraction"] * vx,
        standardize=request["standardize"],
        epochs=1,
        learning_rate=1e-300,  # a probe for the bound only: it must not diverge itself
    )
    try:
        bound = fit_moments(moments, probe).max_stable_learning_rate
    except FitError as error:  # only for the cause the contract allows: the optimum overflows
        assert "overflows float64" in error.message, error.message
        assume(False)
        raise
    rate = request["rate_fraction"] * bound
    assume(math.isfinite(rate) and rate > 0)
    if request["start"] == "origin":
        start = (0.0, 0.0)
    else:
        factor = 1.5 if request["start"] == "near" else 1e3
        start = (factor * slope, moments.mean_y - factor * slope * moments.mean_x)
    assume(all(math.isfinite(v) for v in start))
    return FitOptions(
        learning_rate=rate,
        epochs=request["epochs"],
        initial_m=start[0],
        initial_b=start[1],
        update=probe.update,
        optimizer=probe.optimizer,
        momentum=probe.momentum,
        l2=probe.l2,
        standardize=probe.standardize,
        tolerance=request["tolerance"],
        history_points=request["history"],
        history_spacing=request["spacing"],
    )


def run(way: str, x: Any, y: Any, moments: Moments, options: FitOptions) -> FitResult:
    if way == "fit-small":
        with using("small"):
            return fit(x, y, options)
    if way == "fit-vectorized":
        with using("vectorized"):
            return fit(x, y, options)
    if way == "batch":
        (outcome,) = fit_batch([(moments, options)])
        if isinstance(outcome, FitError):
            raise outcome
        return outcome
    return fit_moments(moments, options)


@pytest.mark.parametrize("way", WAYS)
@YARDSTICK
@given(request=requests())
def test_every_recorded_epoch_is_within_the_yardstick(way: str, request: dict[str, Any]) -> None:
    x, y = request["x"], request["y"]
    try:
        moments = compute_moments(x, y)
    except DataError as error:  # only for the cause the contract allows: an unrepresentable answer
        assert "overflow" in error.message
        assume(False)
        raise
    if way == "moments":  # the sums as a caller would send them, where float64 holds them
        try:
            moments = Moments.from_sums(
                moments.n,
                moments.mean_x,
                moments.mean_y,
                math.ldexp(moments.sxx, 2 * moments.x_exponent),
                math.ldexp(moments.sxy, moments.x_exponent + moments.y_exponent),
                math.ldexp(moments.syy, 2 * moments.y_exponent),
            )
        except (DataError, OverflowError):
            assume(False)
    note(f"x={x.tolist()!r}\ny={y.tolist()!r}")
    options = options_for(request, moments)
    note(repr(options))
    truth = exact.moments_as_sent(moments) if way == "moments" else exact.exact_moments(x, y)
    try:
        result = run(way, x, y, moments, options)
    except FitError as error:  # only where the exact descent itself leaves float64
        epoch = error.epoch if isinstance(error, DivergedError) else 0
        assert isinstance(error, DivergedError) or "overflows float64" in error.message, error
        assert exact.overflows(truth, exact.descend(truth, options, epoch), epoch), error
        assume(False)
        raise
    if options.tolerance is None:
        assert result.epochs_run == options.epochs
    path = exact.descend(truth, options, result.epochs_run)
    loop = None if way == "moments" else exact.float_loop(x, y, options, result.epochs_run)
    epochs = [result.epochs_run]
    got_m, got_b = [result.m], [result.b]
    if result.history is not None:
        epochs += result.history.epoch.tolist()
        got_m += result.history.m.tolist()
        got_b += result.history.b.tolist()
    worst_m = exact.worst_excess(np.array(got_m), path.m, loop.m if loop else None, epochs)
    worst_b = exact.worst_excess(np.array(got_b), path.b, loop.b if loop else None, epochs)
    assert worst_m <= 1, ("m", worst_m)
    assert worst_b <= 1, ("b", worst_b)
