"""`weights` on POST /fit, /fit/batch and /fit/plot, and weighted `moments` with `sum_w`.

The answers are the core's weighted fit; points of weight 0 are as if absent; all-1 weights
are no weights; moments with `sum_w` give the raw weighted answer (with `mae` null); a batch
item equals its single fit; every bad weight is a clear 422.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
import statsmodels.api as sm

from service import core

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(31)
X = [float(v) for v in RNG.uniform(0, 10, 40)]
Y = [1.5 * v - 2.0 + float(e) for v, e in zip(X, RNG.normal(0, 1, 40), strict=True)]
W = [float(v) for v in RNG.uniform(0.2, 3.0, 40)]
BODY: dict[str, Any] = {"x": X, "y": Y, "weights": W, "learning_rate": 0.01, "epochs": 3000}


def without(answer: dict[str, Any], *path: str) -> dict[str, Any]:
    """`answer` with the field at `path` set to None."""
    if len(path) == 1:
        return {**answer, path[0]: None}
    return {**answer, path[0]: without(answer[path[0]], *path[1:])}


async def test_weighted_fit_is_the_weighted_least_squares_descent(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fit", json=BODY)
    assert response.status_code == 200, response.text
    got = response.json()
    moments = core.compute_moments(X, Y, W)
    result = core.fit_moments(moments, core.FitOptions(learning_rate=0.01, epochs=3000))
    assert (got["m"], got["b"], got["cost"]) == (result.m, result.b, result.cost)
    wls = sm.WLS(np.asarray(Y), sm.add_constant(np.asarray(X)), weights=np.asarray(W)).fit()
    assert got["optimum"]["m"] == pytest.approx(wls.params[1], rel=1e-12)
    assert got["optimum"]["b"] == pytest.approx(wls.params[0], rel=1e-12)
    ols = got["statistics"]["ols"]
    assert ols["residual_std_error"] == pytest.approx(np.sqrt(wls.scale), rel=1e-9)
    assert ols["p_m"] == pytest.approx(wls.pvalues[1], rel=1e-9)
    residual = np.asarray(Y) - (got["m"] * np.asarray(X) + got["b"])
    w = np.asarray(W)
    assert got["statistics"]["mae"] == pytest.approx(np.sum(w * np.abs(residual)) / w.sum())
    assert got["cost"] == pytest.approx(np.sum(w * residual**2) / w.sum(), rel=1e-12)


async def test_zero_weights_are_as_if_absent(client: httpx.AsyncClient) -> None:
    weights = [0.0 if i % 4 == 0 else w for i, w in enumerate(W)]
    y_wild = [1e12 if i % 4 == 0 else v for i, v in enumerate(Y)]
    kept = [i for i in range(len(X)) if i % 4]
    full = await client.post("/fit", json={**BODY, "y": y_wild, "weights": weights})
    reduced = await client.post(
        "/fit",
        json={
            **BODY,
            "x": [X[i] for i in kept],
            "y": [Y[i] for i in kept],
            "weights": [W[i] for i in kept],
        },
    )
    assert full.status_code == reduced.status_code == 200
    assert full.json() == reduced.json()
    assert full.json()["n"] == len(kept)


async def test_all_one_weights_are_no_weights(client: httpx.AsyncClient) -> None:
    plain = {key: value for key, value in BODY.items() if key != "weights"}
    ones = await client.post("/fit", json={**plain, "weights": [1] * len(X)})
    none = await client.post("/fit", json={**plain, "weights": None})
    absent = await client.post("/fit", json=plain)
    assert ones.json() == none.json() == absent.json()


async def test_moments_with_sum_w_equal_the_raw_weighted_request(
    client: httpx.AsyncClient,
) -> None:
    raw = (await client.post("/fit", json=BODY)).json()
    sums = core.compute_moments(X, Y, W)
    moments = {
        "n": sums.n,
        "mean_x": sums.mean_x,
        "mean_y": sums.mean_y,
        "sxx": sums.sxx,
        "sxy": sums.sxy,
        "syy": sums.syy,
        "sum_w": sums.sum_w,
    }
    body = {"moments": moments, "learning_rate": 0.01, "epochs": 3000}
    response = await client.post("/fit", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == without(raw, "statistics", "mae")


async def test_batch_items_equal_single_fits(client: httpx.AsyncClient) -> None:
    fits = [
        BODY,
        {key: value for key, value in BODY.items() if key != "weights"},
        {**BODY, "weights": [2.0 * w for w in W], "confidence_level": 0.8},
        {"x": [0, 1, 2, 3], "y": [1, 3, 2, 7], "weights": [1, 0, 2, 5], "learning_rate": 0.05},
    ]
    batch = await client.post("/fit/batch", json={"fits": fits})
    assert batch.status_code == 200, batch.text
    singles = [(await client.post("/fit", json=fit)).json() for fit in fits]
    assert batch.json()["results"] == singles


async def test_scaling_the_weights_changes_only_the_residual_standard_error(
    client: httpx.AsyncClient,
) -> None:
    one = (await client.post("/fit", json=BODY)).json()
    other = (await client.post("/fit", json={**BODY, "weights": [1e6 * w for w in W]})).json()
    rse = one["statistics"]["ols"].pop("residual_std_error")
    assert other["statistics"]["ols"].pop("residual_std_error") == pytest.approx(1e3 * rse)

    def close(a: Any, b: Any) -> None:
        if isinstance(a, dict):
            assert set(a) == set(b)
            for key in a:
                close(a[key], b[key])
        elif isinstance(a, list):
            for p, q in zip(a, b, strict=True):
                close(p, q)
        elif isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-11, abs=1e-300)
        else:
            assert a == b

    close(one, other)


async def test_standardize_uses_weighted_z_scores(client: httpx.AsyncClient) -> None:
    body = {**BODY, "standardize": True, "learning_rate": 0.1, "epochs": 200}
    response = await client.post("/fit", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    # the optimum is the weighted least-squares line, whatever space the descent ran in
    wls = sm.WLS(np.asarray(Y), sm.add_constant(np.asarray(X)), weights=np.asarray(W)).fit()
    assert got["optimum"]["m"] == pytest.approx(wls.params[1], rel=1e-12)
    # max_stable_learning_rate is in z-space: 2 / (2 (1 + l2)) whatever the weights
    assert got["max_stable_learning_rate"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "kind", "loc"),
    [
        ({"weights": [1.0] * 39}, "weights_length", ("body", "weights")),
        ({"weights": [1.0] * 20 + [-1.0] + [1.0] * 19}, "weights_negative", ("body", "weights")),
        ({"weights": [0.0] * 40}, "weights_all_zero", ("body", "weights")),
        ({"weights": [1.0] + [0.0] * 39}, "constant_weighted_x", ("body", "weights")),
        ({"weights": ["1"] * 40}, "float_type", ("body", "weights", 0)),
        ({"weights": [True] * 40}, "float_type", ("body", "weights", 0)),
        ({"weights": 1.0}, "list_type", ("body", "weights")),
        ({"confidence_level": 1.0}, "less_than", ("body", "confidence_level")),
        ({"confidence_level": 0}, "greater_than", ("body", "confidence_level")),
    ],
)
async def test_bad_weights_are_422(
    client: httpx.AsyncClient, change: dict[str, Any], kind: str, loc: tuple[Any, ...]
) -> None:
    response = await client.post("/fit", json={**BODY, **change})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert (detail[0]["type"], tuple(detail[0]["loc"])) == (kind, loc), detail
    assert "weight" in detail[0]["msg"] or kind in (
        "float_type",
        "list_type",
        "less_than",
        "greater_than",
    )


async def test_weights_with_moments_is_422(client: httpx.AsyncClient) -> None:
    moments = {"n": 3, "mean_x": 1.0, "mean_y": 2.0, "sxx": 2.0, "sxy": 2.0, "syy": 3.0}
    response = await client.post("/fit", json={"moments": moments, "weights": [1.0, 1.0, 1.0]})
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert (item["type"], item["loc"]) == ("data_conflict", ["body", "weights"])
    assert "sum_w" in item["msg"]


@pytest.mark.parametrize("sum_w", [0, -1.0, "2"])
async def test_bad_sum_w_is_422(client: httpx.AsyncClient, sum_w: Any) -> None:
    moments = {"n": 3, "mean_x": 1.0, "mean_y": 2.0, "sxx": 2.0, "sxy": 2.0, "syy": 3.0}
    response = await client.post("/fit", json={"moments": {**moments, "sum_w": sum_w}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "moments", "sum_w"]


async def test_standardize_needs_y_to_vary_among_the_weighted_points(
    client: httpx.AsyncClient,
) -> None:
    body = {"x": [0, 1, 2, 3], "y": [5, 5, 5, 9], "weights": [1, 1, 1, 0], "standardize": True}
    response = await client.post("/fit", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "constant_y"


async def test_oversized_weights_are_refused_before_validation(
    make_client: Any,
) -> None:
    async with make_client(max_points=10) as small:
        response = await small.post(
            "/fit", json={"x": list(range(5)), "y": list(range(5)), "weights": [1.0] * 11}
        )
    assert response.status_code == 422
    assert ("too_long", ["body", "weights"]) in [
        (item["type"], item["loc"]) for item in response.json()["detail"]
    ]


async def test_weighted_plot_draws(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit/plot", json={**BODY, "epochs": 200})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


async def test_two_weighted_points_keep_their_weights(client: httpx.AsyncClient) -> None:
    body = {"x": [0, 1], "y": [0, 5], "weights": [1, 3], "epochs": 10}
    got = (await client.post("/fit", json=body)).json()
    m, b = got["m"], got["b"]
    want = (1 * (0 - b) ** 2 + 3 * (5 - m - b) ** 2) / 4
    assert got["cost"] == pytest.approx(want, rel=1e-12)
