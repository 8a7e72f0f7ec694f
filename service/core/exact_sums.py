"""Sums that keep their digits: exact products (Dekker's two-product), exactly rounded means
and their remainders (`math.fsum`), deviations around a shifted origin, and the powers of two
that keep squares of extreme spreads and weights inside float64. `service.core.moments`
builds the data's moments from them; `line_height` also serves the statistics.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EXACT_SUM_POINTS",
    "SAFE_SPREAD",
    "SAFE_SUMS",
    "SAFE_WEIGHTS",
    "deviations",
    "dot",
    "exact_mean",
    "exponent_for",
    "ldexp_inf",
    "line_height",
    "product_error",
    "remainder",
    "spread_exponent",
    "weight_exponent",
    "weighted_deviations",
]


SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's split of a float64 into two 26-bit halves


def product_error(a: float, b: float) -> float | None:
    """a b - fl(a b) exactly (Dekker's two-product), or None where the split could overflow
    or underflow (then the caller takes the exact product from fractions)."""
    p = a * b
    if not (1e-250 < abs(p) < 1e290 and abs(a) < 1e290 and abs(b) < 1e290):
        return 0.0 if p == 0 and math.isfinite(a) and math.isfinite(b) else None
    t = SPLIT * a
    a_hi = t - (t - a)
    a_lo = a - a_hi
    t = SPLIT * b
    b_hi = t - (t - b)
    b_lo = b - b_hi
    return ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def line_height(
    m: float, b: float, mean_x: float, mean_y: float, lo_x: float = 0.0, lo_y: float = 0.0
) -> float:
    """b + m (mean_x + lo_x) - (mean_y + lo_y), rounded once from its exact value: the line's
    height error at the data's mean x (each product split exactly, the sum by `math.fsum`;
    fractions where a split could over- or underflow). A line near data on timestamps has
    b ~ -m mean_x, and any rounding of these terms is a change of the height that the
    slope's gradient multiplies by mean_x."""
    error = product_error(m, mean_x)
    try:
        if error is None:
            raise ValueError
        return math.fsum((b, m * mean_x, error, m * lo_x, -mean_y, -lo_y))
    except (OverflowError, ValueError):
        if not all(map(math.isfinite, (m, b, mean_x, mean_y))):
            return b + m * mean_x - mean_y
        exact = Fraction(b) + Fraction(m) * Fraction(mean_x) - Fraction(mean_y)
        exact += Fraction(m) * Fraction(lo_x) - Fraction(lo_y)
        try:
            return float(exact)
        except OverflowError:
            return math.copysign(math.inf, exact)


def ldexp_inf(value: float, exponent: int) -> float:
    """value * 2**exponent, overflowing to inf (math.ldexp raises instead)."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(value, exponent))


SAFE_SPREAD = 2.0**400
"""Deviations within [1 / SAFE_SPREAD, SAFE_SPREAD] are squared as they are; others are
scaled by a power of two first (their squares, times a million points, stay normal)."""


SAFE_SUMS = (2.0**-800, 2.0**800)
"""Centred sums within this range were squared without under- or overflow."""

SAFE_WEIGHTS = (2.0**-100, 2.0**100)
"""Weights (largest weight; a caller's sum_w) within this range are used as they are; others
are divided by a power of two first, so that weight times squared spread stays normal."""


def exponent_for(spread: float) -> int:
    """0 if `spread` is safe to square, else the power of two that brings it near 1."""
    if not math.isfinite(spread) or 1 / SAFE_SPREAD <= spread <= SAFE_SPREAD:
        return 0
    return math.frexp(spread)[1]


def weight_exponent(weight: float) -> int:
    """0 if `weight` (the largest weight, or a total) is safe, else its binary exponent."""
    if SAFE_WEIGHTS[0] <= weight <= SAFE_WEIGHTS[1]:
        return 0
    return math.frexp(weight)[1]


def spread_exponent(total: float, ew: int) -> int:
    """The x or y exponent of a caller's centred sum `total` of weights scaled by 2**-ew: 0
    when total * 2**-ew is safe, else about half its binary exponent."""
    if ew == 0:
        return exponent_for(math.sqrt(total))
    exponent = math.frexp(total)[1] - ew  # of total * 2**-ew, without computing it
    if -800 <= exponent <= 800:
        return 0
    return (exponent + 1) // 2


def dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    # einsum's own SIMD loop: as accurate as BLAS dot here and free of its thread start-up.
    return float(np.einsum("i,i->", a, b))


EXACT_SUM_POINTS = 4096
"""Up to this many values, a mean is their exactly rounded sum (`math.fsum`) over n."""


def exact_mean(listed: list[float], n: int) -> tuple[float, float]:
    """The exactly rounded mean of `listed` (n values) kept within their [min, max], and its
    remainder lo (`remainder`). Raises OverflowError or ValueError beyond float64."""
    mean = min(max(math.fsum(listed) / n, min(listed)), max(listed))
    return mean, remainder(listed, n, mean)


def remainder(listed: list[float], n: int, mean: float) -> float:
    """What `mean` misses of the mean of `listed` (n values): (sum_i x_i - n mean) / n,
    exactly rounded.

    n mean is split exactly (two-product) where it can be, so this is one `math.fsum` over
    n + 2 values; else over the n values and n copies of -mean (the same exact sum, hence
    the same bits). Raises OverflowError or ValueError beyond float64.
    """
    error = product_error(float(n), mean)
    if error is None:
        return math.fsum(itertools.chain(listed, itertools.repeat(-mean, n))) / n
    listed.append(-n * mean)
    listed.append(-error)
    lo = math.fsum(listed) / n
    del listed[n:]
    return lo


def deviations(values: NDArray[np.float64]) -> tuple[float, NDArray[np.float64], float, float]:
    """The mean, the deviations, their sum and the mean's remainder lo (the exact mean is
    about mean + lo).

    Up to EXACT_SUM_POINTS values the mean is their exactly rounded sum (`math.fsum`) over
    n, kept within [min, max] (so equal values have exactly their value as mean), and lo the
    exactly rounded sum of x_i - mean over n: within an ulp however much the values cancel
    (y = +-0.181 has mean 1e-10 to all its digits, which a descent on timestamps multiplies
    by mean x ~ 1e18). Beyond, the mean is taken around a shifted origin (the first value),
    as accurate as the spread allows (eps times the spread), and lo is the deviations' sum
    over n where every deviation is exact (|x_i - mean| <= |mean| / 2, Sterbenz), else 0.
    """
    n = values.size
    if n <= EXACT_SUM_POINTS:
        listed = values.tolist()
        try:
            mean, lo = exact_mean(listed, n)
            deviations = values - mean
            return mean, deviations, float(np.sum(deviations)), lo
        except (OverflowError, ValueError):  # beyond float64 (or not finite: checked later)
            pass
    shift = float(values[0])
    mean = shift + float(np.sum(values - shift)) / n
    deviations = values - mean
    total = float(np.sum(deviations))
    limit = 0.5 * abs(mean)  # two reductions without a temporary of size n
    with np.errstate(invalid="ignore"):
        exact = (
            math.isfinite(total)
            and -limit <= float(deviations.min())
            and float(deviations.max()) <= limit
        )
    return mean, deviations, total, total / n if exact else 0.0


def weighted_deviations(
    values: NDArray[np.float64], weights: NDArray[np.float64], total: float
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], float]:
    """The weighted mean around a shifted origin, the deviations d, w * d and sum w * d."""
    shift = float(values[0])
    mean = shift + dot(weights, values - shift) / total
    deviations = values - mean
    weighted = weights * deviations
    return mean, deviations, weighted, float(np.sum(weighted))
