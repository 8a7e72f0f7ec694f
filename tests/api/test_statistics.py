"""`statistics` in every fit answer: /fit, /fit/batch items, raw data and moments.

The JSON carries null, never NaN, for undefined values; the `ols` block equals statsmodels
and SciPy on the article's example; `confidence_level` sets the intervals.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pytest
import scipy.stats

from service.examples import ARTICLE_X, ARTICLE_Y
from tests.helpers.statistics import statsmodels_answer

pytestmark = pytest.mark.anyio

OLS_FIELDS = {
    "m",
    "b",
    "r",
    "r2",
    "adjusted_r2",
    "df",
    "residual_std_error",
    "stderr_m",
    "stderr_b",
    "t_m",
    "t_b",
    "p_m",
    "p_b",
    "ci_m",
    "ci_b",
    "f_statistic",
    "f_p_value",
    "confidence_level",
}


async def test_article_example_statistics_equal_statsmodels_and_scipy(
    client: httpx.AsyncClient,
) -> None:
    body = {"x": ARTICLE_X, "y": ARTICLE_Y, "learning_rate": 0.001, "epochs": 10_000}
    answer = (await client.post("/fit", json=body)).json()
    statistics = answer["statistics"]
    assert set(statistics) == {"r2", "rmse", "mae", "ols"}
    ols = statistics["ols"]
    assert set(ols) == OLS_FIELDS
    x, y = np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y)
    want = statsmodels_answer(x, y, None, 0.95)
    ci_m, ci_b = want.pop("ci_m"), want.pop("ci_b")
    for key, value in want.items():
        assert ols[key] == pytest.approx(value, rel=1e-9), key
    assert ols["ci_m"] == pytest.approx(list(ci_m), rel=1e-9)
    assert ols["ci_b"] == pytest.approx(list(ci_b), rel=1e-9)
    linregress = scipy.stats.linregress(x, y)
    assert ols["r"] == pytest.approx(linregress.rvalue, rel=1e-9)
    assert ols["df"] == 98 and ols["confidence_level"] == 0.95
    # the returned line's own numbers
    residual = y - (answer["m"] * x + answer["b"])
    assert statistics["rmse"] == pytest.approx(math.sqrt(answer["cost"]), rel=1e-15)
    assert statistics["mae"] == pytest.approx(np.mean(np.abs(residual)), rel=1e-12)
    assert statistics["r2"] == pytest.approx(1 - answer["cost"] / np.var(y), rel=1e-12)
    # the optimum is the least-squares line itself (l2 = 0)
    assert (ols["m"], ols["b"]) == (answer["optimum"]["m"], answer["optimum"]["b"])


async def test_confidence_level_sets_the_intervals(client: httpx.AsyncClient) -> None:
    body = {"x": ARTICLE_X, "y": ARTICLE_Y, "epochs": 10}
    wide = (await client.post("/fit", json={**body, "confidence_level": 0.99})).json()
    narrow = (await client.post("/fit", json=body)).json()
    a, b = wide["statistics"]["ols"], narrow["statistics"]["ols"]
    assert a["confidence_level"] == 0.99 and b["confidence_level"] == 0.95
    assert a["ci_m"][0] < b["ci_m"][0] < b["ci_m"][1] < a["ci_m"][1]
    t99 = scipy.stats.t.ppf(0.995, 98)
    assert a["ci_m"][1] - a["m"] == pytest.approx(t99 * a["stderr_m"], rel=1e-9)


async def test_two_points_answer_nulls(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={"x": [1, 3], "y": [2, 7], "epochs": 10})
    assert response.status_code == 200
    assert "NaN" not in response.text and "Infinity" not in response.text
    ols = response.json()["statistics"]["ols"]
    assert ols["df"] == 0
    assert ols["r"] == 1.0 and ols["r2"] == 1.0
    for key in OLS_FIELDS - {"m", "b", "r", "r2", "df", "confidence_level"}:
        assert ols[key] is None, key


async def test_constant_y_answers_nulls(client: httpx.AsyncClient) -> None:
    body = {"x": [1, 2, 3, 5], "y": [4, 4, 4, 4], "epochs": 10}
    answer = (await client.post("/fit", json=body)).json()
    statistics = answer["statistics"]
    assert statistics["r2"] is None
    ols = statistics["ols"]
    for key in ("r", "r2", "adjusted_r2", "f_statistic", "f_p_value", "t_m", "t_b", "p_m", "p_b"):
        assert ols[key] is None, key
    assert ols["residual_std_error"] == 0.0 and ols["ci_b"] == [4.0, 4.0]


async def test_exact_line_answers_nulls_for_t_p_and_f(client: httpx.AsyncClient) -> None:
    body = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "epochs": 10}
    ols = (await client.post("/fit", json=body)).json()["statistics"]["ols"]
    assert (ols["r"], ols["r2"], ols["stderr_m"]) == (1.0, 1.0, 0.0)
    for key in ("t_m", "t_b", "p_m", "p_b", "f_statistic", "f_p_value"):
        assert ols[key] is None, key


async def test_moments_input_has_no_mae(client: httpx.AsyncClient) -> None:
    moments = {"n": 4, "mean_x": 1.5, "mean_y": 4.0, "sxx": 5.0, "sxy": 9.0, "syy": 17.0}
    answer = (await client.post("/fit", json={"moments": moments, "epochs": 10})).json()
    assert answer["statistics"]["mae"] is None
    assert answer["statistics"]["ols"]["m"] == 1.8


async def test_batch_items_carry_the_same_statistics(client: httpx.AsyncClient) -> None:
    fits: list[dict[str, Any]] = [
        {"x": ARTICLE_X, "y": ARTICLE_Y, "epochs": 100, "confidence_level": 0.9},
        {"x": [1, 3], "y": [2, 7], "epochs": 10},
        {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "epochs": 10, "l2": 0.5},
    ]
    batch = (await client.post("/fit/batch", json={"fits": fits})).json()["results"]
    singles = [(await client.post("/fit", json=fit)).json() for fit in fits]
    assert [item["statistics"] for item in batch] == [item["statistics"] for item in singles]
    # with l2 the ols block is still the unpenalized line
    assert batch[2]["statistics"]["ols"]["m"] == 2.0 and batch[2]["optimum"]["m"] != 2.0


@pytest.mark.parametrize("level", [0, 1, -0.1, 1.5, "0.9", None])
async def test_bad_confidence_level_is_422(client: httpx.AsyncClient, level: Any) -> None:
    body = {"x": [0, 1, 2], "y": [1, 2, 4], "confidence_level": level}
    response = await client.post("/fit", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "confidence_level"]


async def test_confidence_level_in_the_query_string_of_csv(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fit?confidence_level=0.8&epochs=10",
        content=b"x,y\n0,1\n1,2\n2,4\n3,4\n",
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["statistics"]["ols"]["confidence_level"] == 0.8
