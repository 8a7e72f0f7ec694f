"""The data's sufficient statistics, from one O(n) pass with centred sums.

The mean squared error of a line depends on the data only through

    n, mean_x, mean_y, sxx = sum (x_i - mean_x)^2, sxy = sum (x_i - mean_x)(y_i - mean_y),
    syy = sum (y_i - mean_y)^2,

because, writing vx = sxx / n and c = b + m * mean_x (the line's height at mean_x),

    cost(m, b) = min_cost + vx * (m - m_ls)^2 + (c - mean_y)^2,   m_ls = sxy / sxx,

where min_cost is the residual mean square of the least-squares line. Centring first
keeps x in [1e9, 1e9 + 100] as accurate as x in [-1, 1]; min_cost is summed directly
from the residuals (not as syy - sxy^2 / sxx, which cancels for near-perfect fits).
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
        Centred sums of squares and cross-products (not divided by n).
    min_cost : float
        Residual mean square of the least-squares line, the smallest possible MSE.
    """

    n: int
    mean_x: float
    mean_y: float
    sxx: float
    sxy: float
    syy: float
    min_cost: float

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
        min_cost = max(0.0, (syy - sxy * (sxy / sxx)) / n)
        return cls(n, float(mean_x), float(mean_y), float(sxx), float(sxy), float(syy), min_cost)


CANCELLATION_LIMIT = 1e-4
"""Below this 1 - r^2, syy - sxy^2 / sxx loses digits: sum the residuals instead."""


def _as_vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(
            f"{name} must be a one-dimensional array (got shape {array.shape})", field=name
        )
    return array


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    # einsum's own SIMD loop: as accurate as BLAS dot here and free of its thread start-up.
    return float(np.einsum("i,i->", a, b))


def compute_moments(x: ArrayLike, y: ArrayLike) -> Moments:
    """Centred moments of the points (x_i, y_i) and the least-squares residual mean square.

    Raises
    ------
    DataError
        When the lengths differ, there are fewer than 2 points, x is constant (or its
        spread underflows float64), or the sums of squares overflow float64.
    """
    xs, ys = _as_vector(x, "x"), _as_vector(y, "y")
    if xs.size != ys.size:
        raise DataError(
            f"x and y must have the same length (got {xs.size} and {ys.size})", field="y"
        )
    n = xs.size
    if n < 2:
        raise DataError(f"at least 2 points are needed (got {n})", field="x")
    with np.errstate(over="ignore", invalid="ignore"):
        mean_x, mean_y = float(np.mean(xs)), float(np.mean(ys))
        dx, dy = xs - mean_x, ys - mean_y
        sxx, sxy, syy = _dot(dx, dx), _dot(dx, dy), _dot(dy, dy)
        if not all(map(math.isfinite, (mean_x, mean_y, sxx, sxy, syy))):
            for name, values in (("x", xs), ("y", ys)):
                if not np.isfinite(values).all():
                    raise DataError(f"{name} must contain only finite numbers", field=name)
        _check_range(mean_x, mean_y, sxx, sxy, syy, xs)
        slope = sxy / sxx
        explained = sxy * slope
        if syy - explained > CANCELLATION_LIMIT * syy:
            min_cost = (syy - explained) / n
        else:  # a near-perfect fit: sum the residuals of the least-squares line directly
            dy -= slope * dx
            min_cost = _dot(dy, dy) / n
    if not math.isfinite(min_cost):
        raise DataError("y values are too large: their squares overflow float64", field="y")
    return Moments(n, mean_x, mean_y, sxx, sxy, syy, max(0.0, min_cost))


def _check_range(
    mean_x: float, mean_y: float, sxx: float, sxy: float, syy: float, xs: NDArray[np.float64]
) -> None:
    if not (math.isfinite(mean_x) and math.isfinite(sxx)):
        raise DataError(
            "x values are too large: their squares overflow float64 (scale the data first)",
            field="x",
        )
    if not (math.isfinite(mean_y) and math.isfinite(syy) and math.isfinite(sxy)):
        raise DataError(
            "y values are too large: their squares overflow float64 (scale the data first)",
            field="y",
        )
    if sxx == 0.0:
        if float(xs.min()) == float(xs.max()):
            raise DataError("x must have at least two distinct values (all x are equal)", field="x")
        raise DataError(
            "x values are too close together: their spread underflows float64", field="x"
        )


def segment_moments(
    x: NDArray[np.float64], y: NDArray[np.float64], lengths: NDArray[np.int64]
) -> list[Moments | DataError]:
    """Moments of many data sets laid end to end, in a few vectorized passes.

    `x` and `y` hold the concatenated points; `lengths` the size of each data set.
    Each set that cannot be fitted yields its `DataError` in place of its moments.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if x.shape != y.shape or x.ndim != 1 or int(lengths.sum()) != x.size or (lengths < 1).any():
        raise DataError("segments do not match the concatenated data", field="x")
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    counts = lengths.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean_x = np.add.reduceat(x, starts) / counts
        mean_y = np.add.reduceat(y, starts) / counts
        dx = x - np.repeat(mean_x, lengths)
        dy = y - np.repeat(mean_y, lengths)
        sxx = np.add.reduceat(dx * dx, starts)
        sxy = np.add.reduceat(dx * dy, starts)
        syy = np.add.reduceat(dy * dy, starts)
        slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        residual = dy - np.repeat(slope, lengths) * dx
        summed = np.add.reduceat(residual * residual, starts) / counts
        unexplained = syy - sxy * slope
        # The same choice as `compute_moments`: the closed form unless it would cancel.
        min_cost = np.where(unexplained > CANCELLATION_LIMIT * syy, unexplained / counts, summed)
    out: list[Moments | DataError] = []
    for i, n in enumerate(lengths.tolist()):
        try:
            if n < 2:
                raise DataError(f"at least 2 points are needed (got {n})", field="x")
            segment = x[starts[i] : starts[i] + n]
            _check_range(mean_x[i], mean_y[i], sxx[i], sxy[i], syy[i], segment)
            if not math.isfinite(min_cost[i]):
                raise DataError("y values are too large: their squares overflow float64", field="y")
        except DataError as error:
            out.append(error)
            continue
        out.append(
            Moments(
                n,
                float(mean_x[i]),
                float(mean_y[i]),
                float(sxx[i]),
                float(sxy[i]),
                float(syy[i]),
                float(min_cost[i]),
            )
        )
    return out
