"""Headers of every answer: X-Request-ID (echoed when safe, generated otherwise), Server-Timing
(the fit's own time), and CORS (none unless GDS_CORS_ORIGINS names the origin)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers.apps import ClientFactory
from tests.helpers.fits import LINE

pytestmark = pytest.mark.anyio

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def test_request_id_echoed_and_server_timing_of_the_fit(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fit", json={"x": [0, 1], "y": [0, 1]}, headers={"X-Request-ID": "trace-42"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42"
    timing = re.fullmatch(r"fit;dur=(\d+\.\d{3})", response.headers["server-timing"])
    assert timing is not None and float(timing.group(1)) > 0


async def test_request_id_generated_when_absent_or_unsafe(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz", headers={"X-Request-ID": 'bad id "quoted"'})
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert all(GENERATED_ID.fullmatch(i) for i in ids)
    assert first.headers["server-timing"] == "fit;dur=0.000"  # no fit ran


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    simple = await client.get("/healthz", headers={"Origin": "https://example.org"})
    preflight = await client.options(
        "/fit",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"},
    )
    for response in (simple, preflight):
        assert not any(name.startswith("access-control-") for name in response.headers)


async def test_cors_when_origins_set(make_client: ClientFactory) -> None:
    async with make_client(cors_origins=["https://example.org"]) as client:
        simple = await client.post("/fit", json=LINE, headers={"Origin": "https://example.org"})
        preflight = await client.options(
            "/fit",
            headers={
                "Origin": "https://example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        other = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == "https://example.org"
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert {"x-request-id", "server-timing"} <= set(re.split(r",\s*", exposed))
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://example.org"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"content-type", "authorization"} <= set(re.split(r",\s*", allowed))
    assert "access-control-allow-origin" not in other.headers
