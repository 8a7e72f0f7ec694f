"""API keys (GDS_API_KEYS): every fit route needs ``Authorization: Bearer <key>`` (a 401 with
WWW-Authenticate otherwise, before the body is read); the operations endpoints and the
playground stay open; keys are compared in constant time."""

from __future__ import annotations

import hmac

import pytest

from service import auth
from tests.helpers.apps import ClientFactory
from tests.helpers.fits import ARTICLE_BODY, LINE

pytestmark = pytest.mark.anyio

REFUSED = {"detail": "missing or invalid API key: send Authorization: Bearer <key>"}
BODIES = {"/fit": LINE, "/fit/batch": {"fits": [LINE]}, "/fit/plot": ARTICLE_BODY}


@pytest.mark.parametrize("route", list(BODIES))
async def test_fit_routes_need_a_key(make_client: ClientFactory, route: str) -> None:
    body = BODIES[route]
    async with make_client(api_keys=["k1", "k2"]) as client:
        missing = await client.post(route, json=body)
        wrong = await client.post(route, json=body, headers={"Authorization": "Bearer k3"})
        basic = await client.post(route, json=body, headers={"Authorization": "Basic azE="})
        bare = await client.post(route, json=body, headers={"Authorization": "k1"})
        good = await client.post(route, json=body, headers={"Authorization": "Bearer k2"})
    for refused in (missing, wrong, basic, bare):
        assert refused.status_code == 401
        assert refused.json() == REFUSED
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["x-request-id"]
    assert good.status_code == 200, good.text


async def test_the_key_is_checked_before_the_body(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["k"]) as client:
        junk = await client.post("/fit", json={"x": "junk"})
        not_json = await client.post(
            "/fit", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    for response in (junk, not_json):
        assert (response.status_code, response.json()) == (401, REFUSED)


async def test_operations_endpoints_and_the_playground_stay_open(
    make_client: ClientFactory,
) -> None:
    paths = [
        "/healthz",
        "/readyz",
        "/info",
        "/metrics",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/",
        "/static/style.css",
    ]
    async with make_client(api_keys=["k1"]) as client:
        statuses = {path: (await client.get(path)).status_code for path in paths}
    assert statuses == dict.fromkeys(paths, 200)


async def test_every_key_is_compared_in_constant_time(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    async with make_client(api_keys=["first", "second", "third"]) as client:
        response = await client.post("/fit", json=LINE, headers={"Authorization": "Bearer first"})
    assert response.status_code == 200
    # The first key matched, yet all three were compared: the time does not tell which.
    assert compared == [(b"first", b"first"), (b"first", b"second"), (b"first", b"third")]
