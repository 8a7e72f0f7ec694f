"""The data's sufficient statistics, from one O(n) pass with centred sums.

The mean squared error of a line depends on the data only through

    n, mean_x, mean_y, sxx = sum (x_i - mean_x)^2, sxy = sum (x_i - mean_x)(y_i - mean_y),
    syy = sum (y_i - mean_y)^2,

because, writing vx = sxx / n and c = b + m * mean_x (the line's height at mean_x),

    cost(m, b) = min_cost + vx * (m - m_ls)^2 + (c - mean_y)^2,   m_ls = sxy / sxx,

where min_cost is the residual mean square of the least-squares line.

With sample weights w_i >= 0 the cost is the weighted mean sum_i w_i r_i^2 / sum_w, and the
same identity holds with sum_w = sum_i w_i in place of n, weighted means and weighted centred
sums (sxx = sum_i w_i (x_i - mean_x)^2, ...): `sum_w` carries that total, and n counts the
points of positive weight (those of weight 0 are dropped first, exactly as if absent). Only
ratios of the weighted sums to sum_w enter a fit, so weights extreme enough to under- or
overflow are divided by a power of two first (`w_exponent`), which changes no ratio.

Accuracy, whatever the data's offset and magnitude:

- the means are exactly rounded sums over n (`math.fsum`, up to EXACT_SUM_POINTS points;
  beyond, sums of deviations around an origin near the mean, a value of the data: see
  `exact_sums.deviations`), with their remainders `mean_x_lo`, `mean_y_lo`; constant y has
  mean exactly y_0, deviations exactly 0 and hence an optimum slope and cost of exactly 0,
  and x within a few ulps of 1e12 centre as well as x in [-1, 1]; the centred sums are the
  corrected two-pass ones (sum d_i^2 - (sum d_i)^2 / n for deviations d_i around any origin
  o: exact in exact arithmetic whatever o is), which removes the distance from the origin to
  the mean and the rounding of the mean;
- the deviations are scaled by exact powers of two where their squares would underflow or
  overflow float64 (x around 1e-200, y around 1e200): `x_exponent` and `y_exponent` say
  by how much, and the centred sums and min_cost are those of the scaled deviations;
- min_cost is summed directly from the residuals where syy - sxy^2 / sxx would cancel
  (near-perfect fits), as a corrected two-pass sum around the residuals' mean.

The weighted sums use the same shifted origin and corrected two-pass formulas: with
d_i = x_i - mean_x, sum_i w_i (d_i - delta)^2 = sum_i w_i d_i^2 - (sum_i w_i d_i)^2 / sum_w
for delta = sum_i w_i d_i / sum_w (and likewise for the cross-products).

The summation kernels (exact products, exactly rounded means and remainders, shifted-origin
deviations, the powers of two) are in `service.core.exact_sums`.

`compute_moments` and `segment_moments` share one code path, so the moments of a data set
are the same bits whether it comes alone or laid end to end with others. Unweighted data
beyond EXACT_SUM_POINTS points take one compiled pass over x and y (`_large_segment`,
`kernels.centred_sums`: the sums of the deviations around each origin, of their squares and
of their products, in blocks, no deviation stored; a second one where an origin is far
from its mean, and one of the residuals for a near-perfect fit), with the decisions of
`exact_sums.deviations` taken from the same sums; anything unusual (values not finite,
constant x or y, spreads to scale) takes the full NumPy passes, which also serve weighted
data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from service.core import kernels
from service.core.errors import DataError
from service.core.exact_sums import (
    EXACT_SUM_POINTS,
    SAFE_SUMS,
    deviation_extremes,
    deviations,
    dot,
    exponent_for,
    far_from_mean,
    ldexp_inf,
    line_height,
    mean_remainder,
    origin,
    spread_exponent,
    weight_exponent,
    weighted_deviations,
)
from service.core.frozen import quick_init

__all__ = ["Moments", "compute_moments", "height_error", "line_height", "segment_moments"]


@quick_init
@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of a (possibly weighted) data set for fitting a line by least
    squares.

    Attributes
    ----------
    n : int
        Number of points (with weights: of positive weight), at least 2.
    mean_x, mean_y : float
        Means of x and y (weighted: sum_i w_i x_i / sum_w).
    sxx, sxy, syy : float
        Centred sums of squares and cross-products (not divided by n; weighted:
        sum_i w_i (x_i - mean_x)^2, ...), of the deviations scaled by 2**-x_exponent (x) and
        2**-y_exponent (y) and of the weights scaled by 2**-w_exponent.
    min_cost : float
        Residual (weighted) mean square of the least-squares line, the smallest possible
        MSE, in the scaled units of y (times 4**-y_exponent).
    x_exponent, y_exponent : int
        0 unless the data's spread would under- or overflow float64 when squared; then the
        power of two the deviations were divided by (exact).
    sum_w : float
        The total weight sum_i w_i (times 2**-w_exponent), the divisor that turns the sums
        into means: n for unweighted data (0.0 when constructing means "n").
    w_exponent : int
        0 unless the weights were divided by 2**w_exponent to keep their products normal
        (which changes no ratio of the sums, hence no fit; only the residual standard error
        of `service.core.statistics` scales with it).
    mean_x_lo, mean_y_lo : float
        What the rounded means miss: the exact mean of the data is mean + mean_lo to about
        twice float64's precision (0.0 where unknown: moments as sent, weighted data). A
        descent on timestamps multiplies mean y's last bit by mean x ~ 1e9..1e18 in the
        slope's gradient, so the start's height error c_0 - mean_y needs it.
    sxx_lo : float
        What the rounded sxx misses of the data's exact centred sum of squares (to about
        2^-100 of it), where known: unweighted data sets of up to `SMALL_POINTS` points;
        0.0 elsewhere (and for moments as sent, which are exact as they are). The momentum
        optimizers' powers near their double root drift with an error of sxx / n as small
        as its last bit, many epochs over (`service.core.momentum`).
    """

    n: int
    mean_x: float
    mean_y: float
    sxx: float
    sxy: float
    syy: float
    min_cost: float
    x_exponent: int = 0
    y_exponent: int = 0
    sum_w: float = 0.0
    w_exponent: int = 0
    mean_x_lo: float = 0.0
    mean_y_lo: float = 0.0
    sxx_lo: float = 0.0

    def __post_init__(self) -> None:
        if self.sum_w == 0.0:  # unweighted: the total weight is the number of points
            object.__setattr__(self, "sum_w", float(self.n))

    @property
    def vx(self) -> float:
        """(Weighted) variance of x, sxx / sum_w, in original units (0.0 or inf when that is
        beyond float64)."""
        return ldexp_inf(self.sxx / self.sum_w, 2 * self.x_exponent)

    @property
    def slope(self) -> float:
        """The least-squares slope sxy / sxx in original units."""
        return ldexp_inf(self.sxy / self.sxx, self.y_exponent - self.x_exponent)

    @classmethod
    def from_sums(
        cls,
        n: int,
        mean_x: float,
        mean_y: float,
        sxx: float,
        sxy: float,
        syy: float,
        sum_w: float | None = None,
    ) -> Moments:
        """Moments given by a caller (e.g. reduced in Dask or Spark), checked for consistency.

        `sum_w` is the total weight of weighted moments (None: n, unweighted). min_cost is
        (syy - sxy^2 / sxx) / sum_w, clipped at 0: without the raw data this is the best
        available, and it is exact up to rounding of the caller's sums.
        """
        values = {"mean_x": mean_x, "mean_y": mean_y, "sxx": sxx, "sxy": sxy, "syy": syy}
        if sum_w is not None:
            values["sum_w"] = sum_w
        bad = [name for name, v in values.items() if not math.isfinite(v)]
        if bad:
            raise DataError(
                f"moments must be finite numbers ({', '.join(bad)} is not)", field="moments"
            )
        if n < 2:
            raise DataError(f"moments.n must be at least 2 (got {n})", field="moments")
        if sum_w is not None and not sum_w > 0:
            raise DataError(f"moments.sum_w must be > 0 (got {sum_w!r})", field="moments")
        if not sxx > 0:
            raise DataError(
                f"moments.sxx must be > 0: x needs at least two distinct values (got {sxx!r})",
                field="moments",
            )
        if syy < 0:
            raise DataError(f"moments.syy must be >= 0 (got {syy!r})", field="moments")
        if abs(sxy) > math.sqrt(sxx) * math.sqrt(syy) * (1 + 1e-9):  # no overflow on the way
            raise DataError(
                "moments are inconsistent: sxy^2 must not exceed sxx * syy (Cauchy-Schwarz)",
                field="moments",
            )
        total = float(n) if sum_w is None else float(sum_w)
        ew = weight_exponent(total)
        # Sums beyond float64's comfortable range are rescaled by exact powers of two.
        ex = spread_exponent(sxx, ew)
        ey = spread_exponent(syy, ew) if syy > 0 else 0
        sxx, syy = math.ldexp(sxx, -ew - 2 * ex), math.ldexp(syy, -ew - 2 * ey)
        sxy = math.ldexp(sxy, -ew - ex - ey)
        total = math.ldexp(total, -ew)
        min_cost = max(0.0, (syy - sxy * (sxy / sxx)) / total)
        return cls(
            n,
            float(mean_x),
            float(mean_y),
            float(sxx),
            float(sxy),
            float(syy),
            min_cost,
            ex,
            ey,
            total,
            ew,
        )


def height_error(moments: Moments, m0: float, b0: float) -> float:
    """c_0 - c* = b0 + m0 mean_x - mean_y of a start (m0, b0), exactly rounded on the means
    and their remainders (`line_height`)."""
    return line_height(m0, b0, moments.mean_x, moments.mean_y, moments.mean_x_lo, moments.mean_y_lo)


CANCELLATION_LIMIT = kernels.CANCELLATION_LIMIT


def _as_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(
            f"{name} must be a one-dimensional array (got shape {array.shape})", field=name
        )
    return array


def compute_moments(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> Moments:
    """Centred moments of the points (x_i, y_i) and the least-squares residual mean square;
    with `weights` (w_i >= 0, same length) the weighted ones, points of weight 0 as if absent.

    The same computation as one segment of `segment_moments`, bit for bit. Weights that are
    all 1 give the unweighted moments, bit for bit.

    Raises
    ------
    DataError
        When the lengths differ, there are fewer than 2 points, a value is not finite, x is
        constant (among the points of positive weight), a weight is negative, non-finite or
        all are 0, or the spread of the data is beyond what float64 can difference.
    """
    xs, ys = _as_vector(x, "x"), _as_vector(y, "y")
    if xs.size != ys.size:
        raise DataError(
            f"x and y must have the same length (got {xs.size} and {ys.size})", field="y"
        )
    ws = None if weights is None else _as_vector(weights, "weights")
    if ws is not None and ws.size != xs.size:
        raise DataError(
            f"weights must have one value per point (got {ws.size} for {xs.size} points)",
            field="weights",
        )
    if xs.size < 2:
        raise DataError(f"at least 2 points are needed (got {xs.size})", field="x")
    return _one_segment(xs, ys, ws)


SMALL_POINTS = 256
"""Up to this many unweighted points, the moments take `_small_segment`'s one compiled call
(NumPy's fixed cost per call would dominate there); beyond, `_one_segment`'s full passes
(and past EXACT_SUM_POINTS, `_large_segment`'s one compiled pass first)."""


ResidualSums = Callable[[float, float], tuple[float, float]]
"""(slope, height) -> (sum_i w_i r_i, sum_i w_i r_i^2) of the residuals r_i = dy_i - slope
dx_i - height of deviations dx, dy (w_i = 1 unweighted)."""


def _residual_mean_square(
    sum_dx: float,
    sum_dy: float,
    sxx: float,
    sxy: float,
    syy: float,
    total: float,
    residual_sums: ResidualSums,
) -> float:
    """min_cost: the (weighted) residual mean square of the least-squares line, from the
    centred sums and the weighted sums sum_dx, sum_dy of the deviations dx, dy (around any
    origins). (Syy - Sxy^2 / Sxx) / W where that keeps its digits; for a near-perfect fit
    the residuals' own squares (`residual_sums`), around their mean: around the origins of
    dx and dy the line has height (sum_dy - slope sum_dx) / W, and the corrected sum removes
    what remains of its rounding. The one formula of `_one_segment` and `_large_segment`
    (`kernels.small_moments` compiles it for `_small_segment`)."""
    slope = sxy / sxx
    unexplained = syy - sxy * slope
    if unexplained > CANCELLATION_LIMIT * syy:
        return unexplained / total
    remaining, squares = residual_sums(slope, (sum_dy - slope * sum_dx) / total)
    return (squares - remaining * remaining / total) / total


def _array_residual_sums(
    dx: NDArray[np.float64], dy: NDArray[np.float64], weights: NDArray[np.float64] | None
) -> ResidualSums:
    """`ResidualSums` of the deviation arrays, in NumPy passes."""

    def sums(slope: float, height: float) -> tuple[float, float]:
        residual = dy - slope * dx
        residual -= height
        weighted = residual if weights is None else weights * residual
        return float(np.sum(weighted)), dot(weighted, residual)

    return sums


def _small_segment(x: NDArray[np.float64], y: NDArray[np.float64]) -> Moments | None:
    """The unweighted moments of a small data set in one compiled call
    (`service.core.kernels.small_moments`: the formulas of `_one_segment`, exact means and
    remainders by fsum), or None for anything unusual (values beyond float64 or not finite,
    spreads that need scaling, constant x), which `_one_segment`'s full passes handle and
    report."""
    ok, mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y = kernels.small_moments(x, y)
    if not ok:
        return None
    n = x.size
    sxx_lo = kernels.square_remainder(x, mean_x, lo_x, sxx)
    return Moments(
        n, mean_x, mean_y, sxx, sxy, syy, min_cost, 0, 0, float(n), 0, lo_x, lo_y, sxx_lo
    )


def _usable_weights(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None, int]:
    """The points of positive weight, their weights (None when all are 1: unweighted) scaled
    by 2**-w_exponent, and w_exponent. Raises `DataError` for unusable weights."""
    with np.errstate(invalid="ignore"):
        low, high = float(w.min()), float(w.max())
    if not (math.isfinite(low) and math.isfinite(high)) or not np.isfinite(w).all():
        raise DataError("weights must contain only finite numbers", field="weights")
    if low < 0:
        first = int(np.argmax(w < 0))
        raise DataError(
            f"weights must be >= 0 (weights[{first}] is {float(w[first])!r})", field="weights"
        )
    if high == 0:
        raise DataError(
            "weights are all 0: at least two points need a positive weight", field="weights"
        )
    if low == 1 and high == 1:
        return x, y, None, 0
    if low == 0:  # weight 0 is as if absent: drop those points
        keep = w > 0
        x, y, w = x[keep], y[keep], w[keep]
        if x.size < 2:
            raise DataError(
                f"only {x.size} point has a positive weight: at least 2 are needed",
                field="weights",
            )
    ew = weight_exponent(high)
    if ew:
        w = np.ldexp(w, -ew)
    return x, y, w, ew


def _large_segment(x: NDArray[np.float64], y: NDArray[np.float64]) -> Moments | None:
    """The unweighted moments of more than EXACT_SUM_POINTS points by `_one_segment`'s
    formulas, with the sums that `deviations` and the cross product take (of the deviations
    around each coordinate's `origin`, taken again around the mean where `far_from_mean`)
    from one compiled pass over x and y that stores no deviation (`kernels.centred_sums`,
    summed as NumPy's pairwise sum is) instead of five NumPy passes and two n-sized
    temporaries, and for a near-perfect fit the residuals' sums from one more
    (`kernels.residual_sums`); or None for anything unusual, which `_one_segment`'s full
    passes handle and report: a value not finite, constant x or y, spreads whose squares
    need scaling by a power of two."""
    n = x.size
    centres = [origin(x), origin(y)]
    sums = kernels.block_totals(kernels.centred_sums(x, y, *centres))
    far = [
        far_from_mean(n, centres[0], sums[kernels.TX], sums[kernels.QXX]),
        far_from_mean(n, centres[1], sums[kernels.TY], sums[kernels.QYY]),
    ]
    if any(far):
        centres = [c + t / n if f else c for c, t, f in zip(centres, sums[:2], far, strict=True)]
        sums = kernels.block_totals(kernels.centred_sums(x, y, *centres))
    if not all(math.isfinite(value) for value in sums):
        return None
    total_x, total_y, squares_x, squares_y, products = sums
    cx, cy = centres
    sxx = squares_x - total_x * total_x / n
    syy = squares_y - total_y * total_y / n
    sxy = products - total_x * total_y / n
    if not (
        SAFE_SUMS[0] <= sxx <= SAFE_SUMS[1]
        and SAFE_SUMS[0] <= syy <= SAFE_SUMS[1]
        and math.isfinite(sxy)
    ):
        return None
    min_cost = _residual_mean_square(
        total_x,
        total_y,
        sxx,
        sxy,
        syy,
        float(n),
        lambda slope, height: kernels.residual_sums(x, y, cx, cy, slope, height),
    )
    lo_x = mean_remainder(n, cx, total_x, squares_x, lambda: deviation_extremes(x, cx))
    lo_y = mean_remainder(n, cy, total_y, squares_y, lambda: deviation_extremes(y, cy))
    return Moments(
        n,
        cx + total_x / n,
        cy + total_y / n,
        sxx,
        sxy,
        syy,
        max(0.0, min_cost),
        0,
        0,
        float(n),
        0,
        lo_x,
        lo_y,
    )


def _one_segment(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64] | None = None
) -> Moments:
    """The moments of one data set: the single code path of both public functions."""
    ew = 0
    if w is not None:
        x, y, weights, ew = _usable_weights(x, y, w)
    else:
        weights = None
    n = x.size
    if n < 2:
        raise DataError(f"at least 2 points are needed (got {n})", field="x")
    if weights is None and n <= SMALL_POINTS:
        small = _small_segment(x, y)
        if small is not None:
            return small
    if weights is None and n > EXACT_SUM_POINTS:
        large = _large_segment(x, y)
        if large is not None:
            return large
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if weights is None:
            total = float(n)
            mean_x, lo_x, dx, sum_dx, sxx = deviations(x)
            mean_y, lo_y, dy, sum_dy, syy = deviations(y)
            wdx, wdy = dx, dy
        else:
            total = float(np.sum(weights))
            lo_x = lo_y = 0.0
            mean_x, dx, wdx, sum_dx = weighted_deviations(x, weights, total)
            mean_y, dy, wdy, sum_dy = weighted_deviations(y, weights, total)
            sxx, syy = dot(wdx, dx), dot(wdy, dy)
        sxx -= sum_dx * sum_dx / total
        syy -= sum_dy * sum_dy / total
        for name, values, mean, sums in (("x", x, mean_x, sxx), ("y", y, mean_y, syy)):
            if not (math.isfinite(mean) and math.isfinite(sums)):
                if not np.isfinite(values).all():
                    raise DataError(f"{name} must contain only finite numbers", field=name)
        # Spreads whose squares under- or overflow are scaled by a power of two first.
        ex = 0 if SAFE_SUMS[0] <= sxx <= SAFE_SUMS[1] else exponent_for(float(np.abs(dx).max()))
        # (syy == 0 may be an underflow of distinct y: only equal y have every deviation 0.)
        ey = 0 if SAFE_SUMS[0] <= syy <= SAFE_SUMS[1] else exponent_for(float(np.abs(dy).max()))
        if ex:
            dx, sum_dx = np.ldexp(dx, -ex), math.ldexp(sum_dx, -ex)
            wdx = dx if weights is None else weights * dx
            sxx = dot(wdx, dx) - sum_dx * sum_dx / total
        if ey:
            dy, sum_dy = np.ldexp(dy, -ey), math.ldexp(sum_dy, -ey)
            wdy = dy if weights is None else weights * dy
            syy = dot(wdy, dy) - sum_dy * sum_dy / total
        sxy = dot(wdx, dy) - sum_dx * sum_dy / total
        for name, value in (("x", sxx), ("y", syy), ("x", sxy)):
            if not math.isfinite(value):
                raise DataError(
                    f"{name} values are too far apart: their differences overflow float64 "
                    "(scale the data first)",
                    field=name,
                )
        if sxx == 0.0:
            if weights is not None:
                raise DataError(
                    "x must have at least two distinct values among the points of positive weight",
                    field="weights",
                )
            raise DataError("x must have at least two distinct values (all x are equal)", field="x")
        min_cost = _residual_mean_square(
            sum_dx, sum_dy, sxx, sxy, syy, total, _array_residual_sums(dx, dy, weights)
        )
    return Moments(
        n, mean_x, mean_y, sxx, sxy, syy, max(0.0, min_cost), ex, ey, total, ew, lo_x, lo_y
    )


def segment_moments(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    lengths: NDArray[np.int64],
    weights: Sequence[NDArray[np.float64] | None] | None = None,
) -> list[Moments | DataError]:
    """Moments of many data sets laid end to end, each by `compute_moments`'s own code path.

    `x` and `y` hold the concatenated points; `lengths` the size of each data set;
    `weights`, if given, one entry per data set: its weights (same length) or None.
    Each set that cannot be fitted yields its `DataError` in place of its moments.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if x.shape != y.shape or x.ndim != 1 or int(lengths.sum()) != x.size or (lengths < 1).any():
        raise DataError("segments do not match the concatenated data", field="x")
    if weights is not None and len(weights) != lengths.size:
        raise DataError("segments do not match their weights", field="weights")
    out: list[Moments | DataError] = []
    start = 0
    for i, n in enumerate(lengths.tolist()):
        w = None if weights is None else weights[i]
        try:
            if w is not None and np.asarray(w).shape != (n,):
                raise DataError(
                    f"weights must have one value per point (got {np.asarray(w).size} for "
                    f"{n} points)",
                    field="weights",
                )
            out.append(
                _one_segment(
                    x[start : start + n],
                    y[start : start + n],
                    None if w is None else np.asarray(w, dtype=np.float64),
                )
            )
        except DataError as error:
            out.append(error)
        start += n
    return out
