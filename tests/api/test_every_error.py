"""Every bad field is reported at once: rules that span fields, and the server's limits,
alongside the errors of the fields themselves; a batch's own work budget."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def kinds(response: httpx.Response) -> list[tuple[str, tuple[Any, ...]]]:
    assert response.status_code == 422, response.text
    return [(item["type"], tuple(item["loc"])) for item in response.json()["detail"]]


async def test_length_mismatch_is_reported_even_when_x_is_bad(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={"x": [1, 1, 1], "y": [1, 2]})
    assert kinds(response) == [
        ("constant_x", ("body", "x")),
        ("length_mismatch", ("body", "y")),
    ]
    assert response.json()["detail"][1]["msg"] == "x and y must have the same length (got 3 and 2)"


async def test_length_mismatch_under_aliases_is_reported_at_the_alias(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fit", json={"X": [0, 1, 2], "Y": [1, 2]})
    assert kinds(response) == [("length_mismatch", ("body", "Y"))]


async def test_server_limits_are_reported_with_the_other_errors(
    make_client: ClientFactory,
) -> None:
    async with make_client(max_points=3, max_epochs=100, max_history_points=5) as client:
        response = await client.post(
            "/fit",
            json={
                "x": [0, 1, 2, 3],
                "y": [1, 2, 3],
                "learning_rate": -1,
                "epochs": 101,
                "history_points": 6,
            },
        )
    assert kinds(response) == [
        ("too_long", ("body", "x")),
        ("length_mismatch", ("body", "y")),
        ("greater_than", ("body", "learning_rate")),
        ("less_than_equal", ("body", "epochs")),
        ("less_than_equal", ("body", "history_points")),
    ]


async def test_batch_limits_are_reported_with_the_items_errors(make_client: ClientFactory) -> None:
    async with make_client(max_batch=1) as client:
        response = await client.post(
            "/fit/batch",
            json={"fits": [{"x": [0, 1], "y": [1, 2]}, {"x": [0, 1], "y": [1], "lr": 0}]},
        )
    assert kinds(response) == [
        ("too_long", ("body", "fits")),
        ("length_mismatch", ("body", "fits", 1, "y")),
        ("greater_than", ("body", "fits", 1, "lr")),
    ]


async def test_batch_cannot_buy_unbounded_tolerance_scans(make_client: ClientFactory) -> None:
    fit = {"x": [0, 1, 2], "y": [1, 2, 4], "epochs": 100, "tolerance": 0}
    async with make_client(max_epochs=100) as client:
        within = await client.post("/fit/batch", json={"fits": [fit] * 10})
        over = await client.post("/fit/batch", json={"fits": [fit] * 11})
    assert within.status_code == 200, within.text
    assert over.json()["detail"] == [
        {
            "type": "too_long",
            "loc": ["body", "fits"],
            "msg": (
                "fits scan 1100 epochs in all for tolerance; this server accepts at most 1000 "
                "(10 x max_epochs)"
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
    assert kinds(over) == [("too_long", ("body", "fits"))]
    assert over.json()["detail"][0]["msg"] == (
        "fits record 1010 history entries in all; this server accepts at most 1000 "
        "(10 x max_history_points)"
    )
