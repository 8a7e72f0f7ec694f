"""The descent core against a per-epoch reference, known answers and the article's code."""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from service.core import (
    DataError,
    DivergedError,
    FitOptions,
    ParameterError,
    compute_moments,
    fit,
    fit_batch,
    fit_moments,
    kernels,
    scalar,
    segment_moments,
)
from service.core import trajectory as trajectory_module
from service.core.history import history_epochs
from tests.core import article, exact, reference
from tests.core.paths import PATHS, using

Array = NDArray[np.float64]


def article_data(seed: int = 0) -> tuple[Array, Array]:
    """The article's noisy data set: linspace(-1, 1, 100) plus N(0, 0.25) noise on both axes."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, 100) + rng.normal(0, 0.25, 100)
    y = np.linspace(-1, 1, 100) + rng.normal(0, 0.25, 100)
    return x, y


def assert_path_close(
    actual: Array, expected: Array, rtol: float = 1e-9, scale: float | None = None
) -> None:
    """Relative 1e-9 per epoch; near a zero crossing, relative to the path's own scale.

    Float64 carries rounding of order eps times the size of the terms it adds up, so where
    an iterate crosses zero (or, for b, where b is small beside m * mean_x, its other
    term) only an error relative to that size is meaningful.
    """
    if scale is None:
        scale = float(np.max(np.abs(expected)))
    limit = rtol * np.maximum(np.abs(expected), 1e-3 * scale) + 1e-12
    worst = np.max(np.abs(actual - expected) - limit)
    assert worst <= 0, f"max excess error {worst:g} over {np.max(np.abs(actual - expected)):g}"


# --- known answers -------------------------------------------------------------------------


def test_fit_points_on_a_line_converges_to_it() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    result = fit(x, 2 * x + 1, FitOptions(learning_rate=0.1, epochs=2000))
    assert result.m == pytest.approx(2.0, abs=1e-12)
    assert result.b == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= result.cost < 1e-24
    assert result.optimum.cost == 0.0
    assert result.stop_reason == "epochs" and result.epochs_run == 2000
    assert result.warnings == ()


def test_fit_two_points_optimum_is_the_line_through_them() -> None:
    result = fit([1.0, 3.0], [2.0, 6.0], FitOptions(epochs=1))
    assert (result.optimum.m, result.optimum.b, result.optimum.cost) == pytest.approx(
        (2.0, 0.0, 0.0)
    )


def test_optimum_matches_numpy_closed_form() -> None:
    x, y = article_data(3)
    slope, intercept = np.polyfit(x, y, 1)
    result = fit(x, y, FitOptions(epochs=1))
    assert result.optimum.m == pytest.approx(slope, rel=1e-12)
    assert result.optimum.b == pytest.approx(intercept, rel=1e-12)
    assert result.optimum.cost == pytest.approx(
        np.mean((y - slope * x - intercept) ** 2), rel=1e-12
    )


def test_ridge_optimum_is_the_closed_form_ridge_solution() -> None:
    x, y = article_data(4)
    l2 = 0.3
    result = fit(x, y, FitOptions(epochs=1, l2=l2))
    dx, dy = x - x.mean(), y - y.mean()
    slope = (dx @ dy) / (dx @ dx + len(x) * l2)
    assert result.optimum.m == pytest.approx(slope, rel=1e-12)
    assert result.optimum.b == pytest.approx(y.mean() - slope * x.mean(), rel=1e-12)


def test_article_code_on_its_100_point_example() -> None:
    x, y = article_data()
    path = article.gradient_descent(x.tolist(), y.tolist(), epochs=10_000, lr=0.001)
    result = fit(
        x,
        y,
        FitOptions(learning_rate=0.001, epochs=10_000, update="sequential", history_points=10_001),
    )
    assert result.history is not None
    assert_path_close(result.history.m, np.array([m for m, _ in path]))
    assert_path_close(result.history.b, np.array([b for _, b in path]))
    assert result.m == pytest.approx(path[-1][0], rel=1e-9)
    assert result.b == pytest.approx(path[-1][1], rel=1e-9)


# --- exactness against the per-epoch reference, driven by hypothesis ---------------------

RULES = [
    ("simultaneous", "gd"),
    ("sequential", "gd"),
    ("simultaneous", "momentum"),
    ("simultaneous", "nesterov"),
]


@st.composite
def problems(draw: st.DrawFn, max_offset: float = 1e4) -> dict[str, Any]:
    n = draw(st.integers(2, 500))
    seed = draw(st.integers(0, 2**32 - 1))
    x_scale = 10.0 ** draw(st.floats(-3, 6))
    y_scale = 10.0 ** draw(st.floats(-3, 6))
    x_offset = draw(st.floats(-max_offset, max_offset))
    y_offset = draw(st.floats(-max_offset, max_offset))
    noise = 10.0 ** draw(st.floats(-3, 0))
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    assume(np.ptp(u) > 1e-3)
    x = x_offset + x_scale * u
    shape = draw(st.floats(-2, 2)) * u + noise * rng.normal(size=n)
    assume(np.std(shape) > 0)
    y = y_offset + y_scale * shape / np.std(shape)  # y's spread is y_scale, as x's is x_scale
    assume(np.ptp(x) > 0 and np.ptp(y) > 0)
    update, optimizer = draw(st.sampled_from(RULES))
    return {
        "x": x,
        "y": y,
        "update": update,
        "optimizer": optimizer,
        "momentum": draw(st.floats(0.0, 0.95)),
        "l2_fraction": draw(st.sampled_from([0.0, 0.0, 0.1, 1.0])),
        "standardize": draw(st.booleans()),
        "rate_fraction": draw(st.floats(0.05, 0.9)),
        "epochs": draw(st.integers(1, 150)),
        "start": draw(st.sampled_from(["origin", "near"])),
        "start_offsets": (draw(st.floats(-3, 3)), draw(st.floats(-3, 3))),
    }


def options_for(problem: dict[str, Any], **extra: Any) -> FitOptions:
    """Hyperparameters inside the stable range, scaled to the problem."""
    x, y = problem["x"], problem["y"]
    moments = compute_moments(x, y)
    vx = 1.0 if problem["standardize"] else moments.sxx / moments.n
    slope = moments.sxy / moments.sxx
    probe = FitOptions(
        update=problem["update"],
        optimizer=problem["optimizer"],
        momentum=problem["momentum"],
        l2=problem["l2_fraction"] * vx,
        standardize=problem["standardize"],
        epochs=1,
    )
    bound = fit_moments(moments, probe).max_stable_learning_rate
    # The reference rounds by eps * offset / spread per point and the gradient multiplies
    # that by the start's distance from the data's centre: start near the centre line, or
    # at the origin only where offsets do not dwarf spreads.
    dm, dc = problem["start_offsets"]
    initial_m = (1 + dm) * slope
    initial_b = (
        moments.mean_y + dc * math.sqrt(moments.syy / moments.n) - initial_m * moments.mean_x
    )
    if problem["start"] == "origin":
        spread_x, spread_y = np.ptp(x), np.ptp(y)
        assume(abs(moments.mean_x) <= 10 * spread_x and abs(moments.mean_y) <= 10 * spread_y)
        initial_m = initial_b = 0.0
    return FitOptions(
        learning_rate=problem["rate_fraction"] * bound,
        epochs=problem["epochs"],
        initial_m=initial_m,
        initial_b=initial_b,
        update=probe.update,
        optimizer=probe.optimizer,
        momentum=probe.momentum,
        l2=probe.l2,
        standardize=probe.standardize,
        **extra,
    )


def b_scale(problem: dict[str, Any], path: reference.Path) -> float:
    """b = (height at mean x) - m * mean x: its rounding scales with both terms."""
    mean_x = float(np.mean(problem["x"]))
    return float(max(np.max(np.abs(path.b)), np.max(np.abs(path.m * mean_x))))


def reference_path(problem: dict[str, Any], options: FitOptions) -> reference.Path:
    return reference.descend_options(problem["x"], problem["y"], options)


EXACTNESS = settings(
    # GDS_EXACTNESS_EXAMPLES=3000 HYPOTHESIS_PROFILE=explore for a long randomized search.
    max_examples=int(os.environ.get("GDS_EXACTNESS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("path", PATHS)
@EXACTNESS
@given(problem=problems())
def test_every_epoch_matches_the_reference(path: str, problem: dict[str, Any]) -> None:
    options = options_for(problem, history_points=problem["epochs"] + 1)
    expected = reference_path(problem, options)
    with using(path):
        result = fit(problem["x"], problem["y"], options)
    assert result.history is not None
    np.testing.assert_array_equal(result.history.epoch, np.arange(options.epochs + 1))
    assert_path_close(result.history.m, expected.m)
    assert_path_close(result.history.b, expected.b, scale=b_scale(problem, expected))
    # A residual y - (m x + b) in float64 is exact only to eps times its terms' size, so the
    # MSE only to 2 sqrt(MSE) times that (plus that size squared, for a perfect fit).
    x_size, y_size = np.max(np.abs(problem["x"])), np.max(np.abs(problem["y"]))
    terms = y_size + np.abs(expected.b) + np.abs(expected.m) * x_size
    rounding = 1e-13 * terms * (np.sqrt(expected.cost) + 1e-3 * terms)
    assert np.all(np.abs(result.history.cost - expected.cost) <= 1e-9 * expected.cost + rounding)
    assert np.all(result.history.cost >= 0)
    assert (result.m, result.b) == (result.history.m[-1], result.history.b[-1])
    # Near convergence the gradient is a difference of terms of the start's size.
    floor = 1e-9 * expected.grad_norm.max() + 1e4 * expected.gradient_noise
    assert result.gradient_norm == pytest.approx(expected.grad_norm[-1], rel=1e-7, abs=floor)


@pytest.mark.parametrize("path", PATHS)
@EXACTNESS
@given(problem=problems(), spacing=st.sampled_from(["linear", "log"]), points=st.integers(2, 40))
def test_history_samples_the_reference_path(
    path: str, problem: dict[str, Any], spacing: str, points: int
) -> None:
    options = options_for(problem, history_points=points, history_spacing=spacing)
    expected = reference_path(problem, options)
    with using(path):
        result = fit(problem["x"], problem["y"], options)
    assert result.history is not None
    epochs = result.history.epoch
    np.testing.assert_array_equal(epochs, history_epochs(options.epochs, points, spacing))
    assert_path_close(result.history.m, expected.m[epochs])
    assert_path_close(result.history.b, expected.b[epochs], scale=b_scale(problem, expected))


@pytest.mark.parametrize("path", PATHS)
@EXACTNESS
@given(problem=problems(), level=st.floats(0.001, 0.9))
def test_tolerance_stops_where_the_reference_first_reaches_it(
    path: str, problem: dict[str, Any], level: float
) -> None:
    probe = options_for(problem)
    norms = reference_path(problem, probe).grad_norm
    tolerance = float(norms.min() + level * (norms.max() - norms.min()))
    # A norm within rounding of the threshold could fall either way in any float64 code;
    # so could norms near the rounding noise of any float64 gradient.
    assume(tolerance > 1e6 * reference_path(problem, probe).gradient_noise)
    assume(np.all(np.abs(norms - tolerance) > 1e-7 * tolerance))
    with using(path):
        result = fit(
            problem["x"], problem["y"], options_for(problem, tolerance=tolerance, history_points=2)
        )
    below = np.flatnonzero(norms <= tolerance)
    assert result.stop_reason == "tolerance"
    assert result.epochs_run == below[0]
    assert result.gradient_norm <= tolerance
    assert result.history is not None and result.history.epoch[-1] == result.epochs_run


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e9, 1e9), st.floats(1e-2, 1e2), st.integers(0, 2**32 - 1))
def test_large_offsets_through_standardize_reach_the_closed_form(
    offset: float, spread: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = offset + spread * rng.uniform(0, 1, 200)
    y = 3 * (x - offset) - 7 + rng.normal(0, 0.1, 200)
    # The closed form in exact arithmetic (NumPy's own loses ~1e-9 to the rounded mean here).
    xs, ys = [Fraction(v) for v in x], [Fraction(v) for v in y]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((a - mean_x) ** 2 for a in xs)
    sxy = sum((a - mean_x) * (b - mean_y) for a, b in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    min_cost = sum((b - mean_y - slope * (a - mean_x)) ** 2 for a, b in zip(xs, ys, strict=True))
    result = fit(x, y, FitOptions(standardize=True, learning_rate=0.5, epochs=200))
    assert result.m == pytest.approx(float(slope), rel=1e-9)
    assert result.b == pytest.approx(
        float(intercept), rel=1e-9, abs=1e-9 * abs(float(slope * mean_x))
    )
    assert result.cost == pytest.approx(float(min_cost / len(xs)), rel=1e-9)
    assert result.warnings == ()


def test_offset_data_fits_as_well_as_centred_data() -> None:
    x, y = article_data()
    near = fit(x, y, FitOptions(standardize=True, epochs=100, learning_rate=0.5))
    far = fit(x + 1e9, y, FitOptions(standardize=True, epochs=100, learning_rate=0.5))
    assert far.m == pytest.approx(near.m, rel=1e-6)
    assert far.cost == pytest.approx(near.cost, rel=1e-6)


# --- stability, divergence, warnings --------------------------------------------------------


@pytest.mark.parametrize(("update", "optimizer"), RULES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_max_stable_learning_rate_is_where_the_spectral_radius_reaches_one(
    update: str, optimizer: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(seed, 1.5, 50)
    y = 2 * x + rng.normal(size=50)
    base = FitOptions(update=update, optimizer=optimizer, momentum=0.6, l2=0.2 * seed, epochs=1)  # type: ignore[arg-type]
    bound = fit(x, y, base).max_stable_learning_rate
    below = FitOptions(**{**_fields(base), "learning_rate": bound * (1 - 1e-7)})
    above = FitOptions(**{**_fields(base), "learning_rate": bound * (1 + 1e-7)})
    assert reference.spectral_radius(reference.iteration_matrix(x, y, below)) < 1
    assert reference.spectral_radius(reference.iteration_matrix(x, y, above)) > 1
    assert reference.spectral_radius(reference.iteration_matrix(x, y, below)) == pytest.approx(
        1, abs=1e-6
    )


def test_sequential_bound_where_the_curvature_passes_1e154() -> None:
    """x around 1e100: (h11 - h22)^2 overflows float64, the bound itself does not."""
    rng = np.random.default_rng(4)
    x = 1e100 * rng.normal(1.0, 1.5, 30)
    y = rng.normal(size=30)
    base = FitOptions(update="sequential", epochs=1, learning_rate=1e-210)
    bound = fit(x, y, base).max_stable_learning_rate
    assert 0 < bound < 1e-190
    below = FitOptions(**{**_fields(base), "learning_rate": bound * (1 - 1e-7)})
    above = FitOptions(**{**_fields(base), "learning_rate": bound * (1 + 1e-7)})
    # The other eigenvalue is 1 - 1e-201, which float64 cannot tell from 1: the one that
    # crosses is the eigenvalue near -1.
    lowest_below = np.linalg.eigvals(reference.iteration_matrix(x, y, below)).real.min()
    lowest_above = np.linalg.eigvals(reference.iteration_matrix(x, y, above)).real.min()
    assert -1 < lowest_below < -1 + 1e-6
    assert -1 - 1e-6 < lowest_above < -1


def _fields(options: FitOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in FitOptions.__dataclass_fields__}


def test_simultaneous_bound_is_two_over_the_largest_hessian_eigenvalue() -> None:
    x, y = article_data()
    hessian = 2 * np.array([[np.mean(x * x), x.mean()], [x.mean(), 1.0]])
    result = fit(x, y, FitOptions(epochs=1))
    assert result.max_stable_learning_rate == pytest.approx(
        2 / np.linalg.eigvalsh(hessian)[-1], rel=1e-12
    )
    standardized = fit(x, y, FitOptions(epochs=1, standardize=True, l2=0.5))
    assert standardized.max_stable_learning_rate == pytest.approx(
        2 / 3, rel=1e-12
    )  # z-space H = 2 diag(1.5, 1)


@pytest.mark.parametrize(("update", "optimizer"), RULES)
def test_divergence_reports_the_first_non_finite_epoch(update: str, optimizer: str) -> None:
    x, y = article_data()
    probe = FitOptions(update=update, optimizer=optimizer, epochs=1)  # type: ignore[arg-type]
    bound = fit(x, y, probe).max_stable_learning_rate
    lr = 1.5 * bound
    with pytest.raises(DivergedError) as caught:
        fit(x, y, FitOptions(**{**_fields(probe), "learning_rate": lr, "epochs": 100_000}))
    error = caught.value
    with np.errstate(over="ignore", invalid="ignore"):
        path = reference.descend(
            x, y, learning_rate=lr, epochs=error.epoch + 2, update=update, optimizer=optimizer
        )
        finite = np.isfinite(path.m) & np.isfinite(path.b) & np.isfinite(path.cost)
    first_bad = int(np.argmin(finite))
    assert abs(error.epoch - first_bad) <= 1
    assert error.max_stable_learning_rate == pytest.approx(bound)
    assert error.context == {
        "epoch": error.epoch,
        "max_stable_learning_rate": error.max_stable_learning_rate,
    }
    assert str(error.epoch) in error.message and error.field == "learning_rate"


def test_unstable_rate_that_does_not_overflow_warns() -> None:
    x, y = article_data()
    bound = fit(x, y, FitOptions(epochs=1)).max_stable_learning_rate
    result = fit(x, y, FitOptions(learning_rate=1.01 * bound, epochs=50))
    assert math.isfinite(result.cost)
    assert any("above the largest stable learning rate" in w for w in result.warnings)


def test_short_run_warns_it_stopped_far_from_the_optimum() -> None:
    x, y = article_data()
    result = fit(x, y, FitOptions(learning_rate=1e-4, epochs=10))
    assert any("far from the optimum" in w for w in result.warnings)


def test_unreached_tolerance_is_reported() -> None:
    x, y = article_data()
    result = fit(x, y, FitOptions(epochs=5, tolerance=1e-12))
    assert result.stop_reason == "epochs"
    assert any("did not reach the tolerance" in w for w in result.warnings)


def test_tolerance_met_at_the_start_stops_at_epoch_zero() -> None:
    x = np.array([0.0, 1.0, 2.0])
    result = fit(x, 2 * x, FitOptions(initial_m=2.0, tolerance=0.0, history_points=5))
    assert (result.epochs_run, result.stop_reason, result.m, result.b) == (0, "tolerance", 2.0, 0.0)
    assert result.history is not None and result.history.epoch.tolist() == [0]


# --- bad data and parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "field", "words"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "y", "same length (got 3 and 2)"),
        ([1.0], [1.0], "x", "at least 2 points"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "x", "two distinct values"),
        ([1e200, -1e200, 3e200], [1.0, 2.0, 3.0], "x", "overflow"),
        ([1.0, 2.0, 3.0], [1e200, -1e200, 0.0], "y", "overflow"),
        ([1.0, float("nan")], [1.0, 2.0], "x", "finite"),
        ([1.0, 2.0], [1.0, float("inf")], "y", "finite"),
    ],
)
def test_unfittable_data_is_a_clear_domain_error(
    x: list[float], y: list[float], field: str, words: str
) -> None:
    with pytest.raises(DataError, match=re.escape(words)) as caught:
        fit(x, y)
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("start", "field"), [((1e308, 0.0), "initial_m"), ((0.0, 1e308), "initial_b")]
)
def test_a_start_whose_cost_overflows_blames_the_start(
    start: tuple[float, float], field: str
) -> None:
    with pytest.raises(ParameterError, match="cost at the starting point") as caught:
        fit([0.0, 1.0, 2.0], [1.0, 2.0, 4.0], FitOptions(initial_m=start[0], initial_b=start[1]))
    assert caught.value.field == field


def test_extreme_but_finite_costs_stay_finite() -> None:
    # vx ~ 1e-300 and a slope gap ~ 1e300: the gap squared alone would overflow.
    x, y = np.array([1e-150, 2e-150, 3e-150]), np.array([1e150, -1e150, 2e150])
    result = fit(x, y, FitOptions(learning_rate=1e-300, epochs=3))
    assert math.isfinite(result.cost) and result.cost == pytest.approx(np.mean(y**2), rel=1e-12)


def test_curvature_that_overflows_is_a_data_error_unless_standardized() -> None:
    # sxx is finite, but 2 (vx + mean_x^2) is not.
    x, y = np.array([5e153, 1e154, 1.5e154]), np.array([1.0, 2.0, 4.0])
    with pytest.raises(DataError, match="curvature") as caught:
        fit(x, y)
    assert caught.value.field == "x"
    standardized = fit(x, y, FitOptions(standardize=True, learning_rate=0.5, epochs=200))
    assert standardized.m == pytest.approx(3e-154, rel=1e-9)


def test_huge_consistent_moments_are_accepted_without_overflow() -> None:
    from service.core import Moments

    moments = Moments.from_sums(3, 0.0, 0.0, 1e308, 1e308, 1e308)
    assert moments.min_cost == 0.0
    with pytest.raises(DataError, match="Cauchy-Schwarz"):
        Moments.from_sums(3, 0.0, 0.0, 1e300, 1e305, 1e300)


def test_constant_y_with_standardize_is_a_domain_error() -> None:
    with pytest.raises(DataError, match="y is constant") as caught:
        fit([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], FitOptions(standardize=True))
    assert caught.value.field == "y"
    assert fit([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], FitOptions(learning_rate=0.1)).b == pytest.approx(
        5.0
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"momentum": 1.0}, "momentum"),
        ({"l2": -1.0}, "l2"),
        ({"tolerance": -1.0}, "tolerance"),
        ({"history_points": 1}, "history_points"),
        ({"initial_m": float("nan")}, "initial_m"),
        ({"update": "sequential", "optimizer": "momentum"}, "update"),
    ],
)
def test_out_of_range_parameter_is_a_domain_error(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        fit([1.0, 2.0], [1.0, 2.0], FitOptions(**changes))
    assert caught.value.field == field


# --- history spacing ---------------------------------------------------------------------------


@given(st.integers(0, 10**7), st.integers(2, 10_000), st.sampled_from(["linear", "log"]))
def test_history_epochs_follow_the_contract(epochs_run: int, points: int, spacing: str) -> None:
    epochs = history_epochs(epochs_run, points, spacing)
    assert epochs[0] == 0 and epochs[-1] == epochs_run
    assert np.all(np.diff(epochs) > 0)
    if spacing == "linear":
        assert epochs.size == min(points, epochs_run + 1)
        if epochs.size > 2:
            gaps = np.diff(epochs)
            assert gaps.max() - gaps.min() <= 1
    else:
        assert epochs.size == min(points, epochs_run + 1)
        if epochs_run + 1 <= points:
            assert epochs.tolist() == list(range(epochs_run + 1))


def test_log_history_with_few_epochs_records_every_epoch() -> None:
    assert history_epochs(7, 8, "log").tolist() == list(range(8))
    assert history_epochs(7, 7, "log").tolist() == [0, 1, 2, 3, 4, 5, 7]
    wide = history_epochs(10**6, 12, "log")
    assert wide[:2].tolist() == [0, 1] and wide[-1] == 10**6
    ratios = wide[3:] / wide[2:-1]
    assert np.allclose(ratios, ratios[-1], rtol=0.05)  # geometric where rounding allows


# --- batch, moments input, cost of the work ---------------------------------------------------


def test_batch_equals_single_fits_and_keeps_errors_in_place() -> None:
    x, y = article_data()
    moments = compute_moments(x, y)
    items = [
        FitOptions(),
        FitOptions(optimizer="momentum", tolerance=1e-6, history_points=7, history_spacing="log"),
        FitOptions(learning_rate=5.0, epochs=1000),
        FitOptions(update="sequential", epochs=3_000_000),
        FitOptions(standardize=True, l2=0.1, epochs=17, history_points=18),
    ]
    results = fit_batch([(moments, options) for options in items])
    assert isinstance(results[2], DivergedError)
    for options, outcome in zip(items, results, strict=True):
        if isinstance(outcome, DivergedError):
            continue
        single = fit_moments(moments, options)
        assert not isinstance(outcome, Exception)
        assert outcome.m == pytest.approx(single.m, rel=1e-12)
        assert outcome.b == pytest.approx(single.b, rel=1e-12)
        assert outcome.cost == pytest.approx(single.cost, rel=1e-12)
        assert outcome.epochs_run == single.epochs_run
        if single.history is not None:
            assert outcome.history is not None
            np.testing.assert_allclose(outcome.history.m, single.history.m, rtol=1e-12)


def test_moments_input_gives_the_raw_data_answer() -> None:
    x, y = article_data()
    raw = compute_moments(x, y)
    from service.core import Moments

    given_moments = Moments.from_sums(raw.n, raw.mean_x, raw.mean_y, raw.sxx, raw.sxy, raw.syy)
    options = FitOptions(history_points=50, history_spacing="log", optimizer="nesterov")
    a, b = fit_moments(raw, options), fit_moments(given_moments, options)
    assert a.history is not None and b.history is not None
    np.testing.assert_allclose(b.history.cost, a.history.cost, rtol=1e-9)
    assert (b.m, b.b, b.cost) == pytest.approx((a.m, a.b, a.cost), rel=1e-9)


def test_work_grows_with_the_square_root_of_the_epochs(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    original = trajectory_module.matrix_powers

    def counting(a: Any, count: int) -> Any:
        sizes.append(count)
        return original(a, count)

    monkeypatch.setattr(trajectory_module, "matrix_powers", counting)
    x, y = article_data()
    with using("vectorized"):
        fit(x, y, FitOptions(epochs=10_000_000))
    assert max(sizes) <= 2 * math.isqrt(10_000_000) + 1  # about sqrt(1e7), not 1e7


def test_locating_a_divergence_does_not_walk_the_epochs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12's batch: 30 moments items, 10,000,000 epochs each, starting at m = 1e152. The
    # divergence search evaluated every block one by one (about 1.3 s an item); now only the
    # blocks whose bound reaches overflow are evaluated, a few per diverging item.
    walked: list[int] = []
    original = trajectory_module.Trajectory.first_nonfinite

    def counting(self: trajectory_module.Trajectory, epochs_run: Any) -> Any:
        result = original(self, epochs_run)
        walked.append(self.walked)
        return result

    monkeypatch.setattr(trajectory_module.Trajectory, "first_nonfinite", counting)
    x, y = article_data()
    moments = compute_moments(x, y)
    bound = fit_moments(moments, FitOptions(epochs=1)).max_stable_learning_rate
    rates = [1e-3, 0.5 * bound, 0.99 * bound, 1.5 * bound, 3.0 * bound]
    items = [
        (moments, FitOptions(epochs=10_000_000, initial_m=1e152, learning_rate=rate, optimizer=o))
        for rate in rates
        for o in ("gd", "momentum", "nesterov")
    ]
    items = (items * 2)[:30]
    outcomes = fit_batch(items)
    assert 0 < sum(walked) <= 30 * 2 * 3163  # at most a couple of blocks per item, not 10^7 epochs
    for (_, options), outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, DivergedError):
            assert options.learning_rate >= 0.99 * bound and outcome.epoch < 100
        else:
            assert not isinstance(outcome, Exception)
            assert math.isfinite(outcome.cost)


def test_batch_items_are_the_single_fits_bit_for_bit_on_both_paths() -> None:
    # The small-problem path takes an item by its own options and data alone, so a batch
    # item is the same fit as the body sent alone, whichever path serves it.
    x, y = article_data(5)
    moments = compute_moments(x + 1e6, y)  # offset: b from the displacement on both paths
    rate = 0.5 * fit_moments(moments, FitOptions(epochs=1)).max_stable_learning_rate
    items = [
        FitOptions(learning_rate=rate),  # small path
        FitOptions(learning_rate=rate, update="sequential", history_points=5),  # small
        FitOptions(learning_rate=rate, tolerance=1e-3, history_points=2),  # small: bisection
        FitOptions(learning_rate=rate, optimizer="momentum", momentum=0.5),  # vectorized
        FitOptions(learning_rate=rate, history_points=100),  # vectorized (long history)
        FitOptions(standardize=True, learning_rate=0.1, epochs=50),  # small
    ]
    outcomes = fit_batch([(moments, options) for options in items] * 2)
    for options, outcome in zip(items * 2, outcomes, strict=True):
        single = fit_moments(moments, options)
        assert not isinstance(outcome, Exception)
        assert (outcome.m, outcome.b, outcome.cost, outcome.gradient_norm) == (
            single.m,
            single.b,
            single.cost,
            single.gradient_norm,
        )
        assert (outcome.epochs_run, outcome.warnings, outcome.optimum) == (
            single.epochs_run,
            single.warnings,
            single.optimum,
        )
        if single.history is not None:
            assert outcome.history is not None
            assert outcome.history.m.tobytes() == single.history.m.tobytes()
            assert outcome.history.b.tobytes() == single.history.b.tobytes()


@pytest.mark.parametrize("n", [2, 3, 100, 255, 256, 257, 400])
@pytest.mark.parametrize("offset", [0.0, 1.7e9, -1.7e18])
def test_moments_alone_and_laid_end_to_end_are_the_same_bits(n: int, offset: float) -> None:
    """`compute_moments` (/fit) and `segment_moments` (/fit/batch) route every size the same
    way (small data sets take the few-call path, larger ones NumPy's full passes), so their
    moments are the same bits on either side of the size limit, and the exact means agree."""
    from service.core import moments as moments_module

    rng = np.random.default_rng(n)
    x = offset + np.maximum(1.0, 1e3 * math.ulp(offset)) * rng.uniform(-1, 1, n)
    y = 3.0 * x + rng.normal(0, 1e-3, n)
    other = rng.uniform(-1, 1, 7)
    alone = compute_moments(x, y)
    stacked = segment_moments(
        np.concatenate([other, x, other]),
        np.concatenate([other, y, other]),
        np.array([7, n, 7]),
    )
    assert stacked[1] == alone
    saved = moments_module.SMALL_POINTS
    moments_module.SMALL_POINTS = 0
    try:
        full = compute_moments(x, y)
    finally:
        moments_module.SMALL_POINTS = saved
    assert (full.mean_x, full.mean_y) == (alone.mean_x, alone.mean_y)
    assert (full.mean_x_lo, full.mean_y_lo) == (alone.mean_x_lo, alone.mean_y_lo)
    for name in ("sxx", "sxy", "syy"):
        assert getattr(full, name) == pytest.approx(getattr(alone, name), rel=1e-12)


@pytest.mark.parametrize("n", [2, 3, 7, 100, 255, 256, 257])
@pytest.mark.parametrize("value", [0.1, 0.7, -2.3, 1e-310, 3.3e300, 1.7e12 + 0.1])
def test_equal_values_have_their_value_as_mean_on_every_path(n: int, value: float) -> None:
    """fsum(values) / n of equal values can miss them by an ulp; the mean is kept within
    [min, max] (on the small path only where every deviation may have one sign), so
    constant y has mean y_0, no spread and an optimum slope and cost of exactly 0; nearly
    equal x (one ulp apart) have a mean between them."""
    x = np.arange(n, dtype=np.float64)
    moments = compute_moments(x, np.full(n, value))
    assert (moments.mean_y, moments.syy, moments.sxy, moments.min_cost) == (value, 0.0, 0.0, 0.0)
    near = np.full(n, value)
    near[-1] = np.nextafter(value, math.inf)
    spread = compute_moments(near, x)
    assert value <= spread.mean_x <= near[-1]
    assert spread.sxx > 0


def _exact_moments(x: Array, y: Array) -> tuple[Fraction, Fraction, Fraction, Fraction, Fraction]:
    xs, ys = [Fraction(v) for v in x.tolist()], [Fraction(v) for v in y.tolist()]
    n = len(xs)
    mx, my = sum(xs, Fraction(0)) / n, sum(ys, Fraction(0)) / n
    dx, dy = [v - mx for v in xs], [v - my for v in ys]
    sxx = sum((a * a for a in dx), Fraction(0))
    sxy = sum((a * b for a, b in zip(dx, dy, strict=True)), Fraction(0))
    return mx, my, sxx, sxy, sum((b * b for b in dy), Fraction(0))


LARGE_DATA_CASES = [
    "alternating x",
    "alternating y",
    "centred",
    "seconds",
    "nanoseconds",
    "strided far origin",
    "lo by min and max",
    "near-perfect on timestamps",
]


def _large_data(case: str, n: int = 6000) -> tuple[Array, Array]:
    rng = np.random.default_rng(len(case))
    if case.startswith("alternating"):  # each of 4 lanes sees terms of one sign
        signs = np.where(np.arange(4097) % 2 == 0, 1.0, -1.0)
        if case == "alternating x":
            x = 0.7071 * signs + 1e-10
            return x, 3.0 * x + rng.normal(size=x.size)
        return rng.normal(size=signs.size), 0.181 * signs + 1e-10
    if case == "strided far origin":  # every sampled value an outlier: a second pass
        x = rng.normal(size=n)
        x[:: n // 64] = 1e6
        return x, 2.0 * x + rng.normal(size=n)
    if case == "lo by min and max":  # sqrt(Q / n) <= |o| / 2 < sqrt(Q): min and max decide
        x = 1e3 + 100.0 * rng.uniform(-1, 1, n)
        return x, 5e3 + x + rng.normal(size=n)
    if case == "near-perfect on timestamps":  # min_cost from the residuals
        x = 1.7e9 + 1e3 * rng.normal(size=n)
        return x, 5.0 * (x - 1.7e9) + 7e6 + 1e-9 * rng.normal(size=n)
    offset = {"centred": 0.0, "seconds": 1.7e9, "nanoseconds": -1.7e18}[case]
    x = offset + max(1.0, 1e3 * math.ulp(offset)) * 1e3 * rng.uniform(-1, 1, n)
    return x, 1e6 + 2.0 * (x - x.mean()) + rng.normal(size=n)


@pytest.mark.parametrize("case", LARGE_DATA_CASES)
def test_large_data_moments_are_exact_to_float64(case: str) -> None:
    """Beyond the exactly summed sizes, one pass of deviations around an origin near the
    mean (a second one only where that origin is far) gives the centred sums to a few ulps,
    mean + lo to within eps of the spread, and min_cost around the residuals' own mean (the
    slope times the rounding of mean x, which on timestamps dwarfs near-perfect residuals:
    summed as they were, min_cost came out 2e4 times too large)."""
    x, y = _large_data(case)
    got = compute_moments(x, y)
    mx, my, sxx, sxy, syy = _exact_moments(x, y)
    for mean, lo, true_mean, values in (
        (got.mean_x, got.mean_x_lo, mx, x),
        (got.mean_y, got.mean_y_lo, my, y),
    ):
        spread = float(np.max(values) - np.min(values))
        assert abs(Fraction(mean) + Fraction(lo) - true_mean) <= 1e-15 * spread
        if lo:  # kept only where it is far more accurate than lo itself
            assert abs(Fraction(mean) + Fraction(lo) - true_mean) <= 0.1 * abs(lo)
    for value, true_sum in ((got.sxx, sxx), (got.sxy, sxy), (got.syy, syy)):
        assert abs(Fraction(value) - true_sum) <= 1e-14 * abs(true_sum)
    min_cost = (syy - sxy * sxy / sxx) / len(x)
    # (residuals of 1e-9 beside y ~ 7e6: each carries the rounding of slope * dx, eps 5e3)
    assert abs(Fraction(got.min_cost) - min_cost) <= 1e-4 * min_cost


@pytest.mark.parametrize("case", LARGE_DATA_CASES)
def test_large_data_moments_take_one_pass(case: str) -> None:
    """Unweighted data beyond the exactly summed sizes take `_large_segment`'s compiled
    passes (no deviation stored; the residuals' sums in a second pass for a near-perfect
    fit): what `compute_moments` answers, within the bounds of the test above."""
    from service.core import moments

    x, y = _large_data(case)
    got = moments._large_segment(x, y)
    assert got is not None
    assert got == compute_moments(x, y)
    mx, my, sxx, sxy, syy = _exact_moments(x, y)
    assert got.n == x.size and (got.x_exponent, got.y_exponent, got.w_exponent) == (0, 0, 0)
    for value, true_sum in ((got.sxx, sxx), (got.sxy, sxy), (got.syy, syy)):
        assert abs(Fraction(value) - true_sum) <= 1e-14 * abs(true_sum)
    for mean, lo, true_mean, values in (
        (got.mean_x, got.mean_x_lo, mx, x),
        (got.mean_y, got.mean_y_lo, my, y),
    ):
        spread = float(np.max(values) - np.min(values))
        assert abs(Fraction(mean) + Fraction(lo) - true_mean) <= 1e-15 * spread
    min_cost = (syy - sxy * sxy / sxx) / len(x)
    assert abs(Fraction(got.min_cost) - min_cost) <= 1e-4 * min_cost


def test_large_data_unusual_values_go_to_the_full_passes_and_their_errors() -> None:
    from service.core import moments

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=5_000), rng.normal(size=5_000)
    for bad_x, bad_y, message in (
        (np.where(np.arange(5_000) == 7, np.nan, x), y, "x must contain only finite"),
        (x, np.where(np.arange(5_000) == 9, np.inf, y), "y must contain only finite"),
        (np.full(5_000, 3.0), y, "x must have at least two distinct values"),
    ):
        assert moments._large_segment(bad_x, bad_y) is None
        with pytest.raises(DataError, match=message):
            compute_moments(bad_x, bad_y)
    # Constant y and spreads whose squares leave float64: the full passes' scaling.
    assert moments._large_segment(x, np.full(5_000, 2.0)) is None
    assert compute_moments(x, np.full(5_000, 2.0)).syy == 0.0
    tiny = moments._large_segment(x * 1e-300, y)
    assert tiny is None
    assert compute_moments(x * 1e-300, y).x_exponent != 0


class _WatchedMin(np.ndarray):  # type: ignore[type-arg]
    """An array that counts the calls of its min (the remainder's fallback pass)."""

    calls = 0

    def min(self, *args: Any, **kwargs: Any) -> Any:
        _WatchedMin.calls += 1
        return super().min(*args, **kwargs)


def test_large_data_remainder_needs_no_extra_pass_where_the_squares_decide() -> None:
    """The Sterbenz test of the deviations (|d_i| <= |o| / 2) is decided by their sum of
    squares where it can be: on timestamps (exact) and on centred data (not), no min/max."""
    from service.core import exact_sums, moments

    rng = np.random.default_rng(3)
    for offset, exact_deviations in ((1.7e9, True), (0.0, False)):
        values = offset + rng.uniform(-1, 1, 10_000)
        _WatchedMin.calls = 0
        centred = exact_sums.deviations(values.view(_WatchedMin))
        assert _WatchedMin.calls == 0
        assert (centred.lo != 0.0) == exact_deviations
        # The one-pass path reads the same decision from the same sums.
        one_pass = moments._large_segment(values.view(_WatchedMin), rng.normal(size=values.size))
        assert one_pass is not None and _WatchedMin.calls == 0
        assert (one_pass.mean_x_lo != 0.0) == exact_deviations


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("x", "y", "learning_rate"),
    [
        # x near 1e-167 (scaled by 2^-552): m' moves by lr 4^ex mean_x' 2 u_c ~ 1e-317, a
        # float64 subnormal in scaled units; m itself, about 1e-149, must keep its digits.
        ([3.716220566870141e-167, -6.2464428250618875e-167], [1.7e18, 1.7e18], 0.01),
        # b = b* + u_c - mean_x u_m: three terms of about 1e-280 that cancel to 1e-364, with
        # u_m ~ 1e-321 subnormal: only the start's view (b_0 + the displacement) holds b.
        (
            [1.2844836833405965e41, 1.2844836833404545e41],
            [1.6246253070904034e-280, 1.6246253070904034e-280],
            6.060979516976023e-85,
        ),
    ],
)
def test_subnormal_states_keep_the_iterates_within_the_yardstick(
    path: str, x: list[float], y: list[float], learning_rate: float
) -> None:
    xs, ys = np.array(x), np.array(y)
    options = FitOptions(learning_rate=learning_rate, epochs=41, history_points=42)
    with using(path):
        result = fit(xs, ys, options)
    assert result.history is not None
    truth = exact.descend(exact.exact_moments(xs, ys), options)
    loop = exact.float_loop(xs, ys, options)
    epochs = result.history.epoch.tolist()
    assert exact.worst_excess(result.history.m, truth.m, loop.m, epochs) <= 1
    assert exact.worst_excess(result.history.b, truth.b, loop.b, epochs) <= 1


def test_small_data_whose_mean_cancels_keeps_the_exact_remainder() -> None:
    """y whose mean nearly cancels (1e-17 beside values of 1): b after one epoch is
    2 lr mean_y, which needs the mean's remainder exactly (from the exact sum, not from the
    rounded deviations, which were 3 times outside the contract's bound here)."""
    x = [-0.7225597915351785, -0.9910774258594657, -0.8054125300997172, -0.8533898479552833,
         -0.48851294793542377, 0.5111776955543206, 0.8648479328017333, 0.47029018059690597,
         -0.5632041315704743, -0.8289397894495076]  # fmt: skip
    y = [-0.6205579399010854, -1.0568989031939542, -0.7551935069276334, -0.8331567861813527,
         -0.24023164634587846, 1.384265640304094, 1.9589797565504332, 1.3178234518709913,
         -0.3616048317501621, -0.7934253412000011]  # fmt: skip
    lr = 0.008474172335957214
    result = fit(np.array(x), np.array(y), FitOptions(learning_rate=lr, epochs=1))
    exact_b = 2 * Fraction(lr) * sum(map(Fraction, y)) / len(y)
    assert abs(Fraction(result.b) - exact_b) <= 1e-12 * abs(exact_b)


@pytest.mark.parametrize("learning_rate", [0.001, 0.01, 0.1, 0.3])
def test_a_sequential_run_stopped_by_its_tolerance_reports_a_norm_within_it(
    learning_rate: float,
) -> None:
    """The small path scans the sequential rule's norms from its tables, whose points may
    differ in the last bits from the answer's own (repeated squaring): the answer's norm
    decides. Tolerances set to the scan's own norms, where the two disagree most often."""
    rng = np.random.default_rng(0)
    x = np.linspace(-1, 1, 100) + rng.normal(0, 0.25, 100)
    y = np.linspace(-1, 1, 100) + rng.normal(0, 0.25, 100)
    epochs = 3000
    options = FitOptions(learning_rate=learning_rate, epochs=epochs, update="sequential")
    item = scalar._Item(compute_moments(x, y), options)
    table = kernels.trajectory_points(item.parameters, np.arange(epochs + 1))
    g_mm, g_mc, g_cc = item.g
    norms = np.hypot(g_mm * table[0] + g_mc * table[1], g_cc * table[1])
    for k in np.unique(np.geomspace(1, epochs, 60).astype(int)).tolist():
        tolerance = float(norms[k])
        result = fit(
            x,
            y,
            FitOptions(
                learning_rate=learning_rate, epochs=epochs, update="sequential", tolerance=tolerance
            ),
        )
        if result.stop_reason == "tolerance":
            assert result.gradient_norm <= tolerance
            assert result.epochs_run <= k + 1
        else:
            assert result.gradient_norm > tolerance
