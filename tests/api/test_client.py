"""service.client: typed results, one error type with the 422 details, safe retries only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest

from service import client as client_module
from service.app import create_app
from service.client import AsyncClient, Client, FitServiceError
from service.schemas import ARTICLE_X, ARTICLE_Y, BatchItemError, FitResponse, Info
from service.settings import Settings

LINE_X, LINE_Y = [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0]


@pytest.fixture
async def service_client() -> AsyncIterator[AsyncClient]:
    app = create_app(Settings(api_keys=["key"]))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with AsyncClient("http://testserver", api_key="key", transport=transport) as client:
            yield client


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_BACKOFF_SECONDS", 0.0)


@pytest.mark.anyio
async def test_async_fit_returns_the_schema_model(service_client: AsyncClient) -> None:
    result = await service_client.fit(
        np.asarray(ARTICLE_X), ARTICLE_Y, learning_rate=0.01, history_points=3
    )
    assert isinstance(result, FitResponse)
    assert result.m == pytest.approx(0.98815, rel=1e-4)
    assert result.history is not None and result.history.epoch == [0, 5000, 10000]


@pytest.mark.anyio
async def test_async_fit_batch_and_info(service_client: AsyncClient) -> None:
    results = await service_client.fit_batch(
        [{"x": LINE_X, "y": LINE_Y, "lr": 0.05}, {"x": np.asarray(LINE_X), "y": LINE_Y, "lr": 9}]
    )
    assert isinstance(results[0], FitResponse)
    assert isinstance(results[1], BatchItemError) and results[1].error.type == "diverged"
    info = await service_client.info()
    assert isinstance(info, Info) and info.limits.max_batch == 1000
    assert await service_client.ready()


@pytest.mark.anyio
async def test_async_422_raises_with_details(service_client: AsyncClient) -> None:
    with pytest.raises(FitServiceError) as raised:
        await service_client.fit([1, 2, 3], [1, 2], learning_rate=-1)
    error = raised.value
    assert error.status_code == 422
    assert [item["loc"] for item in error.detail] == [["body", "y"], ["body", "learning_rate"]]
    assert "x and y must have the same length (got 3 and 2)" in str(error)
    assert error.request_id


@pytest.mark.anyio
async def test_async_diverged_raises_with_ctx(service_client: AsyncClient) -> None:
    with pytest.raises(FitServiceError) as raised:
        await service_client.fit(LINE_X, LINE_Y, lr=9)
    (item,) = raised.value.detail
    assert item["type"] == "diverged"
    assert set(item["ctx"]) == {"epoch", "max_stable_learning_rate"}


@pytest.mark.anyio
async def test_async_401_without_key() -> None:
    app = create_app(Settings(api_keys=["key"]))
    async with AsyncClient("http://t", transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(FitServiceError) as raised:
            await client.fit(LINE_X, LINE_Y)
    assert raised.value.status_code == 401
    assert raised.value.detail == [
        {"msg": "missing or invalid API key: send Authorization: Bearer <key>"}
    ]


def _flaky(failures: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[str]]:
    """A transport that fails with `failures` in turn, then answers /fit and /info."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        if request.url.path == "/info":
            return httpx.Response(
                200, json={**LIMITS, "name": "n", "version": "v", "limits": LIMITS}
            )
        return httpx.Response(200, json=FIT)

    return httpx.MockTransport(handler), seen


LIMITS = {
    "max_points": 1,
    "max_epochs": 1,
    "max_history_points": 2,
    "max_batch": 1,
    "max_body_bytes": 1,
}
FIT = {
    "m": 2.0,
    "b": 1.0,
    "cost": 0.0,
    "epochs_run": 1,
    "stop_reason": "epochs",
    "gradient_norm": 0.0,
    "n": 4,
    "optimum": {"m": 2.0, "b": 1.0, "cost": 0.0},
    "max_stable_learning_rate": 0.2,
    "warnings": [],
    "history": None,
}


def test_sync_fit_retries_connect_errors() -> None:
    transport, seen = _flaky([httpx.ConnectError("refused"), httpx.ConnectError("refused")])
    with Client("http://svc", transport=transport, retries=2) as client:
        assert client.fit(LINE_X, LINE_Y).m == 2.0
    assert seen == ["POST /fit"] * 3


def test_sync_fit_retries_an_answer_cut_short() -> None:
    cut = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    transport, seen = _flaky([cut])
    with Client("http://svc", transport=transport, retries=2) as client:
        assert client.fit(LINE_X, LINE_Y).m == 2.0
    assert seen == ["POST /fit"] * 2


def test_sync_fit_gives_up_after_retries() -> None:
    transport, seen = _flaky([httpx.ConnectError("refused")] * 5)
    with Client("http://svc", transport=transport, retries=1) as client:
        with pytest.raises(FitServiceError) as raised:
            client.fit(LINE_X, LINE_Y)
    assert raised.value.status_code is None
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert len(seen) == 2


def test_sync_post_not_retried_on_503_or_read_timeout() -> None:
    transport, seen = _flaky([httpx.Response(503, json={"detail": "busy"})])
    with Client("http://svc", transport=transport) as client:
        with pytest.raises(FitServiceError) as raised:
            client.fit(LINE_X, LINE_Y)
    assert raised.value.status_code == 503 and seen == ["POST /fit"]
    transport, seen = _flaky([httpx.ReadTimeout("slow")])
    with Client("http://svc", transport=transport) as client:
        with pytest.raises(FitServiceError):
            client.fit(LINE_X, LINE_Y)
    assert seen == ["POST /fit"]


def test_sync_get_retried_on_gateway_errors() -> None:
    transport, seen = _flaky([httpx.Response(502), httpx.Response(504)])
    with Client("http://svc", transport=transport) as client:
        assert client.info().limits.max_batch == 1
    assert seen == ["GET /info"] * 3


def test_sync_sends_json_and_bearer() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json=FIT)

    with Client("http://svc", api_key="k", transport=httpx.MockTransport(handler)) as client:
        client.fit(np.arange(4.0), LINE_Y, learning_rate=0.1, epochs=3)
    (request,) = captured
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "learning_rate": 0.1,
        "epochs": 3,
        "x": [0.0, 1.0, 2.0, 3.0],
        "y": LINE_Y,
    }


def test_timeouts_are_set() -> None:
    with Client() as client:
        timeout = client._http.timeout
    assert timeout.connect == 5.0 and timeout.read == 60.0
