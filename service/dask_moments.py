"""The `Moments` of data held by Dask, computed where the data lives, to send to the service.

Data too large for one request (or living in a cluster) is sent as its moments: six numbers
from which the service fits exactly as from the raw points. `moments_from_dask` (two 1-D dask
arrays) and `moments_from_dask_frame` (two columns of a dask DataFrame) reduce the data in two
passes on whatever scheduler is active and return the `service.schemas.Moments` to send::

    from service.client import Client
    from service.dask_moments import moments_from_dask_frame

    moments = moments_from_dask_frame(frame, x="x", y="y")
    with Client("http://127.0.0.1:8000") as client:
        result = client.fit(moments=moments, learning_rate=0.01)   # = the raw-data answer

Weighted data: pass the weights (``weights=`` an array, ``weight=`` a column name) and the
moments are the weighted ones the service expects with ``sum_w``: n counts the points of
positive weight, ``sum_w = sum w_i``, the means are weighted and so is each centred sum
(``sxx = sum w_i (x_i - mean_x)^2``...).

Needs the ``dask`` extra (``pip install 'gd-fit-service[dask]'``); dask is imported when a
function is called, so importing this module costs nothing without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from service.schemas import Moments

__all__ = ["moments_from_dask", "moments_from_dask_frame"]


def moments_from_dask(x: Any, y: Any, weights: Any = None) -> Moments:
    """The `Moments` of points held in two 1-D dask arrays (or anything ``da.asarray`` takes).

    Two passes, each one dask computation whose per-chunk partial sums merge across chunks
    (and workers): n and the sums of x and y give the means; then the centred sums
    ``sxx = sum (x - mean_x)^2``, ``sxy``, ``syy``, which keep their digits for data far
    from 0 (x around 1e9), as the service's own moments do. Runs on whatever scheduler is
    active (``dask.config.set(scheduler=...)`` or a distributed ``Client``). Arrays whose
    chunk sizes are unknown (e.g. after boolean indexing) are measured first.

    Parameters
    ----------
    x, y : dask array of shape (n,)
        The points, in any numeric dtype (cast to float64); units are the caller's, and the
        moments carry them (``sxx`` in x-units squared, ``sxy`` in x-units times y-units).
    weights : dask array of shape (n,), optional
        Sample weights w_i >= 0 (inverse variances); None: unweighted. Then the moments are
        weighted, ``sxx = sum w_i (x_i - mean_x)^2`` and so on, with ``sum_w = sum w_i``.

    Returns
    -------
    Moments
        ``n``, ``mean_x``, ``mean_y``, ``sxx``, ``sxy``, ``syy`` (and ``sum_w`` when
        weighted), ready for ``client.fit(moments=...)`` or a batch item's ``"moments"``.

    Raises
    ------
    ValueError
        Arrays not 1-D or of different lengths, negative weights, or moments the service
        would refuse (fewer than 2 points, constant x, non-finite values): a pydantic
        ``ValidationError``.
    ImportError
        Without dask (``pip install 'gd-fit-service[dask]'``).
    """
    import dask.array as da

    xs, ys = (
        da.asarray(values).astype(np.float64)  # type: ignore[no-untyped-call]
        for values in (x, y)
    )
    if xs.ndim != 1 or ys.ndim != 1:
        raise ValueError(f"x and y must be 1-D (got {xs.ndim}-D and {ys.ndim}-D)")
    if math.isnan(xs.shape[0]):
        xs = xs.compute_chunk_sizes()
    if math.isnan(ys.shape[0]):
        ys = ys.compute_chunk_sizes()
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"x and y must have the same length (got {xs.shape[0]} and {ys.shape[0]})")
    if weights is not None:
        ws = da.asarray(weights).astype(np.float64)  # type: ignore[no-untyped-call]
        if math.isnan(ws.shape[0]):
            ws = ws.compute_chunk_sizes()
        if ws.ndim != 1 or ws.shape[0] != xs.shape[0]:
            raise ValueError(
                f"weights must be 1-D with one value per point (got shape {ws.shape} for "
                f"{xs.shape[0]} points)"
            )
        return _weighted(xs, ys, ws, {})
    n = int(xs.shape[0])
    sum_x, sum_y = _compute(xs.sum(), ys.sum())
    return _centred(n, float(sum_x), float(sum_y), xs, ys, {})


def moments_from_dask_frame(
    frame: Any, x: str = "x", y: str = "y", weight: str | None = None
) -> Moments:
    """The `Moments` of columns `x` and `y` of a dask DataFrame (see `moments_from_dask`).

    Parameters
    ----------
    frame : dask DataFrame
        Any number of partitions; the two columns must be numeric (cast to float64).
    x, y : str
        The column names (default ``"x"`` and ``"y"``).
    weight : str, optional
        The column of sample weights (>= 0), if the data is weighted.

    Returns
    -------
    Moments
        As `moments_from_dask`.

    Raises
    ------
    ValueError
        As `moments_from_dask`. Missing values are not skipped: they make the moments
        non-finite, so the call raises (a pydantic ``ValidationError``) rather than fit a
        subset of the rows silently (drop them first if that is meant).
    KeyError
        A column that the frame does not have.
    """
    xs, ys = frame[x].astype("float64"), frame[y].astype("float64")
    if weight is not None:
        return _weighted(xs, ys, frame[weight].astype("float64"), {"skipna": False})
    n, sum_x, sum_y = _compute(xs.size, xs.sum(skipna=False), ys.sum(skipna=False))
    return _centred(int(n), float(sum_x), float(sum_y), xs, ys, {"skipna": False})


def _compute(*collections: Any) -> tuple[Any, ...]:
    """`dask.compute`: one graph for all of `collections`, so shared inputs are read once."""
    from dask.base import compute

    results: tuple[Any, ...] = compute(*collections)  # type: ignore[no-untyped-call]
    return results


def _centred(
    n: int, sum_x: float, sum_y: float, xs: Any, ys: Any, options: Mapping[str, Any]
) -> Moments:
    """The second pass: centred sums about the means of the first (`options` go to ``sum``)."""
    mean_x, mean_y = sum_x / n if n else math.nan, sum_y / n if n else math.nan
    dx, dy = xs - mean_x, ys - mean_y
    sxx, sxy, syy = _compute(
        (dx * dx).sum(**options), (dx * dy).sum(**options), (dy * dy).sum(**options)
    )
    return Moments(
        n=n, mean_x=mean_x, mean_y=mean_y, sxx=float(sxx), sxy=float(sxy), syy=float(syy)
    )


def _weighted(xs: Any, ys: Any, ws: Any, options: Mapping[str, Any]) -> Moments:
    """Weighted moments in two passes: the weights' total, count of positive weights, lowest
    weight and the weighted sums of x and y; then the weighted centred sums about those
    means (weights of 0 contribute nothing, as if absent)."""
    total, positive, lowest, sum_wx, sum_wy = _compute(
        ws.sum(**options),
        (ws > 0).sum(),
        ws.min(**options),
        (ws * xs).sum(**options),
        (ws * ys).sum(**options),
    )
    if float(lowest) < 0:
        raise ValueError(f"weights must be >= 0 (the smallest is {float(lowest)!r})")
    total = float(total)
    mean_x = float(sum_wx) / total if total > 0 else math.nan
    mean_y = float(sum_wy) / total if total > 0 else math.nan
    dx, dy = xs - mean_x, ys - mean_y
    wdx = ws * dx
    sxx, sxy, syy = _compute(
        (wdx * dx).sum(**options), (wdx * dy).sum(**options), (ws * dy * dy).sum(**options)
    )
    return Moments(
        n=int(positive),
        mean_x=mean_x,
        mean_y=mean_y,
        sxx=float(sxx),
        sxy=float(sxy),
        syy=float(syy),
        sum_w=total,
    )
