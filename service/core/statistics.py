"""Statistics of a fit, in O(1) from the data's moments (`service.core.moments`).

Two kinds, for each item of a group (`fit_statistics`), each in O(1) float arithmetic:

- how good the RETURNED line (m, b) is: ``r2 = 1 - cost / var(y)``, ``rmse = sqrt(cost)``
  and ``mae``, the (weighted) mean absolute residual, which alone needs the points
  (`mean_absolute_residual`, one O(n) pass);
- `OlsInference`: the classical inference of the unpenalized least-squares line, as
  statsmodels' ``OLS`` (``WLS`` with weights) and ``scipy.stats.linregress`` report it.

With n points (of positive weight), total weight W = sum_i w_i (W = n unweighted), weighted
means and centred sums Sxx, Sxy, Syy, the residual sum of squares SSR = W * min_cost and
df = n - 2 residual degrees of freedom (Greene, *Econometric Analysis*, ch. 4; statsmodels'
``RegressionResults``; weights are inverse variances, so WLS is OLS on sqrt(w_i)-scaled rows):

    m = Sxy / Sxx,  b = mean_y - m mean_x,  r = Sxy / sqrt(Sxx Syy),
    1 - R^2 = SSR / Syy,  adjusted R^2 = 1 - (1 - R^2) (n - 1) / df,
    s = residual_std_error = sqrt(SSR / df)        (statsmodels' sqrt(scale)),
    stderr_m = s / sqrt(Sxx),  stderr_b = s sqrt(1/W + mean_x^2 / Sxx),
    t = estimate / stderr,  p = 2 P(T_df > |t|),
    ci = estimate -+ t_df(1 - alpha/2) stderr,  alpha = 1 - confidence_level,
    F = R^2 / (1 - R^2) df  (= t_m^2),  f_p_value = P(F_{1,df} > F) = p_m.

Everything is computed in forms that do not cancel: SSR comes from `min_cost` (summed from
the residuals for near-perfect fits), 1 - R^2 = min_cost / (Syy / W) and R^2 = r^2 are each
taken where they are accurate, stderr_m^2 = min_cost / (df Sxx / W) and stderr_b =
hypot(sqrt(min_cost / df), stderr_m mean_x) never form 1/W + mean_x^2 / Sxx from large
offsets, and the moments' power-of-two scalings (`x_exponent`, `y_exponent`, `w_exponent`)
are applied last. Scaling all weights by a constant c changes nothing but s (by sqrt(c)).
Student's t and F come from SciPy (``scipy.special.stdtr``, ``stdtrit``, ``fdtrc``, what
``scipy.stats.t`` and ``scipy.stats.f`` use; the p-values through their float64 kernels in
``scipy.special.cython_special``, the same bits without a ufunc's fixed cost); tails are
taken on the side where they are small, so tiny p-values keep their digits. The float
arithmetic is one compiled function (`ols_numbers`), which the small path's compiled fit
calls too.

Undefined values are None, never NaN or infinity: with df = 0 (two points) everything that
needs df > 0; with constant y (Syy = 0) r, both R^2, adjusted R^2, F and its p-value; t and
p where their standard error is 0 (a perfect line, whose F is then None too); and any value
too large for a float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special
from scipy.special import cython_special

from service.core import kernels
from service.core.errors import ParameterError
from service.core.frozen import quick_init
from service.core.kernels import compiled
from service.core.moments import Moments, line_height
from service.core.result import FitResult

__all__ = [
    "FitStatistics",
    "QUIET_REACH",
    "confidence_band",
    "OlsInference",
    "Points",
    "fit_statistics",
    "line_r2",
    "mean_absolute_residual",
    "ols_inference",
    "ols_numbers",
    "t_quantile",
    "with_p_values",
    "with_statistics",
]

FloatArray = NDArray[np.float64]
Interval = tuple[float, float]
Points = tuple[FloatArray, FloatArray, FloatArray | None]
"""x, y and the weights (None: unweighted) of a data set, float64 arrays of shape (n,)."""


@quick_init
@dataclass(frozen=True, slots=True)
class OlsInference:
    """Classical inference for the unpenalized (weighted) least-squares line.

    Estimates are in original units (m in y-units per x-unit, b in y-units); each field is
    None where it is undefined (see the module docstring).

    Attributes
    ----------
    m, b : float
        Least-squares slope and intercept.
    r : float or None
        (Weighted) Pearson correlation of x and y.
    r2, adjusted_r2 : float or None
        Coefficient of determination and its degrees-of-freedom adjustment.
    df : int
        Residual degrees of freedom, n - 2.
    residual_std_error : float or None
        sqrt(SSR / df), in y-units (statsmodels' ``sqrt(scale)``; with weights it scales with
        the square root of the weights' scale).
    stderr_m, stderr_b : float or None
        Standard errors of m and b.
    t_m, t_b, p_m, p_b : float or None
        t statistics and two-sided p-values of the hypotheses m = 0 and b = 0.
    ci_m, ci_b : (low, high) or None
        Confidence intervals at `confidence_level`.
    f_statistic, f_p_value : float or None
        The regression's F statistic on (1, df) degrees of freedom and its p-value.
    confidence_level : float
        The level of the intervals, 0 < level < 1.
    """

    m: float
    b: float
    r: float | None
    r2: float | None
    adjusted_r2: float | None
    df: int
    residual_std_error: float | None
    stderr_m: float | None
    stderr_b: float | None
    t_m: float | None
    t_b: float | None
    p_m: float | None
    p_b: float | None
    ci_m: Interval | None
    ci_b: Interval | None
    f_statistic: float | None
    f_p_value: float | None
    confidence_level: float


@quick_init
@dataclass(frozen=True, slots=True)
class FitStatistics:
    """How good the returned line is, and the least-squares inference.

    Attributes
    ----------
    r2 : float or None
        1 - cost / var(y) of the returned line (None for constant y); can be negative.
    rmse : float
        sqrt(cost), in y-units.
    mae : float or None
        (Weighted) mean absolute residual of the returned line, in y-units; None when the
        points are not at hand (moments input).
    ols : OlsInference
        Inference for the unpenalized least-squares line.
    """

    r2: float | None
    rmse: float
    mae: float | None
    ols: OlsInference


def _finite(value: float | None) -> float | None:
    """`value`, or None when it is undefined or not a finite float64."""
    return value if value is not None and math.isfinite(value) else None


def ols_inference(
    moments: Sequence[Moments], confidence_levels: Sequence[float]
) -> list[OlsInference]:
    """The `OlsInference` of each data set, at its confidence level, in O(1) per item
    (about 10 microseconds: plain float arithmetic and three SciPy special functions).

    Parameters
    ----------
    moments : sequence of Moments, length N
        The data sets (weighted or not).
    confidence_levels : sequence of float, length N
        0 < level < 1 each.

    Raises
    ------
    ParameterError
        A confidence level outside (0, 1).
    """
    if len(moments) != len(confidence_levels):
        raise ValueError("one confidence level per data set is needed")
    for given in confidence_levels:
        _check_level(given)
    return [_inference(d, level) for d, level in zip(moments, confidence_levels, strict=True)]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ParameterError(
            f"confidence_level must satisfy 0 < level < 1 (got {level!r})",
            field="confidence_level",
        )


OLS_FIELDS = 15
"""The numbers of `ols_numbers`: m, b, r, r2, adjusted_r2, residual_std_error, stderr_m,
stderr_b, t_m, t_b, the ends of ci_m and of ci_b, f_statistic."""


@compiled
def ols_numbers(
    n: int, sum_w: float, mean_x: float, mean_y: float, sxx: float, sxy: float, syy: float,
    min_cost: float, x_exponent: int, y_exponent: int, w_exponent: int, quantile: float,
) -> tuple[
    float, float, float, float, float, float, float, float, float, float, float, float, float,
    float, float,
]:  # fmt: skip
    """The `OLS_FIELDS` of one data set (the formulas of the module docstring), compiled;
    nan where a value is undefined (t where its standard error is not positive, everything
    that needs df > 0 with two points, r, both R^2 and F with constant y). `quantile` is
    t_df(1 - alpha/2) (`t_quantile`). The p-values come from SciPy (`with_p_values`)."""
    nan = math.nan
    df = n - 2
    # The same expressions as the optimum's in `service.core.coefficients` (bit for bit).
    m = math.ldexp(sxy / sxx, y_exponent - x_exponent)
    b = mean_y - m * mean_x
    r = r2 = adjusted = nan
    unexplained = nan
    if syy > 0:
        # r and R^2 from the products where |r| is small, from 1 - R^2 = SSR / Syy (the
        # residuals' own sum) where it is near 1: each where it keeps its digits.
        unexplained = min_cost / (syy / sum_w)
        if unexplained < 0.5:
            r2 = 1.0 - unexplained
            r = math.copysign(math.sqrt(r2), sxy)
        else:
            ratio = sxy / (math.sqrt(sxx) * math.sqrt(syy))
            ratio = ratio if ratio < 1.0 else 1.0
            r = ratio if ratio > -1.0 else -1.0
            r2 = r * r
            unexplained = 1.0 - r2
        if df > 0:
            adjusted = 1.0 - unexplained * ((n - 1) / df)
    if df <= 0:  # two points: no residual degrees of freedom
        return m, b, r, r2, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan
    # s^2 = SSR / df; in original units SSR = W min_cost 4^ey 2^ew (W, min_cost as stored).
    half, odd = w_exponent // 2, w_exponent % 2
    rse = math.ldexp(
        math.sqrt(min_cost * sum_w / df) * (math.sqrt(2.0) if odd else 1.0), y_exponent + half
    )
    stderr_m = math.ldexp(math.sqrt(min_cost / (df * (sxx / sum_w))), y_exponent - x_exponent)
    per_weight = math.ldexp(math.sqrt(min_cost / df), y_exponent)  # s / sqrt(W)
    stderr_b = math.hypot(per_weight, stderr_m * mean_x)
    half_m, half_b = quantile * stderr_m, quantile * stderr_b
    t_m = m / stderr_m if stderr_m > 0 else nan
    t_b = b / stderr_b if stderr_b > 0 else nan
    f_statistic = r2 / unexplained * df if not math.isnan(r2) and unexplained > 0 else nan
    return (
        m, b, r, r2, adjusted, rse, stderr_m, stderr_b, t_m, t_b, m - half_m, m + half_m,
        b - half_b, b + half_b, f_statistic,
    )  # fmt: skip


def _inference(d: Moments, level: float) -> OlsInference:
    """One item of `ols_inference`: `ols_numbers` and its p-values (`with_p_values`)."""
    df = d.n - 2
    numbers = ols_numbers(
        d.n, d.sum_w, d.mean_x, d.mean_y, d.sxx, d.sxy, d.syy, d.min_cost, d.x_exponent,
        d.y_exponent, d.w_exponent, t_quantile(df, level) if df > 0 else math.nan,
    )  # fmt: skip
    return with_p_values(numbers, df, level)


def _float64_kernel(function: Any) -> Any:
    """The float64 version of a ``scipy.special.cython_special`` function: recent SciPy
    releases make some of them fused over float32 and float64 (indexed by type), older ones
    (1.11) take float64 only."""
    try:
        return function["double"]
    except TypeError:
        return function


_STDTR = _float64_kernel(cython_special.stdtr)
_FDTRC = _float64_kernel(cython_special.fdtrc)
"""SciPy's Student's t and F tails on float64 scalars (the functions its ufuncs call, the
same bits, without a ufunc's fixed cost)."""


def with_p_values(numbers: tuple[float, ...], df: int, level: float) -> OlsInference:
    """The `OlsInference` of `ols_numbers`' answer: the two-sided p-values 2 P(T_df < -|t|)
    and the F test's P(F(1, df) > F), which is the slope's two-sided t tail, F being
    t_m^2 (SciPy's F tail only where t_m is undefined); values that are nan or not finite
    become None (a p-value is kept where its t overflowed)."""
    m, b, r, r2, adjusted, rse, stderr_m, stderr_b, t_m, t_b, m_low, m_high, b_low, b_high, f = (
        numbers
    )
    p_m = p_b = f_p_value = math.nan
    if df > 0:  # (t is defined where its standard error is positive, even if it is nan)
        if stderr_m > 0:
            p_m = 2.0 * _STDTR(df, -abs(t_m))
        if stderr_b > 0:
            p_b = 2.0 * _STDTR(df, -abs(t_b))
        if not math.isnan(f):
            f_p_value = p_m if stderr_m > 0 else _FDTRC(1.0, df, f)
    finite = math.isfinite
    if all(map(finite, numbers)) and finite(p_m) and finite(p_b) and finite(f_p_value):
        return OlsInference(
            m, b, r, r2, adjusted, df, rse, stderr_m, stderr_b, t_m, t_b, p_m, p_b,
            (m_low, m_high), (b_low, b_high), f, f_p_value, level,
        )  # fmt: skip
    return OlsInference(
        m, b, _finite(r), _finite(r2), _finite(adjusted), df, _finite(rse), _finite(stderr_m),
        _finite(stderr_b), _finite(t_m), _finite(t_b), _finite(p_m), _finite(p_b),
        (m_low, m_high) if finite(m_low) and finite(m_high) else None,
        (b_low, b_high) if finite(b_low) and finite(b_high) else None,
        _finite(f), _finite(f_p_value), level,
    )  # fmt: skip


@lru_cache(maxsize=256)
def t_quantile(df: int, level: float) -> float:
    """t_df(1 - alpha/2), alpha = 1 - level (the upper alpha/2 point, from the lower tail);
    cached: a service sees few (df, level) pairs."""
    return -float(special.stdtrit(df, (1.0 - level) / 2.0))


def fit_statistics(
    moments: Sequence[Moments],
    costs: Sequence[float],
    confidence_levels: Sequence[float],
    maes: Sequence[float | None] | None = None,
) -> list[FitStatistics]:
    """The `FitStatistics` of each fit: its data's `moments`, the returned line's `cost`
    (its (weighted) MSE, in y-units squared), the `confidence_levels` of the intervals and
    the `maes` from `mean_absolute_residual` (None: not available). O(1) per item."""
    inference = ols_inference(moments, confidence_levels)
    if maes is None:
        maes = [None] * len(moments)
    return [
        _statistics(data, cost, mae, ols)
        for data, cost, mae, ols in zip(moments, costs, maes, inference, strict=True)
    ]


def _statistics(data: Moments, cost: float, mae: float | None, ols: OlsInference) -> FitStatistics:
    """One item of `fit_statistics`."""
    r2 = line_r2(cost, data.syy, data.sum_w, data.y_exponent)
    return FitStatistics(None if math.isnan(r2) else r2, math.sqrt(cost), mae, ols)


@compiled
def line_r2(cost: float, syy: float, sum_w: float, y_exponent: int) -> float:
    """1 - cost / var(y) of a line whose MSE is `cost` (y-units squared), var(y) = Syy / W
    in the moments' scaled units of y; nan where undefined (constant y, or beyond float64).
    Compiled: the small path's compiled fit takes it too."""
    if not syy > 0:
        return math.nan
    scaled = math.ldexp(cost, -2 * y_exponent) / (syy / sum_w)
    return 1.0 - scaled if math.isfinite(scaled) else math.nan


def _ldexp(value: float, exponent: int) -> float:
    """value * 2**exponent, inf where that overflows (math.ldexp raises instead)."""
    if exponent == 0:
        return value
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


QUIET_REACH = 2.0**1000
"""Below this bound on the residuals' terms, `mean_absolute_residual` skips NumPy's error
state."""


def mean_absolute_residual(
    x: FloatArray,
    y: FloatArray,
    weights: FloatArray | None,
    m: float,
    b: float,
    moments: Moments,
) -> float | None:
    """sum_i w_i |y_i - (m x_i + b)| / sum_i w_i (w_i = 1 without weights): the mean absolute
    residual of the line (m, b), in y-units, in one O(n) pass; None if it overflows.

    The residuals are taken around the data's means, r_i = (y_i - mean_y) - m (x_i - mean_x)
    - c with c = b + m mean_x - mean_y rounded once from its exact value, so data far from 0
    (timestamps) loses no digits to the line's large intercept.
    """
    if weights is not None and weights.min() == 1 == weights.max():
        weights = None  # all 1: no weights, bit for bit
    c = line_height(m, b, moments.mean_x, moments.mean_y)
    if weights is None and not (moments.x_exponent or moments.y_exponent):
        # |x_i - mean_x| <= sqrt(sxx) and |y_i - mean_y| <= sqrt(syy): when these bounds,
        # times |m|, and |c| are far inside float64, no step overflows (no error state).
        reach = abs(m) * math.sqrt(moments.sxx) + math.sqrt(moments.syy) + abs(c)
        if reach < QUIET_REACH:
            value = _absolute_residual_sum(x, y, m, c, moments.mean_x, moments.mean_y) / x.size
            return value if math.isfinite(value) else None
    with np.errstate(over="ignore", invalid="ignore"):
        residual = np.abs((y - moments.mean_y) - m * (x - moments.mean_x) - c)
        if weights is None:
            value = float(np.sum(residual)) / residual.size
        else:
            if (weights == 0).any():  # weight 0: as if absent, whatever its residual
                keep = weights > 0
                weights, residual = weights[keep], residual[keep]
            relative = weights / weights.max()  # a ratio of sums: the weights' scale cancels
            value = float(np.dot(relative, residual)) / float(np.sum(relative))
    return value if math.isfinite(value) else None


KERNEL_POINTS = 4096
"""Up to this many points, `_absolute_residual_sum` is one compiled loop summing in index
order (`service.core.kernels`; n eps at most, 1e-12 here), the small path's own sum; beyond,
compiled block sums of this many points each."""


def _absolute_residual_sum(
    x: FloatArray, y: FloatArray, m: float, c: float, mean_x: float, mean_y: float
) -> float:
    """sum_i |((y_i - mean_y) - m (x_i - mean_x)) - c|: up to `KERNEL_POINTS` points one
    compiled loop summing in index order (`kernels.absolute_residual_sum`), the bits of the
    small path's fit; beyond, one compiled pass of block sums of `KERNEL_POINTS` points
    (`kernels.absolute_residual_block_sums`, each within (4096 / 8 + 3) eps of its exact
    value), added exactly (`math.fsum`): a sum within about 515 eps, 1.2e-13, of the exact
    one, with one read of the points."""
    if x.size <= KERNEL_POINTS:
        return kernels.absolute_residual_sum(x, y, m, c, mean_x, mean_y)
    sums = kernels.absolute_residual_block_sums(x, y, m, c, mean_x, mean_y, KERNEL_POINTS)
    return math.fsum(sums.tolist())


def with_statistics(
    results: Sequence[FitResult],
    moments: Sequence[Moments],
    confidence_levels: Sequence[float] | None = None,
    points: Sequence[Points | None] | None = None,
) -> list[FitResult]:
    """The `results` with their `statistics` attached: O(1) each from the `moments`, all
    together (`fit_statistics`), plus one pass over the `points` of each data set that has
    them (`mean_absolute_residual`; None: moments input, ``mae`` None).

    `confidence_levels` default to 0.95 each, `points` to None each.
    """
    levels = [0.95] * len(results) if confidence_levels is None else confidence_levels
    if len(results) == len(moments) == len(levels) == 1 and (points is None or len(points) == 1):
        # One fit (/fit): the same functions, without the lists around them.
        result, sums, level = results[0], moments[0], levels[0]
        data = None if points is None else points[0]
        mae = (
            None
            if data is None
            else mean_absolute_residual(data[0], data[1], data[2], result.m, result.b, sums)
        )
        _check_level(level)
        ols = _inference(sums, level)
        return [_with(result, _statistics(sums, result.cost, mae, ols))]
    maes = [
        None
        if data is None
        else mean_absolute_residual(data[0], data[1], data[2], result.m, result.b, sums)
        for result, sums, data in zip(
            results, moments, points or [None] * len(results), strict=True
        )
    ]
    statistics = fit_statistics(moments, [result.cost for result in results], levels, maes)
    return [_with(result, stats) for result, stats in zip(results, statistics, strict=True)]


def _with(r: FitResult, stats: FitStatistics) -> FitResult:
    """`dataclasses.replace(r, statistics=stats)`, without its per-call field introspection."""
    return FitResult(
        r.m, r.b, r.cost, r.epochs_run, r.stop_reason, r.gradient_norm, r.n, r.optimum,
        r.max_stable_learning_rate, r.warnings, r.history, stats,
    )  # fmt: skip


def confidence_band(
    moments: Moments, confidence_level: float, x: FloatArray
) -> tuple[FloatArray, FloatArray] | None:
    """The least-squares line and the half-width of its pointwise confidence band at `x`.

    The band of the mean response (Greene ch. 4; statsmodels' ``get_prediction`` ``mean_ci``):

        y_hat(x) = mean_y + m (x - mean_x),
        half(x) = t_df(1 - alpha/2) sqrt(s^2 / W + stderr_m^2 (x - mean_x)^2),

    with s^2 / W = min_cost / df (weights' scale cancels), in y-units. Parameters: the data's
    `moments`, 0 < `confidence_level` < 1 and `x` of shape (k,); returns two arrays of shape
    (k,), or None when df = 0 (two points: no band).
    """
    df = moments.n - 2
    if df <= 0:
        return None
    (ols,) = ols_inference([moments], [confidence_level])
    ey = moments.y_exponent
    with np.errstate(over="ignore", invalid="ignore"):
        per_weight = _ldexp(math.sqrt(moments.min_cost / df), ey)
        quantile = t_quantile(df, confidence_level)
        offset = np.asarray(x, dtype=np.float64) - moments.mean_x
        centre = moments.mean_y + ols.m * offset
        half = quantile * np.hypot(per_weight, (ols.stderr_m or 0.0) * offset)
    return centre, half
