"""Weighted moments from Dask (arrays and DataFrame columns) equal the service's own."""

from __future__ import annotations

import numpy as np
import pytest

from service import core
from service.dask_moments import moments_from_dask, moments_from_dask_frame

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

RNG = np.random.default_rng(5)
X = 1.7e9 + RNG.uniform(0, 3600, 1000)
Y = 0.01 * (X - 1.7e9) + RNG.normal(0, 1, 1000)
W = RNG.uniform(0, 3, 1000)
W[::10] = 0.0


def check(got: core.Moments) -> None:
    want = core.compute_moments(X, Y, W)
    assert got.n == want.n == 900
    assert got.sum_w == pytest.approx(want.sum_w, rel=1e-12)
    for name in ("mean_x", "mean_y"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-15)
    for name in ("sxx", "sxy", "syy"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9)
    options = core.FitOptions(learning_rate=1e-19, epochs=100)
    a, b = core.fit_moments(got, options), core.fit_moments(want, options)
    assert (a.m, a.b) == pytest.approx((b.m, b.b), rel=1e-9)


def test_weighted_moments_from_dask_arrays() -> None:
    sums = moments_from_dask(
        da.from_array(X, chunks=128), da.from_array(Y, chunks=128), da.from_array(W, chunks=128)
    )
    check(sums.to_core())


def test_weighted_moments_from_a_dask_frame() -> None:
    frame = dd.from_pandas(pd.DataFrame({"x": X, "y": Y, "w": W}), npartitions=4)
    check(moments_from_dask_frame(frame, weight="w").to_core())


def test_negative_weights_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        moments_from_dask(da.from_array(X), da.from_array(Y), da.from_array(-W))
