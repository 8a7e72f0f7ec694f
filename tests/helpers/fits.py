"""Fit bodies the tests send, what the core says /fit should answer for them, how two answers
computed along different paths (batch, moments, fast body, Dask) are compared, and the
errors of a 422 in short."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from service import core
from service.examples import ARTICLE_X, ARTICLE_Y
from service.schemas import FitResponse

LINE: dict[str, Any] = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7]}
"""Four points on y = 2x + 1: the smallest valid body, fitted in a few milliseconds."""

ARTICLE_BODY: dict[str, Any] = {
    "x": ARTICLE_X,
    "y": ARTICLE_Y,
    "learning_rate": 0.001,
    "epochs": 10_000,
}
"""The article's own run: its 100 points, learning rate 0.001, 10,000 epochs."""

MOMENT_FIELDS = ("n", "mean_x", "mean_y", "sxx", "sxy", "syy")


def core_answer(x: Any, y: Any, **options: Any) -> dict[str, Any]:
    """The /fit answer (as JSON) that the core computes for this data and these options
    (their core names: learning_rate, not lr)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    result = core.fit(xs, ys, core.FitOptions(**options))
    (result,) = core.with_statistics(
        [result], [core.compute_moments(xs, ys)], None, [(xs, ys, None)]
    )
    return FitResponse.from_core(result).model_dump(mode="json")


def moments_body(x: Any, y: Any) -> dict[str, Any]:
    """The ``moments`` of a /fit body for this data, computed by the core."""
    sums = core.compute_moments(np.asarray(x), np.asarray(y))
    return {name: getattr(sums, name) for name in MOMENT_FIELDS}


def as_moments_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """A raw-data /fit answer as the same fit sent as moments answers it: without the points,
    `statistics.mae` is null (everything else is the same)."""
    statistics = {**answer["statistics"], "mae": None}
    return {**answer, "statistics": statistics}


def assert_same_fit(got: Any, want: Any, path: str = "") -> None:
    """Equal answers up to floating point: numbers to relative 1e-9 (absolute 1e-12 near 0),
    everything else (epochs, stop reasons, warnings, shapes) exactly."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for key in want:
            assert_same_fit(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_fit(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), path
    else:
        assert got == want, path


def error_kinds(response: httpx.Response) -> list[tuple[str, tuple[Any, ...]]]:
    """The (type, loc) of each error of a 422 answer, in order (asserts it is a 422)."""
    assert response.status_code == 422, response.text
    return [(item["type"], tuple(item["loc"])) for item in response.json()["detail"]]
