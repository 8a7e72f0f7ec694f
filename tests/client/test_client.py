"""service.client: typed results, one error type with the details, safe retries only; against
a mock transport, the app in process, and a real server (the slow tests).

Every behaviour of the retry loop and the error mapping runs against both clients (the
``flavour`` parameter): `Client` and `AsyncClient` share their decisions in `_BaseClient`,
and each has its own loop that sends and sleeps. The waits are recorded, not slept.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from service.client import DEFAULT_TIMEOUT, AsyncClient, Client, FitServiceError
from service.client import _clients as client_module
from service.examples import ARTICLE_X, ARTICLE_Y
from service.schemas import BatchItemError, FitResponse, Info, Moments
from tests.helpers import servers
from tests.helpers.apps import app_with, service_client
from tests.helpers.fits import LINE, core_answer

LINE_X, LINE_Y = [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0]
LIMITS = {
    "max_points": 1,
    "max_epochs": 1,
    "max_history_points": 2,
    "max_batch": 1,
    "max_body_bytes": 1,
}
INFO = {**LIMITS, "name": "n", "version": "v", "limits": LIMITS}  # limits at the top and nested
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
    "statistics": {
        "r2": 1.0,
        "rmse": 0.0,
        "mae": 0.0,
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

Script = list[httpx.Response | Exception]


@dataclass
class Server:
    """A `MockTransport` handler: answers `script` in turn, then /fit, /fit/batch and /info."""

    script: Script = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            # A fresh copy: a response object is bound to the client that first read it.
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        if request.url.path == "/info":
            return httpx.Response(200, json=INFO)
        if request.url.path == "/readyz":
            return httpx.Response(200, json={"status": "ready"})
        if request.url.path == "/fit/batch":
            return httpx.Response(200, json={"results": [FIT]})
        return httpx.Response(200, json=FIT)

    @property
    def calls(self) -> list[str]:
        return [f"{request.method} {request.url.path}" for request in self.seen]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which client a test drives: each behaviour is checked on both."""
    value: str = request.param
    return value


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off waits both clients ask for, recorded instead of slept."""
    recorded: list[float] = []

    async def async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(client_module, "time", SimpleNamespace(sleep=recorded.append))
    monkeypatch.setattr(client_module, "anyio", SimpleNamespace(sleep=async_sleep))
    return recorded


async def call(
    flavour: str, server: Server, method: str, *args: Any, options: Any = None, **kwargs: Any
) -> Any:
    """``client.<method>(*args, **kwargs)`` on a `flavour` client of `server`."""
    settings: dict[str, Any] = {"api_key": "k", **(options or {})}
    transport = httpx.MockTransport(server)
    if flavour == "sync":
        with Client("http://svc", transport=transport, **settings) as sync_client:
            return getattr(sync_client, method)(*args, **kwargs)
    async with AsyncClient("http://svc", transport=transport, **settings) as async_client:
        return await getattr(async_client, method)(*args, **kwargs)


async def fit(flavour: str, server: Server, **options: Any) -> Any:
    return await call(flavour, server, "fit", LINE_X, LINE_Y, options=options)


# Retries: what is retried, how often, how long apart.

CUT_SHORT = httpx.RemoteProtocolError(
    "peer closed connection without sending complete message body"
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no SYN-ACK"), CUT_SHORT],
    ids=["connect-error", "connect-timeout", "answer-cut-short"],
)
async def test_post_retried_after_transport_failures_with_doubling_waits(
    flavour: str, waits: list[float], failure: Exception
) -> None:
    server = Server([failure, failure])
    result = await fit(flavour, server)
    assert isinstance(result, FitResponse) and result.m == 2.0
    assert server.calls == ["POST /fit"] * 3
    assert waits == [0.1, 0.2]
    assert len({request.content for request in server.seen}) == 1  # the same body each time
    assert json.loads(server.seen[-1].content) == {"x": LINE_X, "y": LINE_Y}


@pytest.mark.anyio
async def test_gives_up_after_the_configured_attempts(flavour: str, waits: list[float]) -> None:
    server = Server([httpx.ConnectError("refused")] * 5)
    with pytest.raises(FitServiceError) as raised:
        await fit(flavour, server, retries=3, backoff=0.5)
    assert server.calls == ["POST /fit"] * 4
    assert waits == [0.5, 1.0, 2.0]
    error = raised.value
    assert error.status_code is None and error.request_id is None
    assert error.detail == [{"msg": "refused"}]
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert str(error).startswith("POST http://svc/fit failed: ConnectError")


@pytest.mark.anyio
async def test_retries_zero_sends_once(flavour: str, waits: list[float]) -> None:
    server = Server([httpx.ConnectError("refused")])
    with pytest.raises(FitServiceError):
        await fit(flavour, server, retries=0)
    assert server.calls == ["POST /fit"] and waits == []


@pytest.mark.anyio
async def test_get_retried_on_gateway_and_unavailable_answers(
    flavour: str, waits: list[float]
) -> None:
    server = Server([httpx.Response(502), httpx.Response(503), httpx.Response(504)])
    info = await call(flavour, server, "info", options={"retries": 3})
    assert isinstance(info, Info) and info.limits.max_batch == 1
    assert server.calls == ["GET /info"] * 4
    assert waits == [0.1, 0.2, 0.4]


@pytest.mark.anyio
async def test_get_gives_up_on_a_lasting_503_with_its_answer(
    flavour: str, waits: list[float]
) -> None:
    busy = httpx.Response(503, json={"detail": "draining"}, headers={"Retry-After": "30"})
    server = Server([busy] * 3)
    with pytest.raises(FitServiceError) as raised:
        await call(flavour, server, "info")
    assert server.calls == ["GET /info"] * 3
    assert waits == [10.0, 10.0]  # Retry-After (30 s), capped at MAX_RETRY_AFTER
    assert raised.value.status_code == 503
    assert raised.value.detail == [{"msg": "draining"}]


@pytest.mark.anyio
async def test_post_retried_after_a_busy_503_with_retry_after(
    flavour: str, waits: list[float]
) -> None:
    """The service's load-shedding 503 comes before the body is read: nothing was computed."""
    busy = httpx.Response(503, json={"detail": "busy"}, headers={"Retry-After": "1"})
    server = Server([busy, busy])  # then the normal answer
    result = await fit(flavour, server)
    assert result.m == FIT["m"]
    assert server.calls == ["POST /fit"] * 3
    assert waits == [1.0, 1.0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503, json={"detail": "busy"}), httpx.Response(502), httpx.Response(504)],
    ids=["503", "502", "504"],
)
async def test_post_not_retried_on_5xx(
    flavour: str, waits: list[float], failure: httpx.Response
) -> None:
    server = Server([failure])
    with pytest.raises(FitServiceError) as raised:
        await fit(flavour, server)
    assert raised.value.status_code == failure.status_code
    assert server.calls == ["POST /fit"] and waits == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ReadError("reset"), httpx.WriteError("broken pipe")],
    ids=["read-timeout", "read-error", "write-error"],
)
async def test_not_retried_after_the_request_may_have_reached_the_server(
    flavour: str, waits: list[float], failure: Exception
) -> None:
    server = Server([failure])
    with pytest.raises(FitServiceError) as raised:
        await fit(flavour, server)
    assert raised.value.status_code is None and raised.value.__cause__ is failure
    assert server.calls == ["POST /fit"] and waits == []


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 429])
@pytest.mark.parametrize("method", ["fit", "info"])
async def test_4xx_never_retried(
    flavour: str, waits: list[float], status: int, method: str
) -> None:
    server = Server([httpx.Response(status, json={"detail": "no"})])
    with pytest.raises(FitServiceError) as raised:
        if method == "fit":
            await fit(flavour, server)
        else:
            await call(flavour, server, "info")
    assert raised.value.status_code == status
    assert len(server.seen) == 1 and waits == []


@pytest.mark.parametrize(
    ("method", "outcome", "attempt", "want"),
    [
        ("POST", httpx.ConnectError("x"), 0, 0.25),
        ("POST", httpx.ConnectTimeout("x"), 1, 0.5),
        ("POST", httpx.RemoteProtocolError("x"), 2, 1.0),
        ("POST", httpx.ConnectError("x"), 3, None),  # attempts used up (retries=3)
        ("POST", httpx.ReadTimeout("x"), 0, None),
        ("POST", httpx.PoolTimeout("x"), 0, None),
        ("POST", httpx.Response(503), 0, None),
        ("POST", httpx.Response(503, headers={"Retry-After": "2"}), 0, 2.0),
        ("POST", httpx.Response(503, headers={"Retry-After": "0"}), 2, 1.0),
        ("POST", httpx.Response(503, headers={"Retry-After": "99"}), 0, 10.0),
        ("POST", httpx.Response(503, headers={"Retry-After": "soon"}), 0, None),
        ("GET", httpx.Response(503), 0, 0.25),
        ("GET", httpx.Response(504), 2, 1.0),
        ("GET", httpx.Response(500), 0, None),
        ("GET", httpx.Response(429), 0, None),
        ("GET", httpx.Response(200), 0, None),
        ("GET", httpx.Response(503), 3, None),
    ],
)
def test_retry_delay_is_one_pure_decision(
    method: str, outcome: httpx.Response | httpx.TransportError, attempt: int, want: float | None
) -> None:
    request = httpx.Request(method, "http://svc/x")
    for client in (Client(retries=3, backoff=0.25), AsyncClient(retries=3, backoff=0.25)):
        assert client._retry_delay(request, outcome, attempt) == want


@pytest.mark.parametrize(
    "settings", [{"retries": -1}, {"backoff": -0.1}, {"backoff": float("nan")}]
)
def test_negative_retries_or_backoff_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        Client(**settings)
    with pytest.raises(ValueError, match="must be >= 0"):
        AsyncClient(**settings)


# Answers: results and errors.


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "want_detail", "want_message"),
    [
        (
            httpx.Response(
                422,
                json={"detail": [{"type": "t", "loc": ["body", "x"], "msg": "bad x"}, "plain"]},
                headers={"X-Request-ID": "rid-1"},
            ),
            [{"type": "t", "loc": ["body", "x"], "msg": "bad x"}, {"msg": "plain"}],
            "POST /fit answered 422: bad x; plain",
        ),
        (
            httpx.Response(401, json={"detail": "missing key"}),
            [{"msg": "missing key"}],
            "POST /fit answered 401: missing key",
        ),
        (
            httpx.Response(502, text="<html>Bad Gateway</html>"),
            [{"msg": "<html>Bad Gateway</html>"}],
            "POST /fit answered 502: <html>Bad Gateway</html>",
        ),
        (
            httpx.Response(500, json={"error": "no detail key"}),
            [{"msg": '{"error":"no detail key"}'}],
            'POST /fit answered 500: {"error":"no detail key"}',
        ),
    ],
    ids=["422-list", "string-detail", "not-json", "json-without-detail"],
)
async def test_error_answers_map_to_fit_service_error(
    flavour: str, answer: httpx.Response, want_detail: list[dict[str, Any]], want_message: str
) -> None:
    with pytest.raises(FitServiceError) as raised:
        await fit(flavour, Server([answer]))
    error = raised.value
    assert error.status_code == answer.status_code
    assert error.detail == want_detail
    assert str(error) == want_message
    assert error.request_id == answer.headers.get("x-request-id")


@pytest.mark.anyio
async def test_sends_json_with_the_bearer_key(flavour: str) -> None:
    server = Server()
    moments = Moments(n=4, mean_x=1.5, mean_y=4.0, sxx=5.0, sxy=10.0, syy=20.0)
    await call(flavour, server, "fit", np.arange(4.0), LINE_Y, learning_rate=0.1, epochs=3)
    await call(flavour, server, "fit", moments=moments, lr=0.1)
    await call(flavour, server, "fit_batch", [{"x": np.arange(4), "y": LINE_Y, "lr": 0.1}])
    await call(flavour, server, "fit_batch", [{"moments": moments}])
    await call(flavour, server, "info")
    bodies = [json.loads(request.content) for request in server.seen[:4]]
    assert bodies == [
        {"learning_rate": 0.1, "epochs": 3, "x": [0.0, 1.0, 2.0, 3.0], "y": LINE_Y},
        {"moments": moments.model_dump(), "lr": 0.1},
        {"fits": [{"x": [0, 1, 2, 3], "y": LINE_Y, "lr": 0.1}]},
        {"fits": [{"moments": moments.model_dump()}]},
    ]
    for request in server.seen:
        assert request.headers["authorization"] == "Bearer k"
        assert request.headers["accept"] == "application/json"
    assert [request.headers.get("content-type") for request in server.seen] == [
        "application/json"
    ] * 4 + [None]


@pytest.mark.anyio
async def test_no_bearer_without_a_key(flavour: str) -> None:
    server = Server()
    await call(flavour, server, "info", options={"api_key": None})
    assert "authorization" not in server.seen[0].headers


@pytest.mark.anyio
async def test_batch_results_keep_order_and_item_errors(flavour: str) -> None:
    diverged = {"error": {"type": "diverged", "msg": "diverged", "ctx": {}}}
    server = Server([httpx.Response(200, json={"results": [FIT, diverged]})])
    results = await call(flavour, server, "fit_batch", [{"x": LINE_X}, {"x": LINE_X}])
    assert isinstance(results[0], FitResponse)
    assert isinstance(results[1], BatchItemError) and results[1].error.type == "diverged"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "ready"),
    [
        (httpx.Response(200, json={"status": "ready"}), True),
        (httpx.Response(503, json={"detail": "draining"}), False),
        (httpx.ConnectError("refused"), False),
        (CUT_SHORT, False),
    ],
    ids=["200", "503", "connect-error", "cut-short"],
)
async def test_ready_asks_once_and_never_raises(
    flavour: str, waits: list[float], answer: httpx.Response | Exception, ready: bool
) -> None:
    server = Server([answer])
    assert await call(flavour, server, "ready") is ready
    assert server.calls == ["GET /readyz"] and waits == []


@pytest.mark.parametrize("make", [Client, AsyncClient])
def test_timeouts_are_set(make: Callable[..., Client | AsyncClient]) -> None:
    default, given = make(), make(timeout=2.5)
    assert default._http.timeout == DEFAULT_TIMEOUT
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read) == (5.0, 60.0)
    assert given._http.timeout == httpx.Timeout(2.5)


# The async client against the app itself (in-process, over ASGI).


@pytest.fixture
async def app_client() -> AsyncIterator[AsyncClient]:
    async with service_client(app_with(api_keys=["key"]), api_key="key") as client:
        yield client


@pytest.mark.anyio
async def test_app_fit_returns_the_schema_model(app_client: AsyncClient) -> None:
    result = await app_client.fit(
        np.asarray(LINE_X), LINE_Y, learning_rate=0.05, epochs=2000, history_points=3
    )
    assert isinstance(result, FitResponse)
    assert result.m == pytest.approx(2.0, rel=1e-12) and result.b == pytest.approx(1.0)
    assert result.epochs_run == 2000 and result.stop_reason == "epochs"
    assert result.history is not None and result.history.epoch == [0, 1000, 2000]


@pytest.mark.anyio
async def test_app_fit_batch_info_and_ready(app_client: AsyncClient) -> None:
    results = await app_client.fit_batch(
        [{"x": LINE_X, "y": LINE_Y, "lr": 0.05}, {"x": np.asarray(LINE_X), "y": LINE_Y, "lr": 9}]
    )
    assert isinstance(results[0], FitResponse)
    assert isinstance(results[1], BatchItemError) and results[1].error.type == "diverged"
    info = await app_client.info()
    assert isinstance(info, Info) and info.limits.max_batch == 1000
    assert await app_client.ready()


@pytest.mark.anyio
async def test_app_422_raises_with_details(app_client: AsyncClient) -> None:
    with pytest.raises(FitServiceError) as raised:
        await app_client.fit([1, 2, 3], [1, 2], learning_rate=-1)
    error = raised.value
    assert error.status_code == 422
    assert [item["loc"] for item in error.detail] == [["body", "y"], ["body", "learning_rate"]]
    assert "x and y must have the same length (got 3 and 2)" in str(error)
    assert error.request_id


@pytest.mark.anyio
async def test_app_diverged_raises_with_ctx(app_client: AsyncClient) -> None:
    with pytest.raises(FitServiceError) as raised:
        await app_client.fit(LINE_X, LINE_Y, lr=9)
    (item,) = raised.value.detail
    assert item["type"] == "diverged"
    assert set(item["ctx"]) == {"epoch", "max_stable_learning_rate"}


@pytest.mark.anyio
async def test_app_401_without_key() -> None:
    async with service_client(app_with(api_keys=["key"])) as client:
        with pytest.raises(FitServiceError) as raised:
            await client.fit(LINE_X, LINE_Y)
    assert raised.value.status_code == 401
    assert raised.value.detail == [
        {"msg": "missing or invalid API key: send Authorization: Bearer <key>"}
    ]


# The sync client against a real server (``python -m service`` on loopback).


@pytest.mark.slow
def test_real_server_fit_is_the_cores(live_server: servers.Server) -> None:
    with Client(live_server.url) as client:
        result = client.fit(ARTICLE_X, ARTICLE_Y, learning_rate=0.01, history_points=5)
    want = core_answer(ARTICLE_X, ARTICLE_Y, learning_rate=0.01, history_points=5)
    assert result == FitResponse.model_validate(want)


@pytest.mark.slow
def test_real_server_batch_errors_and_info(live_server: servers.Server) -> None:
    with Client(live_server.url) as client:
        results = client.fit_batch([{**LINE, "lr": 0.05}, {**LINE, "lr": 9}])
        with pytest.raises(FitServiceError) as raised:
            client.fit([1, 2, 3], [1, 2, 3, 4])
        info = client.info()
        ready = client.ready()
    assert isinstance(results[0], FitResponse) and results[0].m == pytest.approx(2.0)
    assert isinstance(results[1], BatchItemError) and results[1].error.type == "diverged"
    assert raised.value.status_code == 422
    assert raised.value.detail[0]["msg"] == "x and y must have the same length (got 3 and 4)"
    assert raised.value.request_id
    assert info.limits.max_points == 1_000_000
    assert ready is True
