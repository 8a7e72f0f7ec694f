"""The typed client sends large point sets as Arrow (JSON again when the server cannot read
Arrow), and fits DataFrame columns. Skips without pyarrow, except under ``CI=true``."""

from __future__ import annotations

import os
from typing import Any

import httpx
import numpy as np
import pytest

from service.client import ARROW_MIN_POINTS, AsyncClient, Client, frame_columns
from tests.helpers.apps import BASE_URL, app_with

if os.environ.get("CI") != "true":
    pytest.importorskip("pyarrow")

ARROW = "application/vnd.apache.arrow.stream"
OPTIONS: dict[str, Any] = {
    "learning_rate": 0.05,
    "epochs": 300,
    "history_points": 4,
    "optimizer": "momentum",
    "tolerance": None,
}


class Recording(httpx.AsyncBaseTransport):
    """The app over ASGI, recording each request's content type; `refuse_arrow` answers Arrow
    bodies 501, as a server without the arrow extra does."""

    def __init__(self, refuse_arrow: bool = False) -> None:
        self.inner = httpx.ASGITransport(app=app_with())
        self.refuse_arrow = refuse_arrow
        self.seen: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers.get("content-type"))
        if self.refuse_arrow and request.headers.get("content-type") == ARROW:
            return httpx.Response(501, json={"detail": "no pyarrow"})
        return await self.inner.handle_async_request(request)


def points(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 1.0, n)
    return x, 3.0 * x - 2.0 + rng.normal(0.0, 0.1, n)


@pytest.mark.anyio
@pytest.mark.parametrize("n", [ARROW_MIN_POINTS - 1, ARROW_MIN_POINTS])
async def test_large_arrays_go_as_arrow_with_the_same_answer(n: int) -> None:
    x, y = points(n)
    transport = Recording()
    async with AsyncClient(BASE_URL, transport=transport) as client:
        auto = await client.fit(x, y, **OPTIONS)
    async with AsyncClient(BASE_URL, transport=Recording(), arrow=False) as client:
        by_json = await client.fit(x, y, **OPTIONS)
    assert transport.seen == [ARROW if n >= ARROW_MIN_POINTS else "application/json"]
    assert auto == by_json


@pytest.mark.anyio
async def test_arrow_true_sends_small_arrays_as_arrow_too() -> None:
    transport = Recording()
    async with AsyncClient(BASE_URL, transport=transport, arrow=True) as client:
        result = await client.fit([0, 1, 2, 3], [1, 3, 5, 7], epochs=100)
    assert transport.seen == [ARROW]
    assert result.n == 4


@pytest.mark.anyio
async def test_a_server_without_arrow_gets_json_again() -> None:
    transport = Recording(refuse_arrow=True)
    x, y = points(ARROW_MIN_POINTS)
    async with AsyncClient(BASE_URL, transport=transport) as client:
        result = await client.fit(x, y, **OPTIONS)
    assert transport.seen == [ARROW, "application/json"]
    assert result.n == ARROW_MIN_POINTS


def test_sync_client_falls_back_to_json_too() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("content-type"))
        if request.headers.get("content-type") == ARROW:
            assert request.url.params["epochs"] == "300"
            assert request.url.params["tolerance"] == "null"
            assert request.url.params["optimizer"] == "momentum"
            return httpx.Response(501, json={"detail": "no pyarrow"})
        return httpx.Response(422, json={"detail": [{"msg": "json seen"}]})

    x, y = points(ARROW_MIN_POINTS)
    with Client(BASE_URL, transport=httpx.MockTransport(answer), retries=0) as client:
        with pytest.raises(Exception, match="json seen"):
            client.fit(x, y, **OPTIONS)
    assert seen == [ARROW, "application/json"]


@pytest.mark.anyio
async def test_fit_frame_of_pandas_and_pyarrow_tables() -> None:
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    x, y = points(500)
    async with AsyncClient(BASE_URL, transport=Recording()) as client:
        want = await client.fit(x, y, epochs=200)
        by_pandas = await client.fit_frame(
            pd.DataFrame({"a": x, "b": y, "c": "label"}), x="a", y="b", epochs=200
        )
        by_arrow = await client.fit_frame(pa.table({"x": x, "y": y}), epochs=200)
    assert by_pandas == want
    assert by_arrow == want


def test_frame_columns_of_polars_when_installed() -> None:
    pl = pytest.importorskip("polars")
    x, y = points(10)
    got = frame_columns(pl.DataFrame({"x": x, "y": y}), "x", "y")
    assert np.array_equal(got[0], x) and np.array_equal(got[1], y)


def test_arrow_true_without_pyarrow_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(ValueError, match="arrow=True needs pyarrow"):
        Client(arrow=True)
    with Client(BASE_URL, transport=httpx.MockTransport(lambda r: httpx.Response(500))) as c:
        assert c._fit_call(*points(ARROW_MIN_POINTS), {}).content_type == "application/json"
