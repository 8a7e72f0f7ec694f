"""How POST /fit/batch validates its items: points that are certainly valid are converted for
the whole batch at once (`service.validation.sure_points`) and each item's other fields are
validated once per distinct set of values (`service.schemas.batch`); anything else is
validated as sent. Either way an item gets the request, the answer and the 422 that the
same body gets from POST /fit."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from service.schemas import (
    DEFAULT_LIMITS,
    BatchFitRequest,
    BatchFitResponse,
    BatchItemError,
    FitErrorBody,
    FitRequest,
    FitResponse,
)
from service.validation import STAND_IN, sure_points

pytestmark = pytest.mark.anyio

LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7.5]}
MAX_POINTS = DEFAULT_LIMITS.max_points


def sure(fit: Any) -> bool:
    """Whether `sure_points` takes the points of `fit`, alone in a batch."""
    return sure_points([fit], MAX_POINTS)[0] is not None


@pytest.mark.parametrize(
    "fit",
    [
        LINE,
        {"X": [0.5, 1, 2e3, -3], "Y": [1, 0, 0, 1], "lr": 1e-7},
        {"x": [0, 1, 0, 1], "y": [1, 1, 0, 0.5], "standardize": True},
        {"x": [2**60, 0], "y": [1e150, -1e150]},
        {"x": [2**53 + 1, -(2**63) - 1, 2**64 + 1], "y": [3, 2**1000 + 1, 0.1]},
        {**LINE, "weights": [1, 0, 2.5, 1]},
        {**LINE, "weights": None},
        {**LINE, "typo": 1, "lr": -1},  # the other fields are not its business
    ],
)
def test_sure_points_takes_valid_points(fit: dict[str, Any]) -> None:
    (points,) = sure_points([fit], MAX_POINTS)
    assert points is not None
    x_key = "X" if "X" in fit else "x"
    y_key = "Y" if "Y" in fit else "y"
    assert (points.x_key, points.y_key) == (x_key, y_key)
    # The floats validation makes of the same numbers (large integers rounded alike).
    validated = FitRequest.model_validate({x_key: fit[x_key], y_key: fit[y_key]})
    assert validated.x is not None and validated.y is not None
    assert points.x.tolist() == validated.x
    assert points.y.tolist() == validated.y
    if fit.get("weights") is None:
        assert points.weights is None
    else:
        np.testing.assert_array_equal(points.weights, fit["weights"])


DOUBTFUL: list[Any] = [
    {"x": [0, True], "y": [1, 2]},
    {"x": [0, 1], "y": [False, 2]},
    {"x": [0, "1"], "y": [1, 2]},
    {"x": [0, None], "y": [1, 2]},
    {"x": [0, [1]], "y": [1, 2]},
    {"x": [0, {"a": 1}], "y": [1, 2]},
    {"x": [0, 10**400], "y": [1, 2]},
    {"x": [0, 1], "y": [1, -(10**400)]},
    {"x": [0, float("nan")], "y": [1, 2]},
    {"x": [0, 1], "y": [1, float("inf")]},
    {"x": [0], "y": [1]},
    {"x": [], "y": []},
    {"x": [1, 1, 1], "y": [1, 2, 3]},
    {"x": [1, 2, 3], "y": [1, 2]},
    {"x": [1, 2, 3], "y": [4, 4, 4], "standardize": True},
    {"x": [1, 2], "X": [1, 2], "y": [1, 2]},
    {"x": [1, 2], "y": [1, 2], "Y": [1, 2]},
    {"x": [1, 2], "y": [1, 2], "moments": None},
    {"x": (1, 2), "y": [1, 2]},
    {"x": [1, 2]},
    {**LINE, "weights": [1, 1, 1]},
    {**LINE, "weights": [1, -1, 1, 1]},
    {**LINE, "weights": [0, 0, 0, 0]},
    {**LINE, "weights": [1, 0, 0, 0]},  # one x with a positive weight
    {**LINE, "weights": [1, True, 1, 1]},
    {**LINE, "weights": [1, "1", 1, 1]},
    {**LINE, "weights": 1},
    {"x": [1, 2, 3], "y": [4, 4, 5], "weights": [1, 1, 0], "standardize": True},
    [1, 2],
    None,
]


@pytest.mark.parametrize("fit", DOUBTFUL)
def test_sure_points_leaves_anything_doubtful_to_validation(fit: Any) -> None:
    assert not sure(fit)


def test_sure_points_judges_each_item_on_its_own() -> None:
    """One batch buffer, yet a boolean, a NaN or a constant x refuses only its own item."""
    fits = [LINE, *DOUBTFUL, LINE]
    found = sure_points(fits, MAX_POINTS)
    assert [points is not None for points in found] == [True] + [False] * len(DOUBTFUL) + [True]
    for points in (found[0], found[-1]):
        assert points is not None
        np.testing.assert_array_equal(points.x, LINE["x"])
        np.testing.assert_array_equal(points.y, LINE["y"])


def test_sure_points_keeps_to_max_points() -> None:
    assert sure_points([LINE], 4)[0] is not None
    assert sure_points([LINE], 3)[0] is None


def test_sure_points_only_takes_what_validation_takes() -> None:
    """Random items of every kind: whatever `sure_points` takes, validation takes too, with
    the same points."""
    rng = np.random.default_rng(3)
    kinds: list[Any] = [0, 1, 0.0, 1.0, -1, 2.5, True, False, None, "1", [1], 1e308, -0.0]
    fits: list[dict[str, Any]] = []
    for _ in range(2000):
        x = [kinds[i] for i in rng.integers(0, len(kinds), 4)]
        y = [kinds[i] for i in rng.integers(0, len(kinds), 4)]
        fit: dict[str, Any] = {"x": x, "y": y, "standardize": bool(rng.integers(0, 2))}
        if rng.integers(0, 2):
            fit["weights"] = [kinds[i] for i in rng.integers(0, 6, 4)]
        fits.append(fit)
    taken = 0
    for fit, points in zip(fits, sure_points(fits, MAX_POINTS), strict=True):
        if points is None:
            continue
        taken += 1
        request = FitRequest.model_validate(fit)  # raises if validation refuses it
        x, y = request.data_arrays()
        np.testing.assert_array_equal(points.x, x)
        np.testing.assert_array_equal(points.y, y)
        assert (points.weights is None) == (request.weights is None)
    assert taken >= 20  # the test sees the path it is about


def test_batch_items_take_the_array_path() -> None:
    """Items of plain points end up as arrays (the lists are not kept), each its own."""
    fits = [{**LINE, "y": [1, 3, 5, 7 + i]} for i in range(3)]
    batch = BatchFitRequest.model_validate({"fits": fits})
    assert all(fit.x is None and fit.y is None for fit in batch.fits)
    for fit, item in zip(fits, batch.fits, strict=True):
        x, y = item.data_arrays()
        np.testing.assert_array_equal(x, fit["x"])
        np.testing.assert_array_equal(y, fit["y"])
    assert batch.fits[0] is not batch.fits[1]


def test_batch_items_validate_to_the_requests_of_their_bodies() -> None:
    """Every field, the options, the moments and the weights of each item are those of the
    same body validated alone, whether items share their hyperparameters or not."""
    rng = np.random.default_rng(8)
    fits: list[dict[str, Any]] = []
    for i in range(12):
        x = rng.normal(0.0, 1.0, 10).tolist()
        y = rng.normal(0.0, 1.0, 10).tolist()
        fit: dict[str, Any] = {"X" if i % 3 else "x": x, "y": y, "learning_rate": 0.01}
        if i % 2:
            fit["weights"] = rng.uniform(0.0, 1.0, 10).tolist()
        if i % 4 == 1:
            fit.update(optimizer="momentum", momentum=0.5, history_points=3)
        fits.append(fit)
    batch = BatchFitRequest.model_validate({"fits": fits})
    for fit, item in zip(fits, batch.fits, strict=True):
        alone = FitRequest.model_validate(fit)
        skip = {"x", "y", "weights"}
        assert item.model_dump(exclude=skip) == alone.model_dump(exclude=skip)
        assert item.to_options() == alone.to_options()
        assert item.to_moments() == alone.to_moments()
        assert item.points == alone.points
        weights, alone_weights = item.weight_array(), alone.weight_array()
        if alone_weights is None:
            assert weights is None
        else:
            np.testing.assert_array_equal(weights, alone_weights)


def test_shared_fields_are_told_apart_by_type_and_sign() -> None:
    """Items validated once per distinct set of fields: 10 and 10.0 (strict int), 1 and
    true, 0.0 and -0.0 are different inputs."""
    fits = [
        {**LINE, "epochs": 10, "initial_m": 0.0},
        {**LINE, "epochs": 10, "initial_m": -0.0},
        {**LINE, "epochs": 10.0},
        {**LINE, "epochs": True},
        {**LINE, "epochs": 10, "initial_m": 0.0},
    ]
    with pytest.raises(ValidationError) as raised:
        BatchFitRequest.model_validate({"fits": fits})
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [
        (("fits", 2, "epochs"), "int_type"),
        (("fits", 3, "epochs"), "int_type"),
    ]
    batch = BatchFitRequest.model_validate({"fits": [fits[0], fits[1], fits[4]]})
    signs = [np.copysign(1.0, fit.initial_m) for fit in batch.fits]
    assert signs == [1.0, -1.0, 1.0]


def test_with_arrays_copies_a_request_without_lists_exactly() -> None:
    template = FitRequest.model_validate({"x": list(STAND_IN), "y": list(STAND_IN), "lr": 0.5})
    template = template.with_arrays(np.zeros(2), np.ones(2))
    x, y = np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0])
    fast = template.with_arrays(x, y)
    slow = FitRequest.model_validate({"x": x.tolist(), "y": y.tolist(), "lr": 0.5})
    assert type(fast) is FitRequest
    assert fast.model_dump() == template.model_dump()
    assert fast.model_fields_set == template.model_fields_set
    assert fast.model_fields_set is not template.model_fields_set
    assert fast.__dict__ is not template.__dict__
    assert fast.__pydantic_extra__ is None
    assert fast.data_arrays() == (x, y)
    assert fast.weight_array() is None
    assert fast.points == 3
    assert fast.to_moments() == slow.to_moments()
    assert template.data_arrays()[0].size == 2  # the template keeps its own
    weights = np.array([1.0, 0.5, 1.0])
    weighted = template.with_arrays(x, y, weights)
    assert weighted.weight_array() is weights and weighted.weights is None


def test_batch_answer_serializes_each_result_as_its_own_model() -> None:
    response = FitResponse.model_validate(orjson.loads(_EXAMPLE_ANSWER))
    error = BatchItemError(error=FitErrorBody(type="diverged", msg="m", ctx={"epoch": 3}))
    batch = BatchFitResponse(results=[response, error, response])
    parts = [part.model_dump_json() for part in (response, error, response)]
    assert batch.model_dump_json() == '{"results":[' + ",".join(parts) + "]}"


_EXAMPLE_ANSWER = orjson.dumps(
    {
        "m": 2.0,
        "b": 1.0,
        "cost": 0.0,
        "epochs_run": 10,
        "stop_reason": "epochs",
        "gradient_norm": 1e-9,
        "n": 4,
        "optimum": {"m": 2.0, "b": 1.0, "cost": 0.0},
        "max_stable_learning_rate": 0.5,
        "warnings": ["far"],
        "history": {"epoch": [0, 10], "cost": [1.0, 0.0], "m": [0.0, 2.0], "b": [0.0, 1.0]},
        "statistics": {
            "r2": 1.0,
            "rmse": 0.0,
            "mae": None,
            "ols": {
                "m": 2.0,
                "b": 1.0,
                "r": 1.0,
                "r2": 1.0,
                "adjusted_r2": 1.0,
                "df": 2,
                "residual_std_error": 0.0,
                "stderr_m": 0.0,
                "stderr_b": 0.0,
                "t_m": None,
                "t_b": None,
                "p_m": None,
                "p_b": None,
                "ci_m": [2.0, 2.0],
                "ci_b": [1.0, 1.0],
                "f_statistic": None,
                "f_p_value": None,
                "confidence_level": 0.95,
            },
        },
    }
)


async def test_batch_items_answer_as_their_single_fits(client: httpx.AsyncClient) -> None:
    """Items through either path, sharing hyperparameters or not, under aliases, weighted,
    with -0.0: each answer is the /fit answer of its body, bit for bit."""
    rng = np.random.default_rng(21)
    fits: list[dict[str, Any]] = []
    for i in range(10):
        x = np.round(rng.normal(0.0, 1.0, 30), 3)
        y = np.round(2 * x + rng.normal(0.0, 0.5, 30), 3)
        fit: dict[str, Any] = {"x": x.tolist(), "y": y.tolist(), "learning_rate": 0.01}
        if i == 1:
            fit = {"X": fit["x"], "Y": fit["y"], "lr": 0.01}
        elif i == 2:
            fit["weights"] = rng.uniform(0.0, 2.0, 30).tolist()
        elif i == 3:
            fit.update(initial_m=-0.0, initial_b=-0.0, history_points=4)
        elif i == 4:
            fit.update(standardize=True, optimizer="nesterov", momentum=0.5)
        elif i == 5:
            fit["x"] = [int(v * 1000) for v in fit["x"]]  # integers
            fit["learning_rate"] = 1e-7
        elif i == 6:
            fit["weights"] = None
        fits.append(fit)
    singles = [(await client.post("/fit", json=fit)).json() for fit in fits]
    response = await client.post("/fit/batch", json={"fits": fits})
    assert response.status_code == 200
    assert response.json()["results"] == singles


async def test_batch_item_errors_are_those_of_their_single_fits(
    client: httpx.AsyncClient,
) -> None:
    """Bad items among good ones that share their fields: each 422 item is the /fit error of
    its body, at ``["body", "fits", i, ...]``."""
    bad: list[dict[str, Any]] = [
        {**LINE, "x": [0, 1, True, 3]},
        {**LINE, "y": [1, 2, 3]},
        {**LINE, "x": [1, 1, 1, 1]},
        {**LINE, "epochs": 10.0},
        {**LINE, "weights": [1, -1, 1, 1]},
        {**LINE, "y": [2, 2, 2, 2], "standardize": True},
        {**LINE, "typo": 1},
        {**LINE, "x": [0, "1", 2, 3]},
    ]
    fits: list[dict[str, Any]] = []
    for item in bad:
        fits += [{**LINE, "epochs": 10}, {**item, "epochs": item.get("epochs", 10)}]
    want: list[dict[str, Any]] = []
    for i, fit in enumerate(fits):
        single = await client.post("/fit", json=fit)
        if single.status_code == 200:
            continue
        assert single.status_code == 422
        for detail in single.json()["detail"]:
            want.append({**detail, "loc": ["body", "fits", i, *detail["loc"][1:]]})
    response = await client.post("/fit/batch", json={"fits": fits})
    assert response.status_code == 422
    assert response.json()["detail"] == want
    assert len(want) == len(bad)
