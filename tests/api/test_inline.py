"""Which fits run on the event loop (service/routes/fit.py, `runs_inline`): small ones, whose
cost is bounded whatever their hyperparameters; everything else in a worker thread."""

from __future__ import annotations

import threading
from typing import Any

import fastapi.routing
import httpx
import numpy as np
import pytest
from fastapi import APIRouter, Depends, Request, Response

from service import operations
from service.auth import require_api_key
from service.bodies.route import BodyRoute, _direct_endpoint
from service.routes import fit as fit_routes
from service.routes.fit import (
    INLINE_MAX_BATCH_ITEMS,
    INLINE_MAX_EPOCH_ROOTS,
    INLINE_MAX_HISTORY,
    INLINE_MAX_POINTS,
)
from service.schemas import FitRequest

pytestmark = pytest.mark.anyio

LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7.5]}
MOST_EPOCHS = int(INLINE_MAX_EPOCH_ROOTS**2)
"""The most epochs of one fit on the loop."""


def _points(n: int) -> dict[str, list[float]]:
    x = np.linspace(0.0, 1.0, n)
    return {"x": x.tolist(), "y": (2 * x + 1).tolist()}


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each fit (or batch) run, whether it ran on the event loop's thread."""
    loop_thread = threading.get_ident()
    ran: list[bool] = []
    fit_one, fit_batch = operations.fit_one, operations.fit_batch

    def spy_one(*args: Any, **kwargs: Any) -> Any:
        ran.append(threading.get_ident() == loop_thread)
        return fit_one(*args, **kwargs)

    def spy_batch(*args: Any, **kwargs: Any) -> Any:
        ran.append(threading.get_ident() == loop_thread)
        return fit_batch(*args, **kwargs)

    monkeypatch.setattr(operations, "fit_one", spy_one)
    monkeypatch.setattr(operations, "fit_batch", spy_batch)
    return ran


@pytest.mark.parametrize(
    ("body", "inline"),
    [
        (LINE, True),
        ({**_points(INLINE_MAX_POINTS), "history_points": INLINE_MAX_HISTORY}, True),
        ({**LINE, "epochs": MOST_EPOCHS, "learning_rate": 5.0}, True),  # diverges: still cheap
        ({**LINE, "optimizer": "momentum", "epochs": MOST_EPOCHS}, True),
        (_points(INLINE_MAX_POINTS + 1), False),
        ({**LINE, "history_points": INLINE_MAX_HISTORY + 1}, False),
        ({**LINE, "tolerance": 1e-9}, False),
        ({**LINE, "optimizer": "nesterov", "epochs": MOST_EPOCHS + 1}, False),
        ({**LINE, "epochs": 10_000_000}, False),
    ],
)
async def test_small_fits_run_on_the_loop_and_others_in_a_thread(
    client: httpx.AsyncClient, threads: list[bool], body: dict[str, Any], inline: bool
) -> None:
    response = await client.post("/fit", json=body)
    assert response.status_code in (200, 422), response.text
    assert threads == [inline]


async def test_batches_follow_the_same_rule(client: httpx.AsyncClient, threads: list[bool]) -> None:
    each = int((INLINE_MAX_EPOCH_ROOTS / INLINE_MAX_BATCH_ITEMS) ** 2)
    small = {"fits": [{**LINE, "epochs": each}] * INLINE_MAX_BATCH_ITEMS}
    many = {"fits": [{**LINE, "epochs": 1}] * (INLINE_MAX_BATCH_ITEMS + 1)}
    points = {"fits": [_points(INLINE_MAX_POINTS // 2 + 1)] * 2}
    tolerant = {"fits": [LINE, {**LINE, "tolerance": 0.0}]}
    share = int((INLINE_MAX_EPOCH_ROOTS / 4) ** 2)  # four fits within the epoch budget
    long = {"fits": [{**LINE, "epochs": share}] * 4}
    longer = {"fits": [{**LINE, "epochs": share + 1}] * 4}
    for body in (small, many, points, tolerant, long, longer):
        response = await client.post("/fit/batch", json=body)
        assert response.status_code == 200, response.text
    assert threads == [True, False, False, False, True, False]


async def test_inline_and_threaded_fits_answer_alike(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**_points(300), "history_points": 7, "learning_rate": 0.1}
    inline = await client.post("/fit", json=body)
    monkeypatch.setattr(fit_routes, "runs_inline", lambda fits: False)
    threaded = await client.post("/fit", json=body)
    assert inline.status_code == 200
    assert inline.content == threaded.content


async def test_fit_routes_call_their_endpoints_directly(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BodyRoute calls the endpoint with the validated body: FastAPI's dependency solving
    (which would only re-check the API key) is skipped, except for a body FastAPI answers
    itself (none at all)."""
    solved: list[int] = []
    solve = fastapi.routing.solve_dependencies

    async def spy(*args: Any, **kwargs: Any) -> Any:
        solved.append(1)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", spy)
    assert (await client.post("/fit", json=LINE)).status_code == 200
    assert (await client.post("/fit/batch", json={"fits": [LINE]})).status_code == 200
    assert solved == []
    empty = await client.post("/fit", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["type"] == "missing"
    assert solved == [1]


def test_only_plain_endpoints_are_called_directly() -> None:
    async def plain(body: FitRequest, request: Request) -> Response:
        return Response()

    async def more(body: FitRequest, request: Request, extra: int = 0) -> Response:
        return Response()

    async def other() -> None:
        return None

    router = APIRouter(route_class=BodyRoute, dependencies=[Depends(require_api_key)])
    router.post("/plain")(plain)
    router.post("/more")(more)
    router.post("/guarded", dependencies=[Depends(other)])(plain)
    routes = {route.path: route for route in router.routes if isinstance(route, BodyRoute)}
    assert _direct_endpoint(routes["/plain"], FitRequest) is not None
    assert _direct_endpoint(routes["/more"], FitRequest) is None
    assert _direct_endpoint(routes["/guarded"], FitRequest) is None
