"""Compiled loops (Numba) for the small-problem path, where NumPy's fixed cost per call and
the Python between the calls outweigh the arithmetic.

A fit of a hundred points needs a few hundred floating-point operations, but through NumPy
and `math.fsum` it took about twenty calls for the moments and seven for the mean absolute
residual, about a microsecond each. Each function here does its whole job in one call with
the same mathematics:

- `small_moments`: the moments of an unweighted data set, as `service.core.moments` defines
  them. The means are exactly rounded, fsum(x) / n, with `_add` and `_rounded` (Shewchuk's
  algorithm as CPython's ``math.fsum`` implements it, partials and the final half-even
  correction included: the same bits), and their remainders lo = fsum(x_1, ..., x_n, -p, -e)
  / n with n mean = p + e split exactly by Dekker's two-product (`product_error`), continued
  from the partials of the mean's own sum. The
  centred sums are the corrected two-pass ones: sum d_i^2 - (n lo)^2 / n with d_i = x_i -
  mean, the mean kept within [min x, max x]. `exact_mean` is that mean alone, for
  `service.core.exact_sums.deviations` (up to 4,096 values). min_cost
  is (Syy - Sxy^2 / Sxx) / n, or for a near-perfect fit (1 - r^2 <= 1e-4) the residuals'
  own sum of squares around their mean. Anything unusual (a value that is not finite, an
  intermediate overflow, spreads whose squares leave float64's comfortable range, constant
  x) answers ``ok = False``, and the caller's NumPy path handles and reports it.
- `absolute_residual_sum`: sum_i |((y_i - mean_y) - m (x_i - mean_x)) - c|, the terms as
  `service.core.statistics` forms them (for up to 4,096 points).
- `matrix_power`: a 2 x 2 matrix to the power k >= 1 by repeated squaring from the leading
  bit of k (a itself for that bit, no squaring of the identity).

Sums over points run in index order (not NumPy's pairwise order): within n eps of the exact
sum, for the at most 4,096 points these functions take. Float division follows IEEE 754
(``error_model="numpy"``: inf or nan, never an exception) and no operation is contracted
into a fused multiply-add. Each function is compiled on its first call and cached on disk
(``NUMBA_CACHE_DIR``, else ``__pycache__`` beside this file, else a per-user cache directory);
`warm_up` compiles them all, for the writable and the read-only arrays (pyarrow's) bodies
bring.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = [
    "SmallMoments",
    "absolute_residual_sum",
    "exact_mean",
    "matrix_power",
    "product_error",
    "small_moments",
    "warm_up",
]

FloatArray = NDArray[np.float64]
SmallMoments = tuple[bool, float, float, float, float, float, float, float, float]
"""(ok, mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y) of `small_moments`."""

PARTIALS = 64
"""Room for an exact sum's partials (`_add`): non-overlapping float64s, at most about 40."""
SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's split of a float64 into two 26-bit halves
SAFE_SUMS = (2.0**-800, 2.0**800)
"""Centred sums within this range were squared without under- or overflow (`exact_sums` and
`moments` use it too; defined here, where the compiled code reads it as a constant)."""
SAFE_LOW, SAFE_HIGH = SAFE_SUMS
CANCELLATION_LIMIT = 1e-4
"""Below this 1 - r^2, syy - sxy^2 / sxx loses digits: sum the residuals instead (here and in
`service.core.moments`)."""

_jit = njit(cache=True, error_model="numpy")


@_jit
def _add(partials: FloatArray, count: int, x: float) -> int:
    """Add x to the partials (CPython's fsum loop); the new count, or -1 where a partial is
    not finite (an intermediate overflow, or an inf or nan summand)."""
    i = 0
    for j in range(count):
        y = partials[j]
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            partials[i] = lo
            i += 1
        x = hi
    if x != 0.0:
        if not math.isfinite(x):
            return -1
        partials[i] = x
        i += 1
    return i


@_jit
def _rounded(partials: FloatArray, count: int) -> float:
    """The exactly rounded value of the partials' sum (CPython's fsum ending)."""
    hi = 0.0
    if count > 0:
        n = count - 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            if y == x - hi:
                hi = x
    return hi


@_jit
def product_error(a: float, b: float) -> tuple[bool, float]:
    """(True, a b - fl(a b)) exactly (Dekker's two-product, Veltkamp's split), or (False, 0.0)
    where the split could over- or underflow; (True, 0.0) where fl(a b) is 0 for finite
    factors (an underflowed product counts as 0 there). The one implementation:
    `service.core.exact_sums.product_error` calls it."""
    p = a * b
    if not (1e-250 < abs(p) < 1e290 and abs(a) < 1e290 and abs(b) < 1e290):
        return p == 0 and math.isfinite(a) and math.isfinite(b), 0.0
    t = SPLIT * a
    a_hi = t - (t - a)
    a_lo = a - a_hi
    t = SPLIT * b
    b_hi = t - (t - b)
    b_lo = b - b_hi
    return True, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


@_jit
def _remainder(partials: FloatArray, count: int, n: int, mean: float, scratch: FloatArray) -> float:
    """(sum_i x_i - n mean) / n exactly rounded, from the `count` partials of sum_i x_i (left
    as they are; `scratch` takes the copy that is added to): n mean = p + e split exactly
    where it can be (`product_error`), so two more terms, else n copies of -mean (the same
    exact sum, hence the same bits); nan beyond float64."""
    scratch[:count] = partials[:count]
    split, error = product_error(float(n), mean)
    if split:
        terms = (-(n * mean), -error)
        for v in terms:
            count = _add(scratch, count, v)
            if count < 0:
                return math.nan
    else:
        for _ in range(n):
            count = _add(scratch, count, -mean)
            if count < 0:
                return math.nan
    return _rounded(scratch, count) / n


@_jit
def _exact_mean(values: FloatArray) -> tuple[bool, float, float]:
    """(True, mean, lo): the exactly rounded mean fsum(x) / n kept within [min x, max x]
    (equal values have exactly their value as mean) and its remainder lo (`_remainder`);
    (False, nan, nan) beyond float64 (a value not finite, or an intermediate overflow)."""
    partials, scratch = np.empty(PARTIALS), np.empty(PARTIALS)
    n = values.size
    count = 0
    for v in values:
        count = _add(partials, count, v)
        if count < 0:
            return False, math.nan, math.nan
    mean = min(max(_rounded(partials, count) / n, values.min()), values.max())
    lo = _remainder(partials, count, n, mean, scratch)
    return math.isfinite(lo), mean, lo


def exact_mean(values: FloatArray) -> tuple[bool, float, float]:
    """(ok, mean, lo) of a float64 array of shape (n,), n >= 1: the exactly rounded mean kept
    within the values' range and what it misses of the exact mean, exactly rounded (see the
    module docstring); ``ok`` False beyond float64."""
    result: tuple[bool, float, float] = _exact_mean(values)
    return result


@_jit
def _side(values: FloatArray, deviations: FloatArray) -> tuple[float, float, float, float]:
    """One coordinate: (mean, lo, sum of deviations n lo, sum of squared deviations), the
    deviations written into `deviations`; the mean nan beyond float64."""
    ok, mean, lo = _exact_mean(values)
    if not ok:
        return math.nan, 0.0, 0.0, 0.0
    return mean, lo, lo * values.size, _deviations(values, mean, deviations)


@_jit
def _deviations(values: FloatArray, mean: float, deviations: FloatArray) -> float:
    """d_i = x_i - mean into `deviations`; returns sum d_i^2."""
    squares = 0.0
    for i in range(values.size):
        d = values[i] - mean
        deviations[i] = d
        squares += d * d
    return squares


@_jit
def _small_moments(x: FloatArray, y: FloatArray) -> SmallMoments:
    n = x.size
    dx, dy = np.empty(n), np.empty(n)
    mean_x, lo_x, sum_dx, sxx = _side(x, dx)
    mean_y, lo_y, sum_dy, syy = _side(y, dy)
    fail = (False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if not (math.isfinite(mean_x) and math.isfinite(mean_y)):
        return fail
    total = float(n)
    sxx -= sum_dx * sum_dx / total
    syy -= sum_dy * sum_dy / total
    if not SAFE_LOW <= sxx <= SAFE_HIGH:
        return fail
    if not SAFE_LOW <= syy <= SAFE_HIGH:
        if syy != 0.0:
            return fail
        for d in dy:
            if d != 0.0:
                return fail
    cross = 0.0
    for i in range(n):
        cross += dx[i] * dy[i]
    sxy = cross - sum_dx * sum_dy / total
    if not math.isfinite(sxy):
        return fail
    slope = sxy / sxx
    unexplained = syy - sxy * slope
    if unexplained > CANCELLATION_LIMIT * syy:
        min_cost = unexplained / total
    else:  # near-perfect: the residuals' own squares, around their mean
        height = (sum_dy - slope * sum_dx) / total
        remaining = 0.0
        squares = 0.0
        for i in range(n):
            r = (dy[i] - slope * dx[i]) - height
            remaining += r
            squares += r * r
        min_cost = (squares - remaining * remaining / total) / total
    return True, mean_x, mean_y, sxx, sxy, syy, max(0.0, min_cost), lo_x, lo_y


def small_moments(x: FloatArray, y: FloatArray) -> SmallMoments:
    """(ok, mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y) of the unweighted points
    (float64 arrays of one shape (n,), n >= 2; see the module docstring); ``ok`` False
    where the NumPy path must decide."""
    result: SmallMoments = _small_moments(x, y)
    return result


@_jit
def _absolute_residual_sum(
    x: FloatArray, y: FloatArray, m: float, c: float, mean_x: float, mean_y: float
) -> float:
    total = 0.0
    for i in range(x.size):
        total += abs(((y[i] - mean_y) - m * (x[i] - mean_x)) - c)
    return total


def absolute_residual_sum(
    x: FloatArray, y: FloatArray, m: float, c: float, mean_x: float, mean_y: float
) -> float:
    """sum_i |((y_i - mean_y) - m (x_i - mean_x)) - c| over float64 arrays x, y of shape
    (n,), summed in index order (inf or nan where a term is)."""
    return float(_absolute_residual_sum(x, y, float(m), float(c), float(mean_x), float(mean_y)))


@_jit
def _matrix_power(
    a00: float, a01: float, a10: float, a11: float, k: int
) -> tuple[float, float, float, float]:
    top = 0
    while k >> (top + 1):
        top += 1
    r00, r01, r10, r11 = a00, a01, a10, a11
    for bit in range(top - 1, -1, -1):
        r00, r01, r10, r11 = (
            r00 * r00 + r01 * r10,
            r00 * r01 + r01 * r11,
            r10 * r00 + r11 * r10,
            r10 * r01 + r11 * r11,
        )
        if (k >> bit) & 1:
            r00, r01, r10, r11 = (
                a00 * r00 + a01 * r10,
                a00 * r01 + a01 * r11,
                a10 * r00 + a11 * r10,
                a10 * r01 + a11 * r11,
            )
    return r00, r01, r10, r11


def matrix_power(a: tuple[float, float, float, float], k: int) -> tuple[float, float, float, float]:
    """a^k for a 2 x 2 matrix a = (a00, a01, a10, a11) and k >= 1, by repeated squaring from
    the most significant bit of k (a itself for that bit: no squaring of the identity)."""
    if k < 1:
        raise ValueError(f"matrix_power needs k >= 1 (got {k})")
    a00, a01, a10, a11 = a
    power: tuple[float, float, float, float] = _matrix_power(
        float(a00), float(a01), float(a10), float(a11), int(k)
    )
    return power


def warm_up() -> None:
    """Compile (or load from the cache) every function here, so that no request waits for
    it: about a second on first use, milliseconds from the cache."""
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([1.0, 0.5, 2.5])
    frozen_x, frozen_y = x.copy(), y.copy()
    frozen_x.setflags(write=False)
    frozen_y.setflags(write=False)
    for points in ((x, y), (frozen_x, frozen_y)):
        exact_mean(points[0])
        small_moments(*points)
        absolute_residual_sum(*points, 1.0, 0.0, 1.0, 1.0)
    product_error(1.0, 3.0)
    matrix_power((1.0, 0.5, 0.25, 1.0), 5)
