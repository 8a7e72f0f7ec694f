"""Fit statistics and weighted moments of the core, against statsmodels, SciPy and exact
arithmetic.

- `ols_inference` equals statsmodels ``OLS`` (``WLS`` with weights) and
  ``scipy.stats.linregress`` to a relative 1e-9 on seeded data of several sizes, scales and
  offsets, Anscombe's quartet and heavy-tailed weights; where statsmodels' own rounding is
  the larger (x far from 0), the yardstick is the exact value (fractions, 60 digits).
- Undefined values are None: two points, constant y, a perfect line.
- Weights: zero weights as if absent, integer weights as repeated points, scaling all
  weights changes nothing but the residual standard error (by sqrt of the scale), and the
  weighted descent is the contract's exact descent, docs/algorithm.md (the exact reference
  of `tests.core.exact` on the exactly weighted moments).
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import scipy.stats

from service import core
from service.core import FitOptions, Moments, compute_moments, fit_moments, ols_inference
from tests.core.exact import ExactMoments, descend, worst_excess
from tests.helpers.statistics import statsmodels_answer

REL = 1e-9
FIELDS = (
    "m",
    "b",
    "r",
    "r2",
    "adjusted_r2",
    "residual_std_error",
    "stderr_m",
    "stderr_b",
    "t_m",
    "t_b",
    "p_m",
    "p_b",
    "f_statistic",
    "f_p_value",
)

ANSCOMBE_X = [10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5]
ANSCOMBE = {
    "I": (
        ANSCOMBE_X,
        [8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68],
    ),
    "II": (ANSCOMBE_X, [9.14, 8.14, 8.74, 8.77, 9.26, 8.10, 6.13, 3.10, 9.13, 7.26, 4.74]),
    "III": (ANSCOMBE_X, [7.46, 6.77, 12.74, 7.11, 7.81, 8.84, 6.08, 5.39, 8.15, 6.42, 5.73]),
    "IV": (
        [8, 8, 8, 8, 8, 8, 8, 19, 8, 8, 8],
        [6.58, 5.76, 7.71, 8.84, 8.47, 7.04, 5.25, 12.50, 5.56, 7.91, 6.89],
    ),
}


def relative(got: float, want: float) -> float:
    return abs(got - want) / abs(want) if want else abs(got)


def worst_against(ours: core.OlsInference, want: dict[str, Any]) -> tuple[float, str]:
    worst, name = 0.0, ""
    for key, value in want.items():
        got = getattr(ours, key)
        pairs = zip(got, value, strict=True) if key.startswith("ci_") else [(got, value)]
        for g, v in pairs:
            assert g is not None, key
            error = relative(g, float(v))
            if error > worst:
                worst, name = error, key
    return worst, name


# -- exact reference ----------------------------------------------------------------------

CTX = decimal.Context(prec=60)


def exact_inference(x: Sequence[float], y: Sequence[float], w: Sequence[float] | None = None):
    """The inference in exact arithmetic on the float64 inputs (square roots to 60 digits);
    p-values from SciPy at the exactly rounded t."""
    xs = [Fraction(float(v)) for v in x]
    ys = [Fraction(float(v)) for v in y]
    ws = [Fraction(1)] * len(xs) if w is None else [Fraction(float(v)) for v in w]
    keep = [i for i, v in enumerate(ws) if v > 0]
    xs, ys, ws = [xs[i] for i in keep], [ys[i] for i in keep], [ws[i] for i in keep]
    n, total = len(xs), sum(ws, Fraction(0))
    mx = sum((a * c for a, c in zip(xs, ws, strict=True)), Fraction(0)) / total
    my = sum((a * c for a, c in zip(ys, ws, strict=True)), Fraction(0)) / total
    sxx = sum((c * (a - mx) ** 2 for a, c in zip(xs, ws, strict=True)), Fraction(0))
    syy = sum((c * (a - my) ** 2 for a, c in zip(ys, ws, strict=True)), Fraction(0))
    sxy = sum((c * (a - mx) * (d - my) for a, d, c in zip(xs, ys, ws, strict=True)), Fraction(0))
    m = sxy / sxx
    b = my - m * mx
    ssr = syy - sxy * sxy / sxx
    df = n - 2

    def sqrt(value: Fraction) -> Fraction:
        root = CTX.sqrt(CTX.divide(decimal.Decimal(value.numerator), value.denominator))
        return Fraction(root)

    out: dict[str, float] = {"m": float(m), "b": float(b)}
    if syy > 0:
        out["r"] = float(sxy / sqrt(sxx * syy)) if sxx * syy > 0 else 0.0
        out["r2"] = float(sxy * sxy / (sxx * syy))
        if df > 0:
            out["adjusted_r2"] = float(1 - ssr / syy * Fraction(n - 1, df))
            if ssr > 0:
                out["f_statistic"] = float((syy - ssr) / (ssr / df))
    if df > 0:
        s2 = ssr / df
        out["residual_std_error"] = float(sqrt(s2))
        se_m = sqrt(s2 / sxx)
        se_b = sqrt(s2 * (1 / total + mx * mx / sxx))
        out["stderr_m"], out["stderr_b"] = float(se_m), float(se_b)
        if se_m > 0:
            out["t_m"] = float(m / se_m)
            out["p_m"] = float(2 * scipy.stats.t.sf(abs(float(m / se_m)), df))
        if se_b > 0:
            out["t_b"] = float(b / se_b)
            out["p_b"] = float(2 * scipy.stats.t.sf(abs(float(b / se_b)), df))
    return out


def check_exact(ours: core.OlsInference, want: dict[str, float], rel: float = REL) -> None:
    for key, value in want.items():
        got = getattr(ours, key)
        assert got is not None, key
        # p-values: their condition number in t is about t^2; t itself is within rel
        tolerance = rel * (1 + (ours.t_m or 0) ** 2) if key.startswith("p_") else rel
        assert got == pytest.approx(value, rel=tolerance, abs=1e-300), key


# -- against statsmodels and SciPy --------------------------------------------------------


def seeded_data(seed: int, n: int, scale: float, offset: float, noise: float = 0.5):
    rng = np.random.default_rng(seed)
    x = offset + scale * rng.uniform(-1.0, 1.0, n)
    y = 3.0 - 2.0 * (x - offset) / scale + rng.normal(0.0, noise, n)
    return x, y


CASES = [
    (seed, n, scale, offset)
    for seed, n in enumerate((3, 5, 20, 1000, 50_000))
    for scale, offset in ((1.0, 0.0), (1e-3, 0.0), (1e6, 0.0), (10.0, 2000.0), (1e5, 1.7e9))
]


@pytest.mark.parametrize(("seed", "n", "scale", "offset"), CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_ols_matches_statsmodels(
    seed: int, n: int, scale: float, offset: float, weighted: bool
) -> None:
    x, y = seeded_data(seed, n, scale, offset)
    w = np.random.default_rng(seed + 100).uniform(0.1, 10.0, n) if weighted else None
    (ours,) = ols_inference([compute_moments(x, y, w)], [0.95])
    worst, name = worst_against(ours, statsmodels_answer(x, y, w, 0.95))
    assert worst < REL, (name, worst)
    assert ours.df == n - 2
    assert ours.r == pytest.approx(math.copysign(math.sqrt(ours.r2 or 0), ours.m), rel=1e-12)


@pytest.mark.parametrize(("seed", "n", "scale", "offset"), CASES)
def test_ols_matches_linregress(seed: int, n: int, scale: float, offset: float) -> None:
    x, y = seeded_data(seed, n, scale, offset)
    (ours,) = ols_inference([compute_moments(x, y)], [0.95])
    want = scipy.stats.linregress(x, y)
    pairs = {
        "m": (ours.m, want.slope),
        "b": (ours.b, want.intercept),
        "r": (ours.r, want.rvalue),
        "p_m": (ours.p_m, want.pvalue),
        "stderr_m": (ours.stderr_m, want.stderr),
        "stderr_b": (ours.stderr_b, want.intercept_stderr),
    }
    for key, (got, value) in pairs.items():
        assert got is not None and relative(got, value) < REL, key


@pytest.mark.parametrize("quartet", sorted(ANSCOMBE))
def test_anscombe_quartet(quartet: str) -> None:
    x, y = (np.asarray(v, dtype=np.float64) for v in ANSCOMBE[quartet])
    (ours,) = ols_inference([compute_moments(x, y)], [0.95])
    worst, name = worst_against(ours, statsmodels_answer(x, y, None, 0.95))
    assert worst < REL, (name, worst)
    check_exact(ours, exact_inference(x, y))
    # the quartet's famous numbers
    assert ours.m == pytest.approx(0.5, abs=1e-3)
    assert ours.b == pytest.approx(3.0, abs=3e-3)
    assert ours.r2 == pytest.approx(0.67, abs=6e-3)


def test_heavy_tailed_weights() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 3, 400)
    y = 1.5 * x - 4 + rng.standard_t(2, 400)
    w = rng.pareto(1.1, 400) + 1e-6  # weights over many orders of magnitude
    (ours,) = ols_inference([compute_moments(x, y, w)], [0.9])
    worst, name = worst_against(ours, statsmodels_answer(x, y, w, 0.9))
    assert worst < REL, (name, worst)
    check_exact(ours, exact_inference(x, y, w))


@pytest.mark.parametrize("level", [0.5, 0.9, 0.99, 0.999999, 1e-6])
def test_confidence_levels(level: float) -> None:
    x, y = seeded_data(3, 30, 2.0, 0.0)
    (ours,) = ols_inference([compute_moments(x, y)], [level])
    want = statsmodels_answer(x, y, None, level)
    assert ours.confidence_level == level
    assert ours.ci_m is not None and ours.ci_b is not None
    for got, value in (
        *zip(ours.ci_m, want["ci_m"], strict=True),
        *zip(ours.ci_b, want["ci_b"], strict=True),
    ):
        assert relative(got, value) < REL


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_confidence_level_outside_0_1_is_refused(level: float) -> None:
    with pytest.raises(core.ParameterError, match="confidence_level"):
        ols_inference([compute_moments([0.0, 1.0, 2.0], [1.0, 2.0, 4.0])], [level])


# -- cancellation: exact yardstick where statsmodels' own rounding is the larger ------------


@pytest.mark.parametrize(
    ("offset", "spread"),
    [(1.7e9, 3600.0), (1.7e12, 1.0), (1.7e18, 1e6), (2024.0, 1e-9), (1e12, 1e-3)],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_large_offsets_match_the_exact_inference(
    offset: float, spread: float, weighted: bool
) -> None:
    rng = np.random.default_rng(11)
    x = offset + spread * rng.uniform(0, 1, 60)
    y = 0.25 * (x - offset) / spread + rng.normal(0, 0.1, 60) + 7.0
    w = rng.uniform(0.5, 2.0, 60) if weighted else None
    (ours,) = ols_inference([compute_moments(x, y, w)], [0.95])
    check_exact(ours, exact_inference(x, y, w))


@pytest.mark.parametrize("noise", [1e-6, 1e-10, 1e-14])
def test_near_perfect_lines_keep_their_digits(noise: float) -> None:
    x = np.linspace(1e6, 1e6 + 10, 40)
    y = 2.0 * (x - 1e6) + 1.0 + noise * np.sin(np.arange(40.0))  # the noise survives rounding
    (ours,) = ols_inference([compute_moments(x, y)], [0.95])
    want = exact_inference(x, y)
    # m, b, r, R^2: to 1e-9 whatever the noise. What comes from the residual sum of squares
    # (s, standard errors, t, F) is as accurate as residuals taken in float64 can be:
    # about eps * |y - mean_y| / noise relative (statsmodels' own residuals are no better).
    floor = max(REL, 100 * 2.2e-16 * 20 / noise)
    for key, value in want.items():
        if key.startswith("p_"):
            continue
        got = getattr(ours, key)
        tolerance = REL if key in ("m", "b", "r", "r2", "adjusted_r2") else floor
        assert got == pytest.approx(value, rel=tolerance), key
    assert ours.adjusted_r2 is not None and ours.adjusted_r2 <= 1.0
    assert ours.f_statistic is not None and ours.f_statistic > 0


# -- undefined values: None, never NaN ----------------------------------------------------


def nulls(ours: core.OlsInference) -> set[str]:
    names = [*FIELDS, "ci_m", "ci_b"]
    return {name for name in names if getattr(ours, name) is None}


def test_two_points_have_no_residual_degrees_of_freedom() -> None:
    (ours,) = ols_inference([compute_moments([1.0, 3.0], [2.0, 7.0])], [0.95])
    assert ours.df == 0
    assert (ours.m, ours.b, ours.r, ours.r2) == (2.5, -0.5, 1.0, 1.0)
    assert nulls(ours) == {
        "adjusted_r2",
        "residual_std_error",
        "stderr_m",
        "stderr_b",
        "t_m",
        "t_b",
        "p_m",
        "p_b",
        "ci_m",
        "ci_b",
        "f_statistic",
        "f_p_value",
    }


def test_constant_y() -> None:
    (ours,) = ols_inference([compute_moments([1.0, 2.0, 4.0, 8.0], [5.0] * 4)], [0.95])
    assert (ours.m, ours.b, ours.residual_std_error) == (0.0, 5.0, 0.0)
    assert (ours.stderr_m, ours.stderr_b, ours.ci_m, ours.ci_b) == (
        0.0,
        0.0,
        (0.0, 0.0),
        (5.0, 5.0),
    )
    assert nulls(ours) == {"r", "r2", "adjusted_r2", "t_m", "t_b", "p_m", "p_b"} | {
        "f_statistic",
        "f_p_value",
    }


def test_exact_line() -> None:
    (ours,) = ols_inference([compute_moments([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])], [0.95])
    assert (ours.m, ours.b, ours.r, ours.r2, ours.adjusted_r2) == (2.0, 1.0, 1.0, 1.0, 1.0)
    assert (ours.residual_std_error, ours.stderr_m, ours.stderr_b) == (0.0, 0.0, 0.0)
    assert (ours.ci_m, ours.ci_b) == ((2.0, 2.0), (1.0, 1.0))
    assert nulls(ours) == {"t_m", "t_b", "p_m", "p_b", "f_statistic", "f_p_value"}


def test_statistics_of_the_returned_line() -> None:
    x, y = seeded_data(5, 50, 1.0, 0.0)
    moments = compute_moments(x, y)
    result = core.fit(x, y, FitOptions(learning_rate=0.01, epochs=50))
    (done,) = core.with_statistics([result], [moments], [0.95], [(x, y, None)])
    stats = done.statistics
    assert stats is not None
    residual = y - (result.m * x + result.b)
    assert stats.rmse == pytest.approx(math.sqrt(np.mean(residual**2)), rel=1e-12)
    assert stats.mae == pytest.approx(np.mean(np.abs(residual)), rel=1e-12)
    assert stats.r2 == pytest.approx(1 - np.mean(residual**2) / np.var(y), rel=1e-12)
    assert stats.r2 is not None and stats.ols.r2 is not None and stats.r2 < stats.ols.r2


def test_mae_of_timestamps_keeps_its_digits() -> None:
    x = 1.7e9 + np.arange(0.0, 86_400.0, 600.0)
    y = 1e-3 * (x - 1.7e9) + np.cos(np.arange(x.size))
    moments = compute_moments(x, y)
    m, b = moments.slope, moments.mean_y - moments.slope * moments.mean_x
    got = core.mean_absolute_residual(x, y, None, m, b, moments)
    exact = sum(
        abs(Fraction(float(c)) - Fraction(m) * Fraction(float(a)) - Fraction(b))
        for a, c in zip(x, y, strict=True)
    ) / len(x)
    assert got == pytest.approx(float(exact), rel=1e-12)


# -- weights ------------------------------------------------------------------------------


def test_all_one_weights_are_no_weights_bit_for_bit() -> None:
    x, y = seeded_data(1, 200, 5.0, 100.0)
    assert compute_moments(x, y, np.ones_like(x)) == compute_moments(x, y)


def test_zero_weights_are_as_if_absent() -> None:
    x, y = seeded_data(2, 100, 5.0, 0.0)
    w = np.random.default_rng(2).uniform(0.5, 3.0, 100)
    w[::3] = 0.0
    x_far, y_far = x.copy(), y.copy()
    x_far[::3], y_far[::3] = 1e300, -1e300  # ignored, however wild
    with_zeros = compute_moments(x_far, y_far, w)
    keep = w > 0
    assert with_zeros == compute_moments(x[keep], y[keep], w[keep])
    assert with_zeros.n == int(keep.sum())
    got = fit_moments(with_zeros, FitOptions(learning_rate=0.05, epochs=300))
    want = fit_moments(
        compute_moments(x[keep], y[keep], w[keep]), FitOptions(learning_rate=0.05, epochs=300)
    )
    assert (got.m, got.b, got.cost) == (want.m, want.b, want.cost)


def test_integer_weights_equal_repeated_points() -> None:
    x, y = seeded_data(4, 30, 3.0, 10.0)
    w = np.random.default_rng(4).integers(1, 5, 30).astype(np.float64)
    repeated_x, repeated_y = np.repeat(x, w.astype(int)), np.repeat(y, w.astype(int))
    options = FitOptions(learning_rate=0.003, epochs=2000)
    got = fit_moments(compute_moments(x, y, w), options)
    want = fit_moments(compute_moments(repeated_x, repeated_y), options)
    for name in ("m", "b", "cost"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12)
    for name in ("m", "b", "cost"):
        assert getattr(got.optimum, name) == pytest.approx(getattr(want.optimum, name), rel=1e-12)
    assert got.n == 30 and want.n == int(w.sum())


@pytest.mark.parametrize("factor", [3.7, 1e6, 2.0**-600, 1e-300, 1e300])
def test_scaling_all_weights_changes_only_the_residual_standard_error(factor: float) -> None:
    x, y = seeded_data(6, 40, 2.0, 5.0)
    w = np.random.default_rng(6).uniform(0.2, 5.0, 40)
    base, scaled = compute_moments(x, y, w), compute_moments(x, y, w * factor)
    options = FitOptions(learning_rate=0.01, epochs=500)
    a, b = fit_moments(base, options), fit_moments(scaled, options)
    for name in ("m", "b", "cost"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-13)
    (one,), (other,) = ols_inference([base], [0.95]), ols_inference([scaled], [0.95])
    for name in FIELDS:
        got, want = getattr(other, name), getattr(one, name)
        if name == "residual_std_error":
            want = want * math.sqrt(factor)
        assert got == pytest.approx(want, rel=1e-12), name


def test_bad_weights_are_refused() -> None:
    x, y = [0.0, 1.0, 2.0], [1.0, 2.0, 4.0]
    for weights, match in (
        ([1.0, -1.0, 1.0], r"weights\[1\]"),
        ([0.0, 0.0, 0.0], "all 0"),
        ([1.0, math.inf, 1.0], "finite"),
        ([1.0, 1.0], "one value per point"),
        ([1.0, 0.0, 0.0], "positive weight"),
    ):
        with pytest.raises(core.DataError, match=match):
            compute_moments(x, y, weights)
    with pytest.raises(core.DataError, match="two distinct values among"):
        compute_moments([1.0, 1.0, 2.0], y, [1.0, 1.0, 0.0])


def test_weighted_moments_as_sent_equal_the_raw_moments() -> None:
    x, y = seeded_data(8, 80, 4.0, 50.0)
    w = np.random.default_rng(8).uniform(0.0, 2.0, 80)
    raw = compute_moments(x, y, w)
    sent = Moments.from_sums(raw.n, raw.mean_x, raw.mean_y, raw.sxx, raw.sxy, raw.syy, raw.sum_w)
    options = FitOptions(learning_rate=1e-4, epochs=400, history_points=5)
    got, want = fit_moments(sent, options), fit_moments(raw, options)
    assert got.m == pytest.approx(want.m, rel=1e-12)
    assert got.b == pytest.approx(want.b, rel=1e-12)
    assert got.cost == pytest.approx(want.cost, rel=1e-9)
    (a,), (b,) = ols_inference([sent], [0.95]), ols_inference([raw], [0.95])
    for name in FIELDS:
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9), name


def test_extreme_sum_w_as_sent() -> None:
    # tiny weights on wide data and huge weights on narrow data: only ratios matter
    for sum_w, sxx in ((1e-300, 1e-290), (1e300, 1e-10), (1e-200, 1e200)):
        moments = Moments.from_sums(10, 0.0, 0.0, sxx, 0.5 * sxx, sxx)
        weighted = Moments.from_sums(10, 0.0, 0.0, sxx, 0.5 * sxx, sxx, sum_w)
        assert weighted.slope == moments.slope == 0.5
        (ours,) = ols_inference([weighted], [0.95])
        assert ours.r == pytest.approx(0.5, rel=1e-12)
        assert ours.residual_std_error is not None


# -- the weighted descent is the contract's exact descent -----------------------------------


def exact_weighted_moments(x: Any, y: Any, w: Any) -> ExactMoments:
    """The exactly weighted moments, with the total weight where `descend` divides by n."""
    xs = [Fraction(float(v)) for v in x]
    ys = [Fraction(float(v)) for v in y]
    ws = [Fraction(float(v)) for v in w]
    total = sum(ws, Fraction(0))
    mx = sum((a * c for a, c in zip(xs, ws, strict=True)), Fraction(0)) / total
    my = sum((a * c for a, c in zip(ys, ws, strict=True)), Fraction(0)) / total

    def d(value: Fraction) -> decimal.Decimal:
        context = decimal.Context(prec=80)
        return context.divide(decimal.Decimal(value.numerator), value.denominator)

    return ExactMoments(
        d(total),
        d(mx),
        d(my),
        d(sum((c * (a - mx) ** 2 for a, c in zip(xs, ws, strict=True)), Fraction(0))),
        d(sum((c * (a - mx) * (e - my) for a, e, c in zip(xs, ys, ws, strict=True)), Fraction(0))),
        d(sum((c * (e - my) ** 2 for e, c in zip(ys, ws, strict=True)), Fraction(0))),
    )


@pytest.mark.parametrize(
    "options",
    [
        FitOptions(learning_rate=0.01, epochs=40, history_points=41),
        FitOptions(learning_rate=0.01, epochs=40, update="sequential", history_points=41),
        FitOptions(learning_rate=0.005, epochs=40, optimizer="momentum", history_points=41),
        FitOptions(learning_rate=0.005, epochs=40, optimizer="nesterov", history_points=41),
        FitOptions(learning_rate=0.1, epochs=40, standardize=True, l2=0.3, history_points=41),
    ],
    ids=["gd", "sequential", "momentum", "nesterov", "standardize-l2"],
)
@pytest.mark.parametrize("offset", [0.0, 1.7e9])
def test_weighted_descent_is_the_exact_descent(options: FitOptions, offset: float) -> None:
    rng = np.random.default_rng(21)
    x = offset + rng.uniform(-3, 3, 25)
    y = 0.7 * (x - offset) + 2.0 + rng.normal(0, 0.3, 25)
    w = rng.exponential(2.0, 25)
    w[3] = 0.0
    if offset:
        options = FitOptions(
            **{**{f: getattr(options, f) for f in options.__slots__}, "learning_rate": 1e-20}
        )
    result = fit_moments(compute_moments(x, y, w), options)
    assert result.history is not None
    exact = descend(exact_weighted_moments(x, y, w), options)
    assert worst_excess(result.history.m, exact.m) <= 1.0
    assert worst_excess(result.history.b, exact.b) <= 1.0


def test_weighted_cost_is_the_weighted_mean() -> None:
    x, y = seeded_data(9, 60, 2.0, 0.0)
    w = np.random.default_rng(9).uniform(0.0, 4.0, 60)
    result = fit_moments(compute_moments(x, y, w), FitOptions(learning_rate=0.01, epochs=100))
    residual = y - (result.m * x + result.b)
    assert result.cost == pytest.approx(np.sum(w * residual**2) / np.sum(w), rel=1e-12)
    weighted = np.sum(w * residual**2) / np.sum(w)
    assert result.n == int((w > 0).sum())
    assert weighted > 0


def test_scalar_t_tails_are_scipys_ufunc_bit_for_bit() -> None:
    """The p-values call SciPy's float64 kernels directly (`statistics._STDTR`, `_FDTRC`):
    the same bits as ``scipy.special.stdtr`` and ``fdtrc``, over degrees of freedom and t
    from small to huge."""
    from scipy import special

    from service.core import statistics

    rng = np.random.default_rng(11)
    df = rng.integers(1, 10**7, 2000).astype(float)
    t = -(10.0 ** rng.uniform(-6, 3, 2000))
    assert [statistics._STDTR(d, v) for d, v in zip(df, t, strict=True)] == special.stdtr(
        df, t
    ).tolist()
    f = 10.0 ** rng.uniform(-6, 6, 2000)
    assert [statistics._FDTRC(1.0, d, v) for d, v in zip(df, f, strict=True)] == special.fdtrc(
        1.0, df, f
    ).tolist()


def test_an_undefined_t_and_a_nan_t_are_told_apart() -> None:
    """A slope whose t is nan (an infinite slope over an infinite standard error, reachable
    through the core's moments) has no p-value and its F test none either; SciPy's F tail is
    asked only where the slope's standard error is 0."""
    from service.core import Moments

    (ols,) = ols_inference([Moments(5, 0.0, 0.0, 1.0, 1.0, 2.0, 0.2, -600, 500, 5.0, 0)], [0.95])
    assert ols.t_m is None and ols.p_m is None and ols.f_p_value is None
