"""The fast body path of POST /fit (service/bodies.py): a large body of plain numbers skips
Pydantic, yet gets the same request, the same answer and the same 422s as validation."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from service import core
from service.bodies import fast_fit_request
from service.schemas import DEFAULT_LIMITS, FitRequest
from tests.helpers.fits import assert_same_fit, core_answer

pytestmark = pytest.mark.anyio

LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7.5]}


def fast_path(body: Any) -> FitRequest | None:
    """The fast path's request for `body` under the default limits."""
    return fast_fit_request(body, DEFAULT_LIMITS)


@pytest.mark.parametrize(
    "body",
    [
        LINE,
        {"X": [0.5, 1, 2e3, -3], "Y": [1, 0, 0, 1], "lr": 1e-7},
        {"x": [0, 1, 0, 1], "y": [1, 1, 0, 0.5], "standardize": True, "history_points": 3},
        {**LINE, "optimizer": "momentum", "momentum": 0.5, "tolerance": 0, "epochs": 7},
        {"x": [2**60, 0], "y": [1e150, -1e150], "initial_m": 1, "update": "sequential"},
    ],
)
def test_fast_path_builds_the_validated_request(body: dict[str, Any]) -> None:
    fast = fast_path(orjson.loads(orjson.dumps(body)))
    slow = FitRequest.model_validate(body)
    assert fast is not None
    assert fast.x is None and fast.y is None
    assert fast.model_dump(exclude={"x", "y"}) == slow.model_dump(exclude={"x", "y"})
    assert fast.points == slow.points
    assert fast.to_options() == slow.to_options()
    assert fast.to_moments() == slow.to_moments()


@pytest.mark.parametrize(
    "body",
    [
        {"x": [0, True], "y": [1, 2]},
        {"x": [0, 1], "y": [False, 2]},
        {"x": [0, "1"], "y": [1, 2]},
        {"x": [0, None], "y": [1, 2]},
        {"x": [0, [1]], "y": [1, 2]},
        {"x": [0, {"a": 1}], "y": [1, 2]},
        {"x": [0, 10**400], "y": [1, 2]},
        {"x": [0], "y": [1]},
        {"x": [], "y": []},
        {"x": [1, 1, 1], "y": [1, 2, 3]},
        {"x": [1, 2, 3], "y": [1, 2]},
        {"x": [1, 2, 3], "y": [4, 4, 4], "standardize": True},
        {"x": [1, 2], "y": [1, 2], "typo": 1},
        {"x": [1, 2], "y": [1, 2], "lr": 0},
        {"x": [1, 2], "y": [1, 2], "standardize": "yes"},
        {"x": [1, 2], "X": [1, 2], "y": [1, 2]},
        {"x": [1, 2], "y": [1, 2], "moments": None},
        {"x": (1, 2), "y": [1, 2]},
        {"x": [1, 2]},
        [1, 2],
    ],
)
def test_fast_path_leaves_anything_doubtful_to_validation(body: Any) -> None:
    assert fast_path(body) is None


def test_fast_path_refuses_what_validation_refuses() -> None:
    """Every body the fast path accepts, validation accepts too (items of every kind)."""
    rng = np.random.default_rng(3)
    kinds: list[Any] = [0, 1, 0.0, 1.0, -1, 2.5, True, False, None, "1", [1], 1e308, -0.0]
    for _ in range(300):
        x = [kinds[i] for i in rng.integers(0, len(kinds), 4)]
        y = [kinds[i] for i in rng.integers(0, len(kinds), 4)]
        fast = fast_path({"x": x, "y": y})
        try:
            slow: FitRequest | None = FitRequest.model_validate({"x": x, "y": y})
        except ValidationError:
            slow = None
        if fast is not None:
            assert slow is not None, (x, y)
            assert moments_or_error(fast) == moments_or_error(slow)


def moments_or_error(request: FitRequest) -> core.Moments | str:
    try:
        return request.to_moments()
    except core.DataError as error:
        return error.message


async def test_large_body_through_the_fast_path_answers_as_the_core(
    client: httpx.AsyncClient,
) -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(5.0, 3.0, 20_000)
    y = 0.5 * x + rng.normal(0.0, 1.0, x.size)
    body = {"x": x, "y": y, "learning_rate": 0.01, "history_points": 5}
    content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    assert fast_path(orjson.loads(content)) is not None
    response = await client.post(
        "/fit", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    want = core_answer(x, y, learning_rate=0.01, history_points=5)
    assert_same_fit(response.json(), want)


async def test_rejected_large_body_gets_the_detailed_422(client: httpx.AsyncClient) -> None:
    x: list[Any] = list(range(1000))
    x[700] = True
    response = await client.post("/fit", json={"x": x, "y": list(range(1000))})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "float_type",
                "loc": ["body", "x", 700],
                "msg": "Input should be a valid number",
                "input": True,
            }
        ]
    }
