"""POST /fit/batch: results in order and equal to single fits, one vectorized core call,
diverged items in place, 422 for any bad item (its limits: tests/ops/test_limits.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest

from service import core
from tests.helpers.fits import (
    LINE,
    as_moments_answer,
    assert_same_fit,
    core_answer,
    moments_body,
)

pytestmark = pytest.mark.anyio


def expected(fit: dict[str, Any]) -> dict[str, Any]:
    """The core's answer for one item of a batch (x, y and core option names)."""
    options = {k: v for k, v in fit.items() if k not in ("x", "y")}
    return core_answer(fit["x"], fit["y"], **options)


async def test_batch_results_in_order_with_diverged_item(client: httpx.AsyncClient) -> None:
    fits: list[dict[str, Any]] = [
        {**LINE, "learning_rate": 0.05, "epochs": 500},
        {**LINE, "learning_rate": 5.0},
        {"x": [1, 2, 4], "y": [2, 2, 5], "learning_rate": 0.01, "history_points": 3},
    ]
    response = await client.post("/fit/batch", json={"fits": fits})
    assert response.status_code == 200
    results = response.json()["results"]
    assert_same_fit(results[0], expected(fits[0]))
    assert_same_fit(results[2], expected(fits[2]))
    error = results[1]["error"]
    assert set(error) == {"type", "msg", "ctx"}
    assert error["type"] == "diverged"
    assert set(error["ctx"]) == {"epoch", "max_stable_learning_rate"}
    assert f"epoch {error['ctx']['epoch']}" in error["msg"]


async def test_batch_is_one_vectorized_core_call(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = core.fit_batch

    def counting(items: Sequence[tuple[core.Moments, core.FitOptions]]) -> Any:
        calls.append(len(items))
        return real(items)

    def forbidden(*args: object) -> Any:
        raise AssertionError("a batch must not loop over fit")

    monkeypatch.setattr(core, "fit_batch", counting)
    monkeypatch.setattr(core, "fit", forbidden)
    monkeypatch.setattr(core, "fit_moments", forbidden)
    monkeypatch.setattr(core, "fit_points", forbidden)
    response = await client.post("/fit/batch", json={"fits": [LINE] * 25})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 25
    assert calls == [25]


async def test_batch_item_errors_have_their_index(client: httpx.AsyncClient) -> None:
    fits = [LINE, {"x": [1, 2, 3], "y": [1, 2]}, LINE, {**LINE, "lr": -1, "typo": 1}]
    response = await client.post("/fit/batch", json={"fits": fits})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "length_mismatch",
                "loc": ["body", "fits", 1, "y"],
                "msg": "x and y must have the same length (got 3 and 2)",
                "input": [1, 2],
                "ctx": {"x_length": 3, "y_length": 2},
            },
            {
                "type": "greater_than",
                "loc": ["body", "fits", 3, "lr"],
                "msg": "Input should be greater than 0",
                "input": -1,
                "ctx": {"gt": 0.0},
            },
            {
                "type": "extra_forbidden",
                "loc": ["body", "fits", 3, "typo"],
                "msg": "Extra inputs are not permitted",
                "input": 1,
            },
        ]
    }


async def test_batch_empty_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit/batch", json={"fits": []})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "too_short",
                "loc": ["body", "fits"],
                "msg": "List should have at least 1 item after validation, not 0",
                "input": [],
                "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0},
            }
        ]
    }


async def test_batch_answers_equal_single_fits(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    fits: list[dict[str, Any]] = []
    for i, options in enumerate(
        [
            {"learning_rate": 0.01, "history_points": 7},
            {"learning_rate": 0.02, "optimizer": "momentum", "history_points": 4},
            {
                "lr": 0.05,
                "update": "sequential",
                "epochs": 300,
                "history_spacing": "log",
                "history_points": 6,
            },
            {"learning_rate": 0.01, "optimizer": "nesterov", "momentum": 0.5, "tolerance": 1e-6},
            {"learning_rate": 0.3, "standardize": True, "l2": 0.1, "history_points": 3},
            {"learning_rate": 0.01, "weights": "random"},
            {"learning_rate": 1e-6, "epochs": 3, "update": "sequential"},  # far: advice
        ]
    ):
        n = 20 + 17 * i
        x = rng.normal(3.0, 2.0, n)
        if options.get("weights") == "random":
            options = {**options, "weights": rng.uniform(0.0, 2.0, n).tolist()}
        fits.append({"x": x.tolist(), "y": (1.5 * x - 2 + rng.normal(0, 1, n)).tolist(), **options})
    moments = moments_body(fits[0]["x"], fits[0]["y"])
    fits.append({"moments": moments, "learning_rate": 0.01, "history_points": 7})
    diverging = {**fits[1], "learning_rate": 1.0}
    singles = [(await client.post("/fit", json=fit)).json() for fit in [*fits, diverging]]
    (diverged,) = singles.pop()["detail"]

    def forbidden(*args: object) -> Any:
        raise AssertionError("a batch computes its moments in one segment_moments call")

    monkeypatch.setattr(core, "compute_moments", forbidden)
    response = await client.post("/fit/batch", json={"fits": [*fits, diverging]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results.pop() == {"error": {k: diverged[k] for k in ("type", "msg", "ctx")}}
    assert len(results) == len(fits)
    for got, want in zip(results[:-1], singles[:-1], strict=True):
        assert got == want  # bit for bit: the same floats
    assert_same_fit(results[-1], as_moments_answer(singles[0]))
    # Each item keeps its own history: 7 linear points, or 0 then 1 to 300 geometrically.
    assert results[0]["history"]["epoch"] == [0, 1667, 3333, 5000, 6667, 8333, 10_000]
    assert results[2]["history"]["epoch"] == [0, 1, 4, 17, 72, 300]
