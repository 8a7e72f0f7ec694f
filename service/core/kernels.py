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
  from the partials of the mean's own sum. Where the values' binary exponents lie within 60
  of each other (almost any data), the exact sum is first found as whole multiples of the
  smallest value's last bit in three 50-bit integer limbs (`_limb_sum`, a few nanoseconds a
  value against about ten for the partials), and the partials start from its three exact
  float64 parts: the same exact sum, so the same bits. The
  centred sums are the corrected two-pass ones: sum d_i^2 - (n lo)^2 / n with d_i = x_i -
  mean, the mean kept within [min x, max x]. `exact_mean` is that mean alone, for
  `service.core.exact_sums.deviations` (up to 4,096 values). min_cost
  is (Syy - Sxy^2 / Sxx) / n, or for a near-perfect fit (1 - r^2 <= 1e-4) the residuals'
  own sum of squares around their mean. Anything unusual (a value that is not finite, an
  intermediate overflow, spreads whose squares leave float64's comfortable range, constant
  x) answers ``ok = False``, and the caller's NumPy path handles and reports it.
- `line_height`: b + m (mean_x + lo_x) - (mean_y + lo_y) as ``math.fsum`` sums its terms
  (m mean_x split exactly), for `service.core.exact_sums.line_height`.
- `absolute_residual_sum`: sum_i |((y_i - mean_y) - m (x_i - mean_x)) - c|, the terms as
  `service.core.statistics` forms them (for up to 4,096 points); beyond,
  `absolute_residual_block_sums`, the same terms' sums per block of points.
- `centred_sums` and `residual_sums`: the large data sets' moments of
  `service.core.moments` (the deviations' sums, squares and cross products) and a
  near-perfect fit's residual sums, one pass over the points each, no temporary stored,
  summed in blocks as NumPy's pairwise sum is (`block_totals` adds the blocks).
- `matrix_power`: a 2 x 2 matrix to the power k >= 1 by repeated squaring from the leading
  bit of k (a itself for that bit, no squaring of the identity).
- `trajectory_points`: the small path's points (u, m, b, cost) of plain gd at any set of
  epochs: a few by repeated squaring, many from tables of powers in blocks of ~sqrt(epochs)
  (a history of 10,000 epochs in about 0.1 ms instead of 2), with the same views of m and b
  as `service.core.scalar` describes; `first_below`, the first epoch whose gradient norm is
  at most a tolerance, by the same tables, every epoch in turn.

The small path's sums over points run in index order (not NumPy's pairwise order): within n
eps of the exact sum, for the at most 4,096 points they take; the block sums' bounds are in
their docstrings. Float division follows IEEE 754
(``error_model="numpy"``: inf or nan, never an exception) and no operation is contracted
into a fused multiply-add. Each function is compiled on its first call and cached on disk
(``NUMBA_CACHE_DIR``, else ``__pycache__`` beside this file, else a per-user cache directory);
`warm_up` compiles them all, for the writable and the read-only arrays (pyarrow's) bodies
bring. Numba checks a cached function against its own file only, and the small fit's
compiled code calls compiled functions of other files of the core: `drop_stale_cache` clears
the cache beside the sources whenever any of them changed, when this module is imported.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from service.core.double_double import inlined, two_product, two_sum

__all__ = [
    "SmallMoments",
    "absolute_residual_block_sums",
    "absolute_residual_sum",
    "block_totals",
    "centred_sums",
    "residual_sums",
    "compiled",
    "drop_stale_cache",
    "exact_mean",
    "first_below",
    "line_height",
    "matrix_power",
    "optimum",
    "pack_parameters",
    "PARAMETERS",
    "product_error",
    "small_moments",
    "square_remainder",
    "start_view",
    "trajectory_parameters",
    "trajectory_point",
    "trajectory_points",
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


def drop_stale_cache(package: Path = Path(__file__).parent) -> bool:
    """Remove the Numba cache in the `package`'s ``__pycache__`` when any of its sources
    changed since the cache was written (a digest of them, kept beside it); whether it did.

    Numba drops a cached function when its own file changes, but not when a compiled function
    it calls from another file does (`service.core.scalar`'s compiled fit calls those of
    this module, `advice` and `statistics`), and would quietly keep the old code. Sources
    change where they are edited, beside this cache; a cache elsewhere (``NUMBA_CACHE_DIR``,
    as the container sets it) belongs to an installed, unchanging copy and is left alone, as
    is a directory this process may not write.
    """
    cache = package / "__pycache__"
    if os.environ.get("NUMBA_CACHE_DIR") or not os.access(cache, os.W_OK):
        return False
    digest = hashlib.sha256()
    for source in sorted(package.glob("*.py")):
        digest.update(source.read_bytes())
    stamp = cache / "numba-sources.sha256"
    try:
        written = stamp.read_text()
    except OSError:  # none yet: the cache's sources are unknown
        written = ""
    if written == digest.hexdigest():
        return False
    try:
        for cached in (*cache.glob("*.nbi"), *cache.glob("*.nbc")):
            cached.unlink(missing_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:  # (another process at it, or a read-only copy: Numba copes either way)
        return False
    return True


drop_stale_cache()

compiled = njit(cache=True, error_model="numpy")
"""How every compiled function of the core is compiled (here and in the modules whose
mathematics it compiles: `service.core.scalar`, `advice`, `statistics`): cached on disk, IEEE
division, no fused multiply-adds."""
_jit = compiled


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
def line_height(
    m: float, b: float, mean_x: float, mean_y: float, lo_x: float, lo_y: float
) -> tuple[bool, float]:
    """(True, b + m (mean_x + lo_x) - (mean_y + lo_y) rounded once from its exact value), the
    product m mean_x split exactly (`product_error`) and the six terms summed as ``math.fsum``
    does (the same bits); (False, nan) where the split could over- or underflow or a partial
    is not finite, which `service.core.exact_sums.line_height` then takes from fractions."""
    exact, error = product_error(m, mean_x)
    if not exact:
        return False, math.nan
    partials = np.empty(PARTIALS)
    count = 0
    for term in (b, m * mean_x, error, m * lo_x, -mean_y, -lo_y):
        count = _add(partials, count, term)
        if count < 0:
            return False, math.nan
    return True, _rounded(partials, count)


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


LIMB = 2.0**50
"""The limbs of `_limb_sum`: 50 bits, so that 8,192 of them add up within an int64."""
LIMB_MASK = (1 << 50) - 1
LIMB_SPAN = 60
"""`_limb_sum` takes values whose binary exponents lie within this many of each other."""


@_jit
def _limb_sum(values: FloatArray) -> tuple[bool, float, float, float]:
    """(True, high, middle, low): the exact sum of the values as three float64s, or
    (False, ...) for `_exact_mean`'s partials to find it.

    Every value is a whole multiple of 2^q, q = e_min - 53 (e_min the binary exponent of the
    smallest nonzero magnitude), so v 2^-q is an integer below 2^(e_max - e_min + 53). Split
    into three signed 50-bit limbs (each split exact: truncation keeps the value's own bits),
    the limbs add up in int64s without rounding; their carries normalized, each limb times
    its power of two is one float64, exactly. Taken where that all holds: finite values far
    from overflow, exponents within `LIMB_SPAN` of each other, q in float64's normal range,
    at most 8,192 values. A few nanoseconds a value, against about ten for the partials."""
    n = values.size
    total = 0.0
    small, big = math.inf, 0.0
    for v in values:
        total += v
        a = abs(v)
        big = max(big, a)
        if a > 0.0:
            small = min(small, a)
    if not (math.isfinite(total) and big < 2.0**900 and small < math.inf and n <= 8192):
        return False, 0.0, 0.0, 0.0
    e_small, e_big = math.frexp(small)[1], math.frexp(big)[1]
    q = e_small - 53
    if e_big - e_small > LIMB_SPAN or q < -1022:
        return False, 0.0, 0.0, 0.0
    scale = math.ldexp(1.0, -q)
    high = middle = low = 0
    for v in values:
        s = v * scale
        h = math.trunc(s / (LIMB * LIMB))
        r = s - h * (LIMB * LIMB)
        m = math.trunc(r / LIMB)
        high += int(h)
        middle += int(m)
        low += int(r - m * LIMB)
    middle += low >> 50
    low &= LIMB_MASK
    high += middle >> 50
    middle &= LIMB_MASK
    unit = math.ldexp(1.0, q)
    return (
        True,
        float(high) * (unit * LIMB * LIMB),
        float(middle) * (unit * LIMB),
        float(low) * unit,
    )


@_jit
def _exact_mean(values: FloatArray) -> tuple[bool, float, float]:
    """(True, mean, lo): the exactly rounded mean fsum(x) / n kept within [min x, max x]
    (equal values have exactly their value as mean) and its remainder lo (`_remainder`);
    (False, nan, nan) beyond float64 (a value not finite, or an intermediate overflow)."""
    partials, scratch = np.empty(PARTIALS), np.empty(PARTIALS)
    n = values.size
    count = 0
    exact, high, middle, low = _limb_sum(values)
    if exact:  # the same exact sum, as three float64s: the same partials' rounding
        for part in (low, middle, high):
            count = _add(partials, count, part)
    else:
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


@_jit
def square_remainder(values: FloatArray, mean: float, lo: float, squares: float) -> float:
    """What the rounded centred sum of squares `squares` misses of the exact one around the
    exact mean mean + lo: sum_i (x_i - mean - lo)^2 - squares, to about 2^-100 of it plus
    2 n |lo| times lo's own last bit (the exact mean is mean + lo to that).

    Each x_i - mean is split exactly into d_i + t_i (two-sum) and d_i^2 into its rounded
    value and error (two-product); the leading parts are summed error-free and the rest in
    float64, and sum_i (x_i - mean) = n lo takes the mean's remainder out:
    sum (x_i - mean - lo)^2 = sum (d_i + t_i)^2 - n lo^2. (Squares below float64's normal
    range lose their errors' last bits: far below 2^-100 of sums within `SAFE_SUMS`.)"""
    total, rest = 0.0, 0.0
    for value in values:
        d, t = two_sum(value, -mean)
        p, e = two_product(d, d)
        total, carried = two_sum(total, p)
        rest += carried + (e + (2 * d * t + t * t))
    high, low = two_sum(total, -squares)
    return high + (low + (rest - values.size * lo * lo))


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


RESIDUAL_LANES = 8
"""Partial sums of `absolute_residual_block_sums` within a block: lane j adds the terms
j, j + 8, j + 16, ... in turn, which the compiler keeps in vector registers."""


@_jit
def _absolute_residual_block_sums(
    x: FloatArray, y: FloatArray, m: float, c: float, mean_x: float, mean_y: float, block: int
) -> FloatArray:
    blocks = (x.size + block - 1) // block
    sums = np.empty(blocks)
    lanes = np.empty(RESIDUAL_LANES)
    for k in range(blocks):
        start = k * block
        stop = min(start + block, x.size)
        lanes[:] = 0.0
        full = start + (stop - start) // RESIDUAL_LANES * RESIDUAL_LANES
        for i in range(start, full, RESIDUAL_LANES):
            for j in range(RESIDUAL_LANES):
                lanes[j] += abs(((y[i + j] - mean_y) - m * (x[i + j] - mean_x)) - c)
        for i in range(full, stop):
            lanes[i - full] += abs(((y[i] - mean_y) - m * (x[i] - mean_x)) - c)
        sums[k] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + (
            (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
        )
    return sums


def absolute_residual_block_sums(
    x: FloatArray, y: FloatArray, m: float, c: float, mean_x: float, mean_y: float, block: int
) -> FloatArray:
    """The sums of |((y_i - mean_y) - m (x_i - mean_x)) - c| over consecutive blocks of
    `block` points of float64 arrays x, y of shape (n,): shape (ceil(n / block),), in one
    compiled pass with no temporaries. Within a block, `RESIDUAL_LANES` partial sums (lane j
    the terms j, j + 8, ... of the block, in turn) added pairwise: each sum of non-negative
    terms is within (block / 8 + 3) eps of its exact value (inf or nan where a term is)."""
    sums: FloatArray = _absolute_residual_block_sums(
        x, y, float(m), float(c), float(mean_x), float(mean_y), int(block)
    )
    return sums


CENTRED_BLOCK = 4096
"""Points per block of `centred_sums` and `residual_sums` (as
`service.core.exact_sums.DOT_BLOCK`)."""
RUN = 64
"""Points per run of those sums: four lanes of 16 terms each, added in turn (as NumPy's
pairwise sum adds 16 terms per accumulator), the runs of a block then added pairwise."""
TX, TY, QXX, QYY, QXY = range(5)
"""Rows of `centred_sums`' block sums."""


@inlined
def _pairwise(values: FloatArray, count: int) -> float:
    """values[0] + ... + values[count - 1] (count >= 1) by pairs, in place."""
    while count > 1:
        half = count // 2
        for i in range(half):
            values[i] = values[2 * i] + values[2 * i + 1]
        if count % 2:
            values[half] = values[count - 1]
        count -= half
    return float(values[0])


@_jit
def _centred_sums(x: FloatArray, y: FloatArray, cx: float, cy: float, block: int) -> FloatArray:
    n = x.size
    blocks = (n + block - 1) // block
    sums = np.empty((5, blocks))
    runs = np.empty((5, (block + RUN - 1) // RUN))
    for k in range(blocks):
        start = k * block
        stop = min(start + block, n)
        count = 0
        for first in range(start, stop, RUN):
            last = min(first + RUN, stop)
            full = first + (last - first) // 4 * 4
            # Four lanes of each sum as scalars: the compiler keeps them in vector registers
            # (arrays of lanes would go through memory; one lane would wait on each addition).
            t0 = t1 = t2 = t3 = u0 = u1 = u2 = u3 = 0.0  # sums of dx, of dy
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = c0 = c1 = c2 = c3 = 0.0  # dx^2, dy^2, dx dy
            for i in range(first, full, 4):
                d0, d1, d2, d3 = x[i] - cx, x[i + 1] - cx, x[i + 2] - cx, x[i + 3] - cx
                e0, e1, e2, e3 = y[i] - cy, y[i + 1] - cy, y[i + 2] - cy, y[i + 3] - cy
                t0, t1, t2, t3 = t0 + d0, t1 + d1, t2 + d2, t3 + d3
                u0, u1, u2, u3 = u0 + e0, u1 + e1, u2 + e2, u3 + e3
                a0, a1, a2, a3 = a0 + d0 * d0, a1 + d1 * d1, a2 + d2 * d2, a3 + d3 * d3
                b0, b1, b2, b3 = b0 + e0 * e0, b1 + e1 * e1, b2 + e2 * e2, b3 + e3 * e3
                c0, c1, c2, c3 = c0 + d0 * e0, c1 + d1 * e1, c2 + d2 * e2, c3 + d3 * e3
            for i in range(full, last):
                d0, e0 = x[i] - cx, y[i] - cy
                t0, u0, a0, b0, c0 = t0 + d0, u0 + e0, a0 + d0 * d0, b0 + e0 * e0, c0 + d0 * e0
            runs[TX, count] = (t0 + t1) + (t2 + t3)
            runs[TY, count] = (u0 + u1) + (u2 + u3)
            runs[QXX, count] = (a0 + a1) + (a2 + a3)
            runs[QYY, count] = (b0 + b1) + (b2 + b3)
            runs[QXY, count] = (c0 + c1) + (c2 + c3)
            count += 1
        for row in range(5):
            sums[row, k] = _pairwise(runs[row], count)
    return sums


def centred_sums(x: FloatArray, y: FloatArray, cx: float, cy: float) -> FloatArray:
    """The block sums of dx_i = x_i - cx, dy_i = y_i - cy, dx_i^2, dy_i^2 and dx_i dy_i over
    float64 arrays x, y of shape (n,), in one compiled pass that stores no deviation: rows
    `TX`, `TY`, `QXX`, `QYY`, `QXY` of an array of shape (5, ceil(n / CENTRED_BLOCK)), one
    column per block of `CENTRED_BLOCK` points. NumPy's pairwise summation in structure:
    runs of `RUN` points in four lanes (lane j the points j, j + 4, ... of the run, 16 terms
    added in turn), the lanes added pairwise, then the runs of the block pairwise: each
    block sum within (16 + 2 + 6) eps of the exact sum of its (rounded) terms, times the sum
    of their magnitudes. Non-finite where a term is."""
    sums: FloatArray = _centred_sums(x, y, float(cx), float(cy), CENTRED_BLOCK)
    return sums


@_jit
def _residual_sums(
    x: FloatArray, y: FloatArray, cx: float, cy: float, slope: float, height: float, block: int
) -> FloatArray:
    n = x.size
    blocks = (n + block - 1) // block
    sums = np.empty((2, blocks))
    runs = np.empty((2, (block + RUN - 1) // RUN))
    for k in range(blocks):
        start = k * block
        stop = min(start + block, n)
        count = 0
        for first in range(start, stop, RUN):
            last = min(first + RUN, stop)
            full = first + (last - first) // 4 * 4
            t0 = t1 = t2 = t3 = q0 = q1 = q2 = q3 = 0.0  # sums of r, of r^2
            for i in range(first, full, 4):
                r0 = ((y[i] - cy) - slope * (x[i] - cx)) - height
                r1 = ((y[i + 1] - cy) - slope * (x[i + 1] - cx)) - height
                r2 = ((y[i + 2] - cy) - slope * (x[i + 2] - cx)) - height
                r3 = ((y[i + 3] - cy) - slope * (x[i + 3] - cx)) - height
                t0, t1, t2, t3 = t0 + r0, t1 + r1, t2 + r2, t3 + r3
                q0, q1, q2, q3 = q0 + r0 * r0, q1 + r1 * r1, q2 + r2 * r2, q3 + r3 * r3
            for i in range(full, last):
                r0 = ((y[i] - cy) - slope * (x[i] - cx)) - height
                t0, q0 = t0 + r0, q0 + r0 * r0
            runs[0, count] = (t0 + t1) + (t2 + t3)
            runs[1, count] = (q0 + q1) + (q2 + q3)
            count += 1
        sums[0, k] = _pairwise(runs[0], count)
        sums[1, k] = _pairwise(runs[1], count)
    return sums


def residual_sums(
    x: FloatArray, y: FloatArray, cx: float, cy: float, slope: float, height: float
) -> tuple[float, float]:
    """(sum r_i, sum r_i^2) of the residuals r_i = ((y_i - cy) - slope (x_i - cx)) - height
    of float64 arrays x, y of shape (n,), each rounded as NumPy rounds that expression, in
    one compiled pass summed as `centred_sums` sums (runs, blocks, then the blocks
    pairwise, `block_totals`)."""
    sums = _residual_sums(x, y, float(cx), float(cy), float(slope), float(height), CENTRED_BLOCK)
    total, squares = block_totals(sums)
    return total, squares


def block_totals(sums: FloatArray) -> list[float]:
    """The total of each row of block sums (shape (rows, blocks)), the blocks added pairwise
    (NumPy's sum along a row); inf or nan where a total overflows, without a warning: the
    callers refuse non-finite totals."""
    with np.errstate(over="ignore", invalid="ignore"):
        totals: list[float] = np.sum(sums, axis=1).tolist()
    return totals


Matrix = tuple[float, float, float, float]
"""A 2 x 2 matrix (a00, a01, a10, a11)."""
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0)
ZERO: Matrix = (0.0, 0.0, 0.0, 0.0)
TINY = float(np.finfo(np.float64).smallest_normal)
DIGITS_KEPT = 1e3
"""m or b may lose this factor to cancellation before the start's view is consulted (as
`service.core.trajectory.DIGITS_KEPT`)."""
U_M, U_C, M, B, COST = range(5)
"""Rows of `trajectory_points`' answer."""


@_jit
def _times(a: Matrix, b: Matrix) -> Matrix:
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
    )


@_jit
def _plus(a: Matrix, b: Matrix) -> Matrix:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


@_jit
def _apply(a: Matrix, u0: float, u1: float) -> tuple[float, float]:
    return a[0] * u0 + a[1] * u1, a[2] * u0 + a[3] * u1


@_jit
def _matrix_power(a: Matrix, k: int) -> Matrix:
    top = 0
    while k >> (top + 1):
        top += 1
    power = a
    for bit in range(top - 1, -1, -1):
        power = _times(power, power)
        if (k >> bit) & 1:
            power = _times(a, power)
    return power


def matrix_power(a: Matrix, k: int) -> Matrix:
    """a^k for a 2 x 2 matrix a = (a00, a01, a10, a11) and k >= 1, by repeated squaring from
    the most significant bit of k (a itself for that bit: no squaring of the identity)."""
    if k < 1:
        raise ValueError(f"matrix_power needs k >= 1 (got {k})")
    a00, a01, a10, a11 = a
    power: Matrix = _matrix_power((float(a00), float(a01), float(a10), float(a11)), int(k))
    return power


@_jit
def _power_and_sum(a: Matrix, k: int) -> tuple[Matrix, Matrix]:
    """(a^k, a^0 + ... + a^(k-1)) by doubling from the leading bit of k:
    S_2n = S_n + a^n S_n, S_n+1 = S_n + a^n."""
    power, total = IDENTITY, ZERO
    top = 0
    while k >> (top + 1):
        top += 1
    for bit in range(top, -1, -1):
        total = _plus(total, _times(power, total))
        power = _times(power, power)
        if (k >> bit) & 1:
            total = _plus(total, power)
            power = _times(a, power)
    return power, total


@_jit
def _table(a: Matrix, count: int, powers: FloatArray, sums: FloatArray) -> tuple[Matrix, Matrix]:
    """powers[i] = a^i and (when sums has rows) sums[i] = a^0 + ... + a^(i-1) for
    i < count, by doubling: a^(f+i) = a^f a^i, S_(f+i) = S_f + a^f S_i. Answers (a^count,
    S_count) when count is a power of two."""
    with_sums = sums.shape[0] > 0
    powers[0] = IDENTITY
    if with_sums:
        sums[0] = ZERO
    doubled, doubled_sum = a, IDENTITY  # a^f, S_f
    filled = 1
    while filled < count:
        take = min(filled, count - filled)
        for i in range(take):
            p = (powers[i, 0], powers[i, 1], powers[i, 2], powers[i, 3])
            powers[filled + i] = _times(doubled, p)
            if with_sums:
                s = (sums[i, 0], sums[i, 1], sums[i, 2], sums[i, 3])
                sums[filled + i] = _plus(doubled_sum, _times(doubled, s))
        filled += take
        doubled_sum = _plus(doubled_sum, _times(doubled, doubled_sum))
        doubled = _times(doubled, doubled)
    return doubled, doubled_sum


PARAMETERS = 23
"""The length of an item's packed parameters (`pack_parameters`)."""


@_jit
def pack_parameters(
    p: FloatArray, a: Matrix, step: Matrix, b_row: tuple[float, float],
    u0: tuple[float, float], view: tuple[float, float, float, float, float, float, float, float],
    start: tuple[float, float, float],
) -> None:  # fmt: skip
    """The item's numbers for `trajectory_points`, `trajectory_point` and `first_below`,
    packed into `p` (shape (`PARAMETERS`,): one array crosses into compiled code far faster
    than a tuple of tuples): A (4), D = A - I (4), b's step row (2), u_0 (2), the view (8:
    scale_m, scale_c, m*, b*, mean_x, sqrt(vx), m* - m_ls, min_cost) and the start (3: m_0,
    b_0, 1.0 under standardize else 0.0). The one layout: the small path's compiled
    coefficients (`service.core.scalar`) pack with it too."""
    p[0], p[1], p[2], p[3] = a
    p[4], p[5], p[6], p[7] = step
    p[8], p[9] = b_row
    p[10], p[11] = u0
    p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19] = view
    p[20], p[21], p[22] = start


def trajectory_parameters(
    a: Matrix,
    step: Matrix,
    b_row: tuple[float, float],
    u0: tuple[float, float],
    view: tuple[float, float, float, float, float, float, float, float],
    start: tuple[float, float, float],
) -> FloatArray:
    """`pack_parameters` into a new array, from numbers of any kind (taken as float64)."""
    p = np.empty(PARAMETERS)
    pack_parameters(
        p, _floats(a), _floats(step), _floats(b_row), _floats(u0), _floats(view), _floats(start)
    )
    return p


def _floats(values: tuple[float, ...]) -> Any:
    return tuple(map(float, values))


@_jit
def _term_sizes(
    um: float, uc: float, scale_m: float, scale_c: float, m_star: float, b_star: float,
    mean_x: float,
) -> tuple[float, float]:  # fmt: skip
    """The sizes of the terms of m = m* + um and b = b* + (uc - mean_x um) (um, uc in
    original units), each u's own absolute rounding below the normal range included (as
    `Coefficients.floors`: a size whose eps-rounding is the subnormal spacing)."""
    size_um, size_uc = abs(um) + TINY * abs(scale_m), abs(uc) + TINY * abs(scale_c)
    return abs(m_star) + size_um, abs(b_star) + size_uc + abs(mean_x) * size_um


@_jit
def _observe(p: FloatArray, k: int, u_m: float, u_c: float) -> tuple[float, float, float, bool]:
    """(m, b, cost, lossy) at epoch k from u_k: lossy where m or b is more than DIGITS_KEPT
    times smaller than its terms (the start's view is then to be consulted)."""
    scale_m, scale_c, m_star, b_star, mean_x, root_vx, slope_gap, min_cost = p[12:20]
    um, uc = u_m * scale_m, u_c * scale_c
    spread = root_vx * (um + slope_gap)
    cost = min_cost + spread * spread + uc * uc
    if k == 0:  # the start itself, as given (no view needs consulting)
        return p[20], p[21], cost, False
    m = m_star + um
    b = b_star + (uc - mean_x * um)
    size_m, size_b = _term_sizes(um, uc, scale_m, scale_c, m_star, b_star, mean_x)
    kept = size_m <= DIGITS_KEPT * abs(m) and size_b <= DIGITS_KEPT * abs(b)
    return m, b, cost, not kept and math.isfinite(m) and math.isfinite(b)


@_jit
def _from_start(
    p: FloatArray, u_m: float, u_c: float, m: float, b: float, moved0: float, moved1: float
) -> tuple[float, float]:
    """m and b from the start plus the displacement (moved = S_k u_0), each where its terms
    are smaller than those of the optimum's view."""
    dm = (p[4] * moved0 + p[5] * moved1) * p[12]
    db = (p[8] * moved0 + p[9] * moved1) * p[13]
    shift = p[16] * dm if p[22] else 0.0
    take_m, take_b = start_view(p, u_m, u_c, dm, db, shift)
    if take_m:
        m = p[20] + dm
    if take_b:
        b = p[21] + (db - shift)
    return m, b


@_jit
def start_view(
    p: FloatArray, u_m: float, u_c: float, dm: float, db: float, shift: float
) -> tuple[bool, bool]:
    """Whether m, and whether b, is to come from the start's view, m_0 + dm and
    b_0 + (db - shift) (dm, db the displacements in original units, shift mean_x dm under
    standardize): where its terms are smaller than those of the optimum's view at the error
    u (`_term_sizes`). The one rule of both small paths (`service.core.momentum`)."""
    scale_m, scale_c = p[12], p[13]
    size_m, size_b = _term_sizes(
        u_m * scale_m, u_c * scale_c, scale_m, scale_c, p[14], p[15], p[16]
    )
    return (
        abs(p[20]) + abs(dm) + TINY * abs(scale_m) < size_m,
        abs(p[21]) + abs(db) + abs(shift) + TINY * abs(scale_c) < size_b,
    )


@_jit
def optimum(p: FloatArray) -> tuple[float, float, float]:
    """(m*, b*, the optimum's MSE min_cost + vx (m* - m_ls)^2) from the packed parameters
    (`pack_parameters`): the one formula of both small paths."""
    spread = p[17] * p[18]
    return p[14], p[15], p[19] + spread * spread


@_jit
def _trajectory_point(p: FloatArray, k: int) -> tuple[float, float, float, float, float]:
    a = (p[0], p[1], p[2], p[3])
    u_m, u_c = p[10], p[11]
    if k > 0:
        u_m, u_c = _apply(_matrix_power(a, k), p[10], p[11])
    m, b, cost, lossy = _observe(p, k, u_m, u_c)
    if lossy:
        moved0, moved1 = _apply(_power_and_sum(a, k)[1], p[10], p[11])
        m, b = _from_start(p, u_m, u_c, m, b, moved0, moved1)
    return u_m, u_c, m, b, cost


def trajectory_point(parameters: FloatArray, k: int) -> tuple[float, float, float, float, float]:
    """(u_m, u_c, m, b, cost) at epoch k >= 0, as `trajectory_points` (u_k = A^k u_0 by
    repeated squaring, O(log k) 2 x 2 products)."""
    if k < 0:
        raise ValueError(f"trajectory_point needs k >= 0 (got {k})")
    point: tuple[float, float, float, float, float] = _trajectory_point(parameters, int(k))
    return point


@_jit
def _row(table: FloatArray, i: int) -> Matrix:
    return (table[i, 0], table[i, 1], table[i, 2], table[i, 3])


@_jit
def _block_size(last: int) -> int:
    """The power of two (at least 8) whose square is at least last + 1."""
    block = 8
    while block * block < last + 1:
        block *= 2
    return block


@_jit
def _block_tables(a: Matrix, block: int, blocks: int) -> tuple[FloatArray, FloatArray]:
    """(a^r for r < block, (a^block)^j for j < blocks), each by doubling, as rows of 4."""
    empty = np.empty((0, 4))
    powers = np.empty((block, 4))
    whole, _ = _table(a, block, powers, empty)
    block_powers = np.empty((blocks, 4))
    _table(whole, blocks, block_powers, empty)
    return powers, block_powers


@_jit
def _trajectory_points(p: FloatArray, epochs: NDArray[np.int64], out: FloatArray) -> None:
    a = (p[0], p[1], p[2], p[3])
    u0_m, u0_c = p[10], p[11]
    count = epochs.size
    last = 0
    for i in range(count):
        last = max(last, epochs[i])
    bits = 1
    while last >> bits:
        bits += 1
    block = _block_size(last)
    blocks = last // block + 1
    if block + blocks >= 2 * bits * count:  # few epochs: each by repeated squaring
        for i in range(count):
            out[U_M, i], out[U_C, i], out[M, i], out[B, i], out[COST, i] = _trajectory_point(
                p, epochs[i]
            )
        return
    # u_k = a^r (a^B)^j u_0 for k = jB + r
    powers, block_powers = _block_tables(a, block, blocks)
    starts = np.empty((blocks, 2))
    for j in range(blocks):
        starts[j] = _apply(_row(block_powers, j), u0_m, u0_c)
    lossy = np.zeros(count, dtype=np.bool_)
    for i in range(count):
        k = epochs[i]
        j, r = k // block, k % block
        u_m, u_c = _apply(_row(powers, r), starts[j, 0], starts[j, 1])
        m, b, cost, lossy[i] = _observe(p, k, u_m, u_c)
        out[U_M, i], out[U_C, i], out[M, i], out[B, i], out[COST, i] = u_m, u_c, m, b, cost
    if not lossy.any():
        return
    # The displacements S_k u_0: S_(jB+r) = S_r + a^r S_jB, S_jB = (C^0 + ... + C^(j-1)) S_B
    # with C = a^B.
    sum_powers = np.empty((block, 4))
    whole, whole_sum = _table(a, block, powers, sum_powers)
    block_sums = np.empty((blocks, 4))
    _table(whole, blocks, block_powers, block_sums)
    across = _apply(whole_sum, u0_m, u0_c)
    for i in range(count):
        if not lossy[i]:
            continue
        j, r = epochs[i] // block, epochs[i] % block
        move = _apply(_row(block_sums, j), across[0], across[1])
        carried = _apply(_row(powers, r), move[0], move[1])
        own = _apply(_row(sum_powers, r), u0_m, u0_c)
        out[M, i], out[B, i] = _from_start(
            p, out[U_M, i], out[U_C, i], out[M, i], out[B, i],
            own[0] + carried[0], own[1] + carried[1],
        )  # fmt: skip


def trajectory_points(parameters: FloatArray, epochs: NDArray[np.int64]) -> FloatArray:
    """(u_m, u_c, m, b, cost) at each of the epochs (int64, shape (count,), each >= 0) of
    plain gradient descent u_(k+1) = A u_k on the error u = (m - m*, c - c*): shape
    (5, count), rows `U_M`, `U_C`, `M`, `B`, `COST`. `parameters` (`trajectory_parameters`)
    holds A, D = A - I, b's own step row r (b_(k+1) - b_k = r u_k), u_0, the view that maps
    u to original units,

        m = m* + s_m u_m,  b = b* + (s_c u_c - mean_x s_m u_m),
        cost = min_cost + vx (s_m u_m + m* - m_ls)^2 + (s_c u_c)^2,

    and the start. Epoch 0 is the start as given. Where m or b is more than `DIGITS_KEPT`
    times smaller than the terms of its sum, it comes instead from the start plus the
    displacement, m_k - m_0 = s_m (D S_k u_0)_m, b_k - b_0 = s_c r S_k u_0 (less
    mean_x (m_k - m_0) under standardize), S_k = A^0 + ... + A^(k-1), whichever view has
    the smaller terms.

    u_k = A^k u_0: a few epochs each by repeated squaring (O(log k) 2 x 2 products, as
    `trajectory_point`); many from tables in blocks of B ~ sqrt(max epoch),
    u_(jB+r) = A^r (A^B)^j u_0 and S_(jB+r) = S_r + A^r S_(jB), O(sqrt(max epoch))
    products in all and O(1) per epoch.
    """
    given = np.asarray(epochs)
    if given.ndim != 1 or (given.size and given.dtype.kind not in "iu"):
        raise ValueError("trajectory_points needs a 1-d array of whole epochs")
    epochs = np.ascontiguousarray(given, dtype=np.int64)
    out = np.empty((5, epochs.size))
    if epochs.size == 0:
        return out
    if epochs.min() < 0:
        raise ValueError(f"trajectory_points needs epochs >= 0 (got {epochs.min()})")
    _trajectory_points(np.ascontiguousarray(parameters, dtype=np.float64), epochs, out)
    return out


@_jit
def _first_below(
    p: FloatArray, g_mm: float, g_mc: float, g_cc: float, tol: float, begin: int, last: int
) -> int:
    block = _block_size(last)
    blocks = last // block + 1
    powers, block_powers = _block_tables((p[0], p[1], p[2], p[3]), block, blocks)
    limit = 4.0 * tol * tol  # a norm whose square is above this is clearly above tol
    for j in range(begin // block, blocks):
        s_m, s_c = _apply(_row(block_powers, j), p[10], p[11])
        for r in range(block):
            k = j * block + r
            if k < begin:
                continue
            if k > last:
                return -1
            if k == 0:
                u_m, u_c = p[10], p[11]
            else:
                u_m, u_c = _apply(_row(powers, r), s_m, s_c)
            g_m, g_b = g_mm * u_m + g_mc * u_c, g_cc * u_c
            if g_m * g_m + g_b * g_b > limit:
                continue
            if math.hypot(g_m, g_b) <= tol:
                return k
    return -1


def first_below(
    parameters: FloatArray,
    gradient: tuple[float, float, float],
    tolerance: float,
    last: int,
    begin: int = 0,
) -> int:
    """The first epoch k in begin .. last whose gradient norm |G u_k| is at most
    `tolerance`, or -1: G = [[g_mm, g_mc], [0, g_cc]] (`gradient`), u_k = A^k u_0 from
    `parameters` (`trajectory_parameters`) by the tables of `trajectory_points`
    (A^r (A^B)^j u_0 for k = jB + r), every epoch in turn: O(k) products, a few nanoseconds
    each. For rules whose gradient norm can grow before it shrinks (the sequential rule),
    where a bisection could miss the first epoch."""
    if not 0 <= begin <= last:
        raise ValueError(f"first_below needs 0 <= begin <= last (got {begin} and {last})")
    g_mm, g_mc, g_cc = map(float, gradient)
    return int(
        _first_below(
            np.ascontiguousarray(parameters, dtype=np.float64), g_mm, g_mc, g_cc,
            float(tolerance), int(begin), int(last),
        )
    )  # fmt: skip


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
        absolute_residual_block_sums(*points, 1.0, 0.0, 1.0, 1.0, 2)
        centred_sums(*points, 1.0, 1.0)
        residual_sums(*points, 1.0, 1.0, 0.5, 0.0)
    product_error(1.0, 3.0)
    line_height(0.5, 1.0, 3.0, 2.0, 0.0, 0.0)
    matrix_power((1.0, 0.5, 0.25, 1.0), 5)
    parameters = trajectory_parameters(
        (0.5, 0.1, 0.1, 0.5), (-0.5, 0.1, 0.1, -0.5), (0.0, -0.1), (1.0, 1.0),
        (1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0), (0.0, 0.0, 0.0),
    )  # fmt: skip
    trajectory_point(parameters, 3)
    trajectory_points(parameters, np.arange(40))
    first_below(parameters, (1.0, 0.5, 1.0), 0.1, 40, 3)
