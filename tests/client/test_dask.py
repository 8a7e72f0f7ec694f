"""service.dask_moments: moments computed with Dask equal the service's own, and so do the fits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from service import core
from service.dask_moments import moments_from_dask, moments_from_dask_frame
from service.schemas import Moments
from tests.helpers.apps import app_with, service_client
from tests.helpers.fits import MOMENT_FIELDS, as_moments_answer, assert_same_fit


@pytest.fixture(autouse=True, params=["synchronous", "threads"])
def scheduler(request: pytest.FixtureRequest) -> Iterator[None]:
    with dask.config.set(scheduler=request.param):
        yield


def points(n: int, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    x = offset + rng.uniform(0.0, 100.0, n)
    y = 0.3 * (x - offset) - 7.0 + rng.normal(0.0, 2.0, n)
    return x, y


def assert_moments_equal(got: Moments, x: np.ndarray, y: np.ndarray) -> None:
    want = core.compute_moments(x, y)
    assert got.n == want.n
    for field in MOMENT_FIELDS[1:]:
        assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-12), field


@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_moments_from_dask_arrays_of_several_chunks(offset: float) -> None:
    x, y = points(10_007, offset)
    moments = moments_from_dask(da.from_array(x, chunks=1_000), da.from_array(y, chunks=3_000))
    assert_moments_equal(moments, x, y)


def test_moments_from_dask_arrays_of_unknown_chunk_sizes() -> None:
    x, y = points(5_000)
    xs = da.from_array(x, chunks=700)
    ys = da.from_array(y, chunks=700)
    keep = xs > -1.0  # boolean indexing leaves the chunk sizes unknown
    assert_moments_equal(moments_from_dask(xs[keep], ys[keep]), x, y)


def test_moments_from_dask_frame_of_several_partitions() -> None:
    x, y = points(8_000, 1e6)
    frame = dd.from_pandas(pd.DataFrame({"a": x, "b": y}), npartitions=5)
    assert frame.npartitions == 5
    assert_moments_equal(moments_from_dask_frame(frame, x="a", y="b"), x, y)


def test_dask_refuses_what_the_service_would() -> None:
    with pytest.raises(ValueError, match="same length"):
        moments_from_dask(da.ones(5, chunks=2), da.ones(4, chunks=2))
    with pytest.raises(ValueError, match="1-D"):
        moments_from_dask(da.ones((2, 2)), da.ones((2, 2)))
    with pytest.raises(ValidationError, match="sxx"):
        moments_from_dask(da.ones(10, chunks=3), da.arange(10, chunks=3))
    frame = dd.from_pandas(pd.DataFrame({"x": [1.0, 2.0, None], "y": [1.0, 2.0, 3.0]}), 2)
    with pytest.raises(ValidationError, match="finite"):
        moments_from_dask_frame(frame)
    with pytest.raises(KeyError):
        moments_from_dask_frame(frame, x="missing")


@pytest.mark.anyio
async def test_fit_of_dask_moments_equals_fit_of_raw_data() -> None:
    x, y = points(4_000)
    frame = dd.from_pandas(pd.DataFrame({"x": x, "y": y}), npartitions=4)
    moments = moments_from_dask_frame(frame)
    options: dict[str, Any] = {"learning_rate": 1e-4, "epochs": 5_000, "history_points": 6}
    async with service_client(app_with()) as client:
        raw = await client.fit(x, y, **options)
        from_moments = await client.fit(moments=moments, **options)
        (batched,) = await client.fit_batch([{"moments": moments, **options}])
    assert raw.history is not None
    want = as_moments_answer(raw.model_dump(mode="json"))  # no points: mae is null
    assert_same_fit(from_moments.model_dump(mode="json"), want)
    assert_same_fit(batched.model_dump(mode="json"), want)
