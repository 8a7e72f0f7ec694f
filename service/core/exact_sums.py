"""Sums that keep their digits: exact products (Dekker's two-product), exactly rounded means
and their remainders (`math.fsum`'s algorithm, compiled in `service.core.kernels`),
deviations around a shifted origin, and the powers of two
that keep squares of extreme spreads and weights inside float64. `service.core.moments`
builds the data's moments from them; `line_height` also serves the statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from service.core import kernels

__all__ = [
    "DOT_BLOCK",
    "EXACT_SUM_POINTS",
    "SAFE_SPREAD",
    "SAFE_SUMS",
    "SAFE_WEIGHTS",
    "Centred",
    "deviation_extremes",
    "deviations",
    "dot",
    "exponent_for",
    "far_from_mean",
    "ldexp_inf",
    "line_height",
    "mean_remainder",
    "origin",
    "product_error",
    "spread_exponent",
    "weight_exponent",
    "weighted_deviations",
]


def product_error(a: float, b: float) -> float | None:
    """a b - fl(a b) exactly (Dekker's two-product), or None where the split could overflow
    or underflow (then the caller takes the exact product from fractions); compiled,
    `service.core.kernels.product_error`."""
    exact, error = kernels.product_error(float(a), float(b))
    return error if exact else None


def line_height(
    m: float, b: float, mean_x: float, mean_y: float, lo_x: float = 0.0, lo_y: float = 0.0
) -> float:
    """b + m (mean_x + lo_x) - (mean_y + lo_y), rounded once from its exact value: the line's
    height error at the data's mean x (each product split exactly, the sum as `math.fsum`
    takes it: compiled, `service.core.kernels.line_height`; fractions where a split could
    over- or underflow). A line near data on timestamps has b ~ -m mean_x, and any rounding
    of these terms is a change of the height that the slope's gradient multiplies by
    mean_x."""
    exact_sum, height = kernels.line_height(
        float(m), float(b), float(mean_x), float(mean_y), float(lo_x), float(lo_y)
    )
    if exact_sum:
        return float(height)
    if not all(map(math.isfinite, (m, b, mean_x, mean_y))):
        return b + m * mean_x - mean_y
    exact = Fraction(b) + Fraction(m) * Fraction(mean_x) - Fraction(mean_y)
    exact += Fraction(m) * Fraction(lo_x) - Fraction(lo_y)
    try:
        return float(exact)
    except OverflowError:  # (math.copysign would convert the fraction, and overflow too)
        return math.inf if exact > 0 else -math.inf


def ldexp_inf(value: float, exponent: int) -> float:
    """value * 2**exponent, overflowing to inf (math.ldexp raises instead)."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(value, exponent))


SAFE_SPREAD = 2.0**400
"""Deviations within [1 / SAFE_SPREAD, SAFE_SPREAD] are squared as they are; others are
scaled by a power of two first (their squares, times a million points, stay normal)."""


SAFE_SUMS = kernels.SAFE_SUMS

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


DOT_BLOCK = 4096
"""`dot` takes BLAS dots of blocks of this many values: below BLAS's threading thresholds
(OpenBLAS: 10,000), so one thread does each and no thread pool is woken (a busy machine
would make the call wait for it), and the bits depend on the length only, not on where the
arrays lie."""


def dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """sum_i a_i b_i: BLAS dots of DOT_BLOCK-value blocks (one batched matmul call), summed
    pairwise, plus the dot of the remaining values. Twice as fast as einsum's own loop,
    and as accurate (each block's error n_block eps, the blocks' sum log2(n) eps)."""
    whole = a.size - a.size % DOT_BLOCK
    if not whole:
        return float(a @ b)
    blocks = np.matmul(a[:whole].reshape(-1, 1, DOT_BLOCK), b[:whole].reshape(-1, DOT_BLOCK, 1))
    return float(np.sum(blocks)) + float(a[whole:] @ b[whole:])


EXACT_SUM_POINTS = 4096
"""Up to this many values, a mean is their exactly rounded sum over n
(`service.core.kernels.exact_mean`)."""


class Centred(NamedTuple):
    """One coordinate around an origin o near its mean: the mean, its remainder lo (the
    exact mean is about mean + lo), the deviations d_i = x_i - o, their sum and the sum of
    their squares. The centred sum of squares is squares - total^2 / n whatever o is."""

    mean: float
    lo: float
    deviations: NDArray[np.float64]
    total: float
    squares: float


ORIGIN_SAMPLE = 64
"""The origin of a large coordinate is the value, among about this many evenly strided ones,
nearest to their mean."""

STERBENZ_MARGIN = 1 + 1e-6
"""Room for the rounding of a sum of squares (n eps, with n far below 1e9) in the exactness
decisions of `deviations`."""


def origin(values: NDArray[np.float64]) -> float:
    """A value of `values` near their mean, from a strided sample: equal values give their
    value, so that their deviations are exactly 0 (non-finite samples give values[0])."""
    sample = values[:: max(1, values.size // ORIGIN_SAMPLE)]
    with np.errstate(over="ignore", invalid="ignore"):
        return float(sample[np.argmin(np.abs(sample - np.mean(sample)))])


def deviations(values: NDArray[np.float64]) -> Centred:
    """The mean of `values`, its remainder, and the deviations around an origin near it.

    Up to EXACT_SUM_POINTS values the mean is their exactly rounded sum over n
    (`service.core.kernels.exact_mean`: `math.fsum`'s algorithm), kept within [min, max] (so
    equal values have exactly their value as mean), it is the origin, and lo is the exactly
    rounded sum of x_i - mean over n: within an ulp however much the values cancel
    (y = +-0.181 has mean 1e-10 to all its digits, which a descent on timestamps multiplies
    by mean x ~ 1e18).

    Beyond, one pass of deviations d_i = x_i - o around a value o of the data near its mean
    (`origin`; equal values: their value, all d_i = 0), with their sum T and the sum of
    squares Q: mean = o + T / n, as accurate as the spread allows (eps times the spread).
    Where o is too far from the mean for the corrected sum Q - T^2 / n (16 T^2 > n Q, or Q
    beyond SAFE_SUMS), the deviations are taken again around that mean. lo is
    (o + T / n) - mean (exact two-sum) where every d_i is exact (|d_i| <= |o| / 2, Sterbenz:
    then T is their sum to the pairwise sum's accuracy), else 0. That test costs no pass
    where Q decides it, since sqrt(Q / n) <= max |d_i| <= sqrt(Q): exact where
    sqrt(Q) <= |o| / 2, not where sqrt(Q / n) > |o| / 2; only in between are min and max
    of the d_i taken.
    """
    n = values.size
    if n <= EXACT_SUM_POINTS:
        exact, mean, lo = kernels.exact_mean(values)
        if exact:  # (else beyond float64, or not finite: checked later)
            d = values - mean
            return Centred(mean, lo, d, float(np.sum(d)), dot(d, d))
    centre = origin(values)
    d = values - centre
    total = float(np.sum(d))
    squares = dot(d, d)
    mean = centre + total / n
    if far_from_mean(n, centre, total, squares):
        centre = mean
        np.subtract(values, centre, out=d)
        total = float(np.sum(d))
        squares = dot(d, d)
        mean = centre + total / n
    lo = mean_remainder(n, centre, total, squares, lambda: deviation_extremes(values, centre))
    return Centred(mean, lo, d, total, squares)


def deviation_extremes(values: NDArray[np.float64], centre: float) -> tuple[float, float]:
    """(min, max) of the rounded deviations values_i - centre: the rounded deviations of the
    extreme values, since rounding keeps order."""
    return float(values.min()) - centre, float(values.max()) - centre


def far_from_mean(n: int, centre: float, total: float, squares: float) -> bool:
    """Whether deviations around `centre` (n of them, summing to `total`, their squares to
    `squares`) are to be taken again around their mean centre + total / n: the corrected
    sum squares - total^2 / n loses digits (16 total^2 > n squares) or the squares are
    beyond SAFE_SUMS, and that mean is another number."""
    far = not (SAFE_SUMS[0] <= squares <= SAFE_SUMS[1] and 16.0 * total * total <= n * squares)
    return far and centre + total / n != centre


def mean_remainder(
    n: int,
    centre: float,
    total: float,
    squares: float,
    extremes: Callable[[], tuple[float, float]],
) -> float:
    """lo of `deviations` (the exact mean is about mean + lo, mean = centre + total / n) from
    the deviations' sum and sum of squares: the two-sum's remainder where every deviation is
    exact (all within |centre| / 2, Sterbenz), else 0. `extremes` gives (min d_i, max d_i),
    asked for only where `squares` leaves that undecided."""
    if not math.isfinite(total):
        return 0.0
    limit = 0.5 * abs(centre)
    if SAFE_SUMS[0] <= squares <= SAFE_SUMS[1] and math.isfinite(limit):
        root = math.sqrt(squares)
        exact = root * STERBENZ_MARGIN <= limit
        decided = exact or root > limit * STERBENZ_MARGIN * math.sqrt(n)
    else:  # squares under- or overflowed: they tell nothing of the largest |d_i|
        exact = decided = False
    if not decided:
        low, high = extremes()
        exact = -limit <= low and high <= limit
    if not exact:
        return 0.0
    # Two-sum: centre + shift = mean + lo exactly, shift the deviations' mean.
    shift = total / n
    mean = centre + shift
    part = mean - centre
    return (centre - (mean - part)) + (shift - part)


def weighted_deviations(
    values: NDArray[np.float64], weights: NDArray[np.float64], total: float
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], float]:
    """The weighted mean around a shifted origin, the deviations d, w * d and sum w * d."""
    shift = float(values[0])
    mean = shift + dot(weights, values - shift) / total
    deviations = values - mean
    weighted = weights * deviations
    return mean, deviations, weighted, float(np.sum(weighted))
