"""The server's limits (GDS_MAX_*): /info lists them; each is a clear 422 naming its setting,
on every fit route and in every batch item, reported with the other errors of the body; a
batch's own budgets; validation outside a request applies the defaults, never no limits.
The body size limit, a 413: test_body_limit.py."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.schemas import DEFAULT_LIMITS, BatchFitRequest, FitRequest
from tests.helpers.apps import ClientFactory
from tests.helpers.fits import LINE, error_kinds

pytestmark = pytest.mark.anyio

LIMITS = {"max_points": 4, "max_epochs": 50, "max_history_points": 5, "max_batch": 2}
FIT = {"x": [0, 1, 2], "y": [1, 3, 5], "epochs": 10}
AT_LIMITS = {"x": [0, 1, 2, 3], "y": [1, 2, 3, 5], "epochs": 50, "history_points": 5}

# One past each limit of `LIMITS`, valid otherwise: (the body, where the error is, its type).
OVER: dict[str, tuple[dict[str, Any], str, str]] = {
    "max_points": ({**FIT, "x": [0, 1, 2, 3, 4], "y": [1, 3, 5, 7, 9]}, "x", "too_long"),
    "max_epochs": ({**FIT, "epochs": 51}, "epochs", "less_than_equal"),
    "max_history_points": ({**FIT, "history_points": 6}, "history_points", "less_than_equal"),
}


async def test_info_lists_the_limits_tested_here(make_client: ClientFactory) -> None:
    async with make_client(**LIMITS, max_body_bytes=10_000) as client:
        limits = (await client.get("/info")).json()["limits"]
    assert limits == {**LIMITS, "max_body_bytes": 10_000}


@pytest.mark.parametrize("route", ["/fit", "/fit/plot"])
@pytest.mark.parametrize("limit", list(OVER))
async def test_each_fit_limit_is_a_clear_422(
    make_client: ClientFactory, route: str, limit: str
) -> None:
    body, field, type_ = OVER[limit]
    async with make_client(**LIMITS) as client:
        at_limit = await client.post(route, json=AT_LIMITS)
        response = await client.post(route, json=body)
    assert at_limit.status_code == 200, at_limit.text
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert (item["type"], item["loc"]) == (type_, ["body", field])
    assert f"at most {LIMITS[limit]} " in item["msg"] and f"({limit})" in item["msg"]


@pytest.mark.parametrize("limit", list(OVER))
async def test_each_fit_limit_in_a_batch_item_is_a_clear_422(
    make_client: ClientFactory, limit: str
) -> None:
    body, field, type_ = OVER[limit]
    # The batch's total of points is checked too; let it allow more than one item's.
    async with make_client(**{**LIMITS, "max_points": 100}) as client:
        if limit == "max_points":
            body = {**FIT, "x": list(range(101)), "y": list(range(101))}
        response = await client.post("/fit/batch", json={"fits": [FIT, body]})
    assert response.status_code == 422
    if limit == "max_points":
        # An item over max_points puts the batch over it too: refused as a whole, unchecked.
        (item,) = response.json()["detail"]
        assert (item["type"], item["loc"]) == (type_, ["body", "fits"])
        assert "fits hold 104 points in all" in item["msg"]
        return
    (item,) = [item for item in response.json()["detail"] if item["loc"][:3] == ["body", "fits", 1]]
    assert (item["type"], item["loc"]) == (type_, ["body", "fits", 1, field])
    assert f"({limit})" in item["msg"]


async def test_fit_limits_exact_answer(make_client: ClientFactory) -> None:
    async with make_client(max_points=3, max_epochs=100, max_history_points=5) as client:
        body = {"x": [0, 1, 2, 3], "y": [0, 1, 2, 3], "epochs": 101, "history_points": 6}
        response = await client.post("/fit", json=body)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "too_long",
                "loc": ["body", "x"],
                "msg": "x has 4 points; this server accepts at most 3 (max_points)",
                "input": [0, 1, 2, 3],
                "ctx": {"max_points": 3, "actual_length": 4},
            },
            {
                "type": "less_than_equal",
                "loc": ["body", "epochs"],
                "msg": "epochs must be at most 100 on this server (max_epochs); got 101",
                "input": 101,
                "ctx": {"le": 100},
            },
            {
                "type": "less_than_equal",
                "loc": ["body", "history_points"],
                "msg": (
                    "history_points must be at most 5 on this server (max_history_points); got 6"
                ),
                "input": 6,
                "ctx": {"le": 5},
            },
        ]
    }


async def test_fit_at_the_limits_is_accepted(make_client: ClientFactory) -> None:
    async with make_client(max_points=4, max_epochs=100, max_history_points=5) as client:
        body = {"x": [0, 1, 2, 3], "y": [0, 1, 2, 3], "epochs": 100, "history_points": 5}
        response = await client.post("/fit", json=body)
    assert response.status_code == 200
    assert response.json()["history"]["epoch"] == [0, 25, 50, 75, 100]


@pytest.mark.parametrize("route", ["/fit", "/fit/plot"])
async def test_server_limits_are_reported_with_the_other_errors(
    make_client: ClientFactory, route: str
) -> None:
    async with make_client(max_points=3, max_epochs=100, max_history_points=5) as client:
        response = await client.post(
            route,
            json={
                "x": [0, 1, 2, 3],
                "y": [1, 2, 3],
                "learning_rate": -1,
                "epochs": 101,
                "history_points": 6,
            },
        )
    assert error_kinds(response) == [
        ("too_long", ("body", "x")),
        ("length_mismatch", ("body", "y")),
        ("greater_than", ("body", "learning_rate")),
        ("less_than_equal", ("body", "epochs")),
        ("less_than_equal", ("body", "history_points")),
    ]


async def test_batch_limits_exact_answer(make_client: ClientFactory) -> None:
    async with make_client(max_batch=2, max_points=10, max_epochs=50) as client:
        fits = [{**LINE, "epochs": 50}, {**LINE, "epochs": 50}, {**LINE, "epochs": 51}]
        response = await client.post("/fit/batch", json={"fits": fits})
        at_limits = await client.post("/fit/batch", json={"fits": fits[:2]})
    assert at_limits.status_code == 200, at_limits.text
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "too_long",
                "loc": ["body", "fits"],
                "msg": "fits has 3 items; this server accepts at most 2 (max_batch)",
                "input": 3,
                "ctx": {"max_batch": 2, "actual_length": 3},
            },
            {
                "type": "too_long",
                "loc": ["body", "fits"],
                "msg": "fits hold 12 points in all; this server accepts at most 10 (max_points)",
                "input": 12,
                "ctx": {"max_points": 10, "actual_length": 12},
            },
        ]
    }


async def test_batch_points_are_counted_over_all_items(make_client: ClientFactory) -> None:
    async with make_client(**LIMITS) as client:
        too_much = await client.post("/fit/batch", json={"fits": [FIT, FIT]})
        at_limit = await client.post("/fit/batch", json={"fits": [FIT]})
    assert [item["msg"] for item in too_much.json()["detail"]] == [
        "fits hold 6 points in all; this server accepts at most 4 (max_points)"
    ]
    assert at_limit.status_code == 200


async def test_a_batch_over_its_limits_skips_its_items(make_client: ClientFactory) -> None:
    """Known bad as a whole, a batch is not validated item by item (that work would buy
    nothing: the request is refused anyway)."""
    async with make_client(max_batch=1) as client:
        response = await client.post(
            "/fit/batch",
            json={"fits": [{"x": [0, 1], "y": [1, 2]}, {"x": [0, 1], "y": [1], "lr": 0}]},
        )
    assert error_kinds(response) == [("too_long", ("body", "fits"))]


async def test_batch_cannot_buy_unbounded_epochs(make_client: ClientFactory) -> None:
    """Every item's epochs count, with or without tolerance (any per-epoch walk is bounded)."""
    fit = {"x": [0, 1, 2], "y": [1, 2, 4], "epochs": 100}
    scanned = {**fit, "tolerance": 0}
    async with make_client(max_epochs=100) as client:
        within = await client.post("/fit/batch", json={"fits": [fit] * 5 + [scanned] * 5})
        over = await client.post("/fit/batch", json={"fits": [fit] * 10 + [scanned]})
    assert within.status_code == 200, within.text
    assert over.json()["detail"] == [
        {
            "type": "too_long",
            "loc": ["body", "fits"],
            "msg": (
                "fits run 1100 epochs in all; this server accepts at most 1000 (10 x max_epochs)"
            ),
            "input": 1100,
            "ctx": {"max_epochs": 1000, "actual_length": 1100},
        }
    ]


async def test_batch_cannot_buy_an_unbounded_history(make_client: ClientFactory) -> None:
    fit = {"x": [0, 1, 2], "y": [1, 2, 4], "epochs": 1000, "history_points": 100}
    short = {**fit, "epochs": 9}  # records min(100, 9 + 1) = 10 entries
    async with make_client(max_history_points=100) as client:
        within = await client.post("/fit/batch", json={"fits": [fit] * 9 + [short] * 10})
        over = await client.post("/fit/batch", json={"fits": [fit] * 10 + [short]})
    assert within.status_code == 200, within.text
    assert error_kinds(over) == [("too_long", ("body", "fits"))]
    assert over.json()["detail"][0]["msg"] == (
        "fits record 1010 history entries in all; this server accepts at most 1000 "
        "(10 x max_history_points)"
    )


def test_validation_outside_a_request_applies_the_default_limits() -> None:
    """No limits is never the accident: without a context the defaults of the settings hold."""
    with pytest.raises(ValidationError) as caught:
        FitRequest.model_validate({"x": [0, 1], "y": [0, 1], "epochs": 10**12})
    (error,) = caught.value.errors()
    assert error["loc"] == ("epochs",)
    assert error["ctx"] == {"le": DEFAULT_LIMITS.max_epochs}


def test_validation_context_carries_the_limits_into_batch_items() -> None:
    limits = DEFAULT_LIMITS.model_copy(update={"max_epochs": 5, "max_points": 3})
    body = {"fits": [{"x": [0, 1, 2], "y": [0, 1, 2], "epochs": 6}]}
    with pytest.raises(ValidationError) as caught:
        BatchFitRequest.model_validate(body, context={"limits": limits})
    assert [error["loc"] for error in caught.value.errors()] == [("fits", 0, "epochs")]
    assert BatchFitRequest.model_validate(body).fits[0].epochs == 6
