"""POST /fit: the answer equals the core's (and the article's per-epoch loop), for raw data,
aliases, every option and moments. Its 422s: test_validation.py; its headers: test_headers.py."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from service.examples import ARTICLE_EXAMPLE, ARTICLE_X, ARTICLE_Y
from tests.core import reference
from tests.helpers.fits import LINE, as_moments_answer, assert_same_fit, core_answer, moments_body

pytestmark = pytest.mark.anyio


async def test_fit_article_example_matches_the_per_epoch_reference(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fit", json=ARTICLE_EXAMPLE)
    assert response.status_code == 200
    body = response.json()
    assert body["history"]["epoch"] == [0, 2500, 5000, 7500, 10000]
    assert body["stop_reason"] == "epochs"
    # Checked against the plain per-epoch loop, not against the core itself.
    path = reference.descend(
        np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y), learning_rate=0.001, epochs=10_000
    )
    epochs = body["history"]["epoch"]
    assert body["history"]["m"] == pytest.approx(path.m[epochs].tolist(), rel=1e-9)
    assert body["history"]["b"] == pytest.approx(path.b[epochs].tolist(), rel=1e-9)
    assert body["history"]["cost"] == pytest.approx(path.cost[epochs].tolist(), rel=1e-9)
    assert (body["m"], body["b"], body["cost"]) == pytest.approx(
        (path.m[-1], path.b[-1], path.cost[-1]), rel=1e-9
    )
    assert body["gradient_norm"] == pytest.approx(path.grad_norm[-1], rel=1e-6)


async def test_fit_known_line(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={**LINE, "learning_rate": 0.1, "epochs": 5000})
    assert response.status_code == 200
    body = response.json()
    assert body["m"] == pytest.approx(2.0)
    assert body["b"] == pytest.approx(1.0)
    assert body["optimum"] == {"m": pytest.approx(2.0), "b": pytest.approx(1.0), "cost": 0.0}
    assert body["n"] == 4
    assert body["history"] is None
    assert body["warnings"] == []


async def test_fit_defaults_are_the_articles(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={"x": ARTICLE_X, "y": ARTICLE_Y})
    assert response.status_code == 200
    assert response.json() == core_answer(ARTICLE_X, ARTICLE_Y)
    assert response.json()["epochs_run"] == 10_000


async def test_fit_aliases_X_Y_lr(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={"X": ARTICLE_X, "Y": ARTICLE_Y, "lr": 0.01})
    assert response.status_code == 200
    assert response.json() == core_answer(ARTICLE_X, ARTICLE_Y, learning_rate=0.01)


async def test_fit_every_option_passes_through(client: httpx.AsyncClient) -> None:
    options: dict[str, Any] = {
        "learning_rate": 0.05,
        "epochs": 300,
        "initial_m": 0.5,
        "initial_b": -0.5,
        "update": "simultaneous",
        "optimizer": "nesterov",
        "momentum": 0.5,
        "l2": 0.1,
        "standardize": True,
        "tolerance": 1e-6,
        "history_points": 7,
        "history_spacing": "log",
    }
    response = await client.post("/fit", json={"x": ARTICLE_X, "y": ARTICLE_Y, **options})
    assert response.status_code == 200
    assert response.json() == core_answer(ARTICLE_X, ARTICLE_Y, **options)


async def test_fit_sequential_is_the_articles_rule(client: httpx.AsyncClient) -> None:
    body = {"x": ARTICLE_X, "y": ARTICLE_Y, "update": "sequential", "epochs": 50}
    response = await client.post("/fit", json=body)
    assert response.status_code == 200
    assert response.json() == core_answer(ARTICLE_X, ARTICLE_Y, update="sequential", epochs=50)


async def test_fit_tolerance_stops_early(client: httpx.AsyncClient) -> None:
    body = {"x": ARTICLE_X, "y": ARTICLE_Y, "learning_rate": 0.1, "tolerance": 1e-3}
    response = await client.post("/fit", json=body)
    assert response.status_code == 200
    assert response.json()["stop_reason"] == "tolerance"
    # The first epoch whose gradient norm, in the plain per-epoch loop, is at most 1e-3.
    path = reference.descend(
        np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y), learning_rate=0.1, epochs=500
    )
    assert response.json()["epochs_run"] == int(np.argmax(path.grad_norm <= 1e-3))
    assert path.grad_norm.min() <= 1e-3  # the loop above did get there


async def test_fit_moments_equals_raw_data(client: httpx.AsyncClient) -> None:
    x, y = np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y)
    # Computed here, two-pass, not by the core: the wire format of moments, by hand.
    moments = {
        "n": 100,
        "mean_x": float(x.mean()),
        "mean_y": float(y.mean()),
        "sxx": float(((x - x.mean()) ** 2).sum()),
        "sxy": float(((x - x.mean()) * (y - y.mean())).sum()),
        "syy": float(((y - y.mean()) ** 2).sum()),
    }
    raw = await client.post("/fit", json={"x": ARTICLE_X, "y": ARTICLE_Y, "lr": 0.01})
    response = await client.post("/fit", json={"moments": moments, "lr": 0.01})
    assert raw.status_code == response.status_code == 200
    assert response.json()["n"] == 100
    assert_same_fit(response.json(), as_moments_answer(raw.json()))


@pytest.mark.parametrize(
    ("scale", "options", "epochs"),
    [
        (1.0, {"lr": 0.01, "history_points": 9}, list(range(0, 10_001, 1250))),
        (
            1.0,
            {"lr": 0.05, "update": "sequential", "history_points": 5, "history_spacing": "log"},
            [0, 1, 22, 464, 10_000],  # 0, then 1 to 10,000 geometrically, rounded
        ),
        (1.0, {"lr": 0.02, "optimizer": "nesterov", "tolerance": 1e-8, "history_points": 4}, None),
        (
            1e3,
            {"lr": 0.1, "standardize": True, "l2": 0.2, "initial_m": 1.0, "history_points": 3},
            [0, 5000, 10_000],
        ),
    ],
)
async def test_fit_moments_answer_equals_raw_data_with_history(
    client: httpx.AsyncClient, scale: float, options: dict[str, Any], epochs: list[int] | None
) -> None:
    # x far from 0 (scaled and shifted by 1e6) needs standardize to descend in few epochs.
    x = np.asarray(ARTICLE_X) * scale + (1e6 if scale != 1.0 else 0.0)
    y = np.asarray(ARTICLE_Y)
    raw = await client.post("/fit", json={"x": x.tolist(), "y": y.tolist(), **options})
    response = await client.post("/fit", json={"moments": moments_body(x, y), **options})
    assert raw.status_code == response.status_code == 200
    history = response.json()["history"]
    assert history is not None
    recorded = history["epoch"]
    if epochs is None:  # stopped by the tolerance: the last recorded epoch is the last run
        assert response.json()["stop_reason"] == "tolerance"
        assert recorded[0] == 0 and recorded[-1] == response.json()["epochs_run"] < 10_000
        assert len(recorded) == 4
    else:
        assert recorded == epochs
    assert_same_fit(response.json(), as_moments_answer(raw.json()))
