"""The data's sufficient statistics, from one O(n) pass with centred sums.

The mean squared error of a line depends on the data only through

    n, mean_x, mean_y, sxx = sum (x_i - mean_x)^2, sxy = sum (x_i - mean_x)(y_i - mean_y),
    syy = sum (y_i - mean_y)^2,

because, writing vx = sxx / n and c = b + m * mean_x (the line's height at mean_x),

    cost(m, b) = min_cost + vx * (m - m_ls)^2 + (c - mean_y)^2,   m_ls = sxy / sxx,

where min_cost is the residual mean square of the least-squares line.

Accuracy, whatever the data's offset and magnitude:

- the means are taken around a shifted origin (the segment's first point) and then
  corrected by the mean of the remaining deviations, so constant y has mean exactly y_0,
  deviations exactly 0 and hence an optimum slope and cost of exactly 0, and x within a
  few ulps of 1e12 centre as well as x in [-1, 1]; the centred sums are the corrected
  two-pass ones (minus (sum of deviations)^2 / n), which removes the rounding of the mean;
- the deviations are scaled by exact powers of two where their squares would underflow or
  overflow float64 (x around 1e-200, y around 1e200): `x_exponent` and `y_exponent` say
  by how much, and the centred sums and min_cost are those of the scaled deviations;
- min_cost is summed directly from the residuals where syy - sxy^2 / sxx would cancel
  (near-perfect fits).

`compute_moments` and `segment_moments` share one code path (a few vectorized passes per
data set), so the moments of a data set are the same bits whether it comes alone or laid
end to end with others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from service.core.errors import DataError

__all__ = ["Moments", "compute_moments", "segment_moments"]


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics of a data set for fitting a line by least squares.

    Attributes
    ----------
    n : int
        Number of points, at least 2.
    mean_x, mean_y : float
        Means of x and y.
    sxx, sxy, syy : float
        Centred sums of squares and cross-products (not divided by n), of the deviations
        scaled by 2**-x_exponent (x) and 2**-y_exponent (y).
    min_cost : float
        Residual mean square of the least-squares line, the smallest possible MSE, in the
        scaled units of y (times 4**-y_exponent).
    x_exponent, y_exponent : int
        0 unless the data's spread would under- or overflow float64 when squared; then the
        power of two the deviations were divided by (exact).
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

    @property
    def vx(self) -> float:
        """Variance of x in original units (0.0 or inf when that is beyond float64)."""
        return _ldexp(self.sxx / self.n, 2 * self.x_exponent)

    @property
    def slope(self) -> float:
        """The least-squares slope sxy / sxx in original units."""
        return _ldexp(self.sxy / self.sxx, self.y_exponent - self.x_exponent)

    @classmethod
    def from_sums(
        cls, n: int, mean_x: float, mean_y: float, sxx: float, sxy: float, syy: float
    ) -> Moments:
        """Moments given by a caller (e.g. reduced in Dask or Spark), checked for consistency.

        min_cost is (syy - sxy^2 / sxx) / n, clipped at 0: without the raw data this is the
        best available, and it is exact up to rounding of the caller's sums.
        """
        values = {"mean_x": mean_x, "mean_y": mean_y, "sxx": sxx, "sxy": sxy, "syy": syy}
        bad = [name for name, v in values.items() if not math.isfinite(v)]
        if bad:
            raise DataError(
                f"moments must be finite numbers ({', '.join(bad)} is not)", field="moments"
            )
        if n < 2:
            raise DataError(f"moments.n must be at least 2 (got {n})", field="moments")
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
        # Sums beyond float64's comfortable range are rescaled by exact powers of two.
        ex = _exponent_for(math.sqrt(sxx)) if sxx > 0 else 0
        ey = _exponent_for(math.sqrt(syy)) if syy > 0 else 0
        sxx, syy = math.ldexp(sxx, -2 * ex), math.ldexp(syy, -2 * ey)
        sxy = math.ldexp(sxy, -ex - ey)
        min_cost = max(0.0, (syy - sxy * (sxy / sxx)) / n)
        return cls(
            n, float(mean_x), float(mean_y), float(sxx), float(sxy), float(syy), min_cost, ex, ey
        )


def _ldexp(value: float, exponent: int) -> float:
    """value * 2**exponent, overflowing to inf (math.ldexp raises instead)."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(value, exponent))


CANCELLATION_LIMIT = 1e-4
"""Below this 1 - r^2, syy - sxy^2 / sxx loses digits: sum the residuals instead."""
SAFE_SPREAD = 2.0**400
"""Deviations within [1 / SAFE_SPREAD, SAFE_SPREAD] are squared as they are; others are
scaled by a power of two first (their squares, times a million points, stay normal)."""


SAFE_SUMS = (2.0**-800, 2.0**800)
"""Centred sums within this range were squared without under- or overflow."""


def _exponent_for(spread: float) -> int:
    """0 if `spread` is safe to square, else the power of two that brings it near 1."""
    if not math.isfinite(spread) or 1 / SAFE_SPREAD <= spread <= SAFE_SPREAD:
        return 0
    return math.frexp(spread)[1]


def _as_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(
            f"{name} must be a one-dimensional array (got shape {array.shape})", field=name
        )
    return array


def compute_moments(x: ArrayLike, y: ArrayLike) -> Moments:
    """Centred moments of the points (x_i, y_i) and the least-squares residual mean square.

    The same computation as one segment of `segment_moments`, bit for bit.

    Raises
    ------
    DataError
        When the lengths differ, there are fewer than 2 points, a value is not finite, x is
        constant, or the spread of the data is beyond what float64 can difference.
    """
    xs, ys = _as_vector(x, "x"), _as_vector(y, "y")
    if xs.size != ys.size:
        raise DataError(
            f"x and y must have the same length (got {xs.size} and {ys.size})", field="y"
        )
    if xs.size < 2:
        raise DataError(f"at least 2 points are needed (got {xs.size})", field="x")
    return _one_segment(xs, ys)


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    # einsum's own SIMD loop: as accurate as BLAS dot here and free of its thread start-up.
    return float(np.einsum("i,i->", a, b))


def _deviations(values: NDArray[np.float64]) -> tuple[float, NDArray[np.float64], float]:
    """The mean around a shifted origin (the first value), the deviations and their sum."""
    shift = float(values[0])
    mean = shift + float(np.sum(values - shift)) / values.size
    deviations = values - mean
    return mean, deviations, float(np.sum(deviations))


def _one_segment(x: NDArray[np.float64], y: NDArray[np.float64]) -> Moments:
    """The moments of one data set: the single code path of both public functions."""
    n = x.size
    if n < 2:
        raise DataError(f"at least 2 points are needed (got {n})", field="x")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean_x, dx, sum_dx = _deviations(x)
        mean_y, dy, sum_dy = _deviations(y)
        sxx = _dot(dx, dx) - sum_dx * sum_dx / n
        syy = _dot(dy, dy) - sum_dy * sum_dy / n
        for name, values, mean, sums in (("x", x, mean_x, sxx), ("y", y, mean_y, syy)):
            if not (math.isfinite(mean) and math.isfinite(sums)):
                if not np.isfinite(values).all():
                    raise DataError(f"{name} must contain only finite numbers", field=name)
        # Spreads whose squares under- or overflow are scaled by a power of two first.
        ex = 0 if SAFE_SUMS[0] <= sxx <= SAFE_SUMS[1] else _exponent_for(float(np.abs(dx).max()))
        ey = (
            0
            if syy == 0 or SAFE_SUMS[0] <= syy <= SAFE_SUMS[1]
            else _exponent_for(float(np.abs(dy).max()))
        )
        if ex:
            dx, sum_dx = np.ldexp(dx, -ex), math.ldexp(sum_dx, -ex)
            sxx = _dot(dx, dx) - sum_dx * sum_dx / n
        if ey:
            dy, sum_dy = np.ldexp(dy, -ey), math.ldexp(sum_dy, -ey)
            syy = _dot(dy, dy) - sum_dy * sum_dy / n
        sxy = _dot(dx, dy) - sum_dx * sum_dy / n
        for name, value in (("x", sxx), ("y", syy), ("x", sxy)):
            if not math.isfinite(value):
                raise DataError(
                    f"{name} values are too far apart: their differences overflow float64 "
                    "(scale the data first)",
                    field=name,
                )
        if sxx == 0.0:
            raise DataError("x must have at least two distinct values (all x are equal)", field="x")
        slope = sxy / sxx
        unexplained = syy - sxy * slope
        if unexplained > CANCELLATION_LIMIT * syy:
            min_cost = unexplained / n
        else:  # a near-perfect fit: sum the residuals of the least-squares line directly
            residual = dy - slope * dx
            min_cost = _dot(residual, residual) / n
    return Moments(n, mean_x, mean_y, sxx, sxy, syy, max(0.0, min_cost), ex, ey)


def segment_moments(
    x: NDArray[np.float64], y: NDArray[np.float64], lengths: NDArray[np.int64]
) -> list[Moments | DataError]:
    """Moments of many data sets laid end to end, each by `compute_moments`'s own code path.

    `x` and `y` hold the concatenated points; `lengths` the size of each data set.
    Each set that cannot be fitted yields its `DataError` in place of its moments.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if x.shape != y.shape or x.ndim != 1 or int(lengths.sum()) != x.size or (lengths < 1).any():
        raise DataError("segments do not match the concatenated data", field="x")
    out: list[Moments | DataError] = []
    start = 0
    for n in lengths.tolist():
        try:
            out.append(_one_segment(x[start : start + n], y[start : start + n]))
        except DataError as error:
            out.append(error)
        start += n
    return out
