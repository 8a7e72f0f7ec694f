"""Security: bearer keys compared in constant time, 401 with WWW-Authenticate on every fit
route, operations endpoints open."""

from __future__ import annotations

import hmac

import pytest

from service import auth
from tests.apps import app_with, serve

pytestmark = pytest.mark.anyio

LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7]}


@pytest.mark.parametrize("route", ["/fit", "/fit/batch", "/fit/plot"])
async def test_fit_routes_need_a_key(route: str) -> None:
    body = {"fits": [LINE]} if route == "/fit/batch" else LINE
    async with serve(app_with(api_keys=["k1"])) as client:
        missing = await client.post(route, json=body)
        wrong = await client.post(route, json=body, headers={"Authorization": "Bearer k2"})
        good = await client.post(route, json=body, headers={"Authorization": "Bearer k1"})
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["x-request-id"]
    assert good.status_code == 200


async def test_operations_endpoints_stay_open() -> None:
    async with serve(app_with(api_keys=["k1"])) as client:
        paths = ["/healthz", "/readyz", "/info", "/metrics", "/docs", "/redoc", "/openapi.json"]
        statuses = [(await client.get(path)).status_code for path in paths]
    assert statuses == [200] * len(paths)


async def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    async with serve(app_with(api_keys=["first", "second", "third"])) as client:
        response = await client.post("/fit", json=LINE, headers={"Authorization": "Bearer first"})
    assert response.status_code == 200
    # The first key matched, yet all three were compared: the time does not tell which.
    assert compared == [(b"first", b"first"), (b"first", b"second"), (b"first", b"third")]
