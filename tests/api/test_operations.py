"""Health, readiness, info, docs, auth and CORS."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from service import __version__
from service.app import create_app
from service.examples import ARTICLE_X, ARTICLE_Y
from service.settings import Settings

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7]}


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ready_while_started_503_otherwise() -> None:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        before = await client.get("/readyz")
        async with app.router.lifespan_context(app):
            during = await client.get("/readyz")
        after = await client.get("/readyz")
    assert (before.status_code, before.json()) == (503, {"status": "not ready"})
    assert (during.status_code, during.json()) == (200, {"status": "ready"})
    assert (after.status_code, after.json()) == (503, {"status": "not ready"})


async def test_readyz_flag_can_be_flipped() -> None:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        app.state.ready = False  # what a SIGTERM handler does first
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503


async def test_info_reports_version_and_limits(make_client: ClientFactory) -> None:
    async with make_client(max_points=123, max_batch=7) as client:
        response = await client.get("/info")
    assert response.status_code == 200
    limits = {
        "max_points": 123,
        "max_epochs": 10_000_000,
        "max_history_points": 10_000,
        "max_batch": 7,
        "max_body_bytes": 64 * 1024 * 1024,
    }
    # SPEC lists the limits as /info's own fields; `limits` groups them again.
    assert response.json() == {
        **limits,
        "name": "gd-fit-service",
        "version": __version__,
        "limits": limits,
    }


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert "/openapi.json" in response.text


async def test_openapi_example_is_the_article_data_and_runs(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    request = schema["components"]["schemas"]["FitRequest"]
    (example,) = request["examples"]
    assert example["x"] == ARTICLE_X and example["y"] == ARTICLE_Y
    assert len(ARTICLE_X) == 100
    response = await client.post("/fit", json=example)
    assert response.status_code == 200


async def test_openapi_documents_every_field(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    ours = [
        "FitRequest",
        "FitResponse",
        "Moments",
        "Optimum",
        "History",
        "BatchFitRequest",
        "BatchFitResponse",
        "Info",
        "Limits",
    ]
    for name in ours:
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"
    operations = (await client.get("/openapi.json")).json()["paths"]
    assert operations["/fit"]["post"]["operationId"] == "fit"
    assert operations["/fit/batch"]["post"]["operationId"] == "fit_batch"


async def test_auth_required_when_keys_set(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["s3cret", "other"]) as client:
        missing = await client.post("/fit", json=LINE)
        wrong = await client.post("/fit", json=LINE, headers={"Authorization": "Bearer nope"})
        basic = await client.post("/fit", json=LINE, headers={"Authorization": "Basic czNjcmV0"})
        good = await client.post("/fit", json=LINE, headers={"Authorization": "Bearer other"})
        batch = await client.post("/fit/batch", json={"fits": [LINE]})
        open_paths = [await client.get(p) for p in ("/healthz", "/readyz", "/info", "/docs")]
    for refused in (missing, wrong, basic, batch):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {
            "detail": "missing or invalid API key: send Authorization: Bearer <key>"
        }
    assert good.status_code == 200
    assert [r.status_code for r in open_paths] == [200, 200, 200, 200]


async def test_auth_before_body_validation(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["k"]) as client:
        response = await client.post("/fit", json={"x": "junk"})
    assert response.status_code == 401


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_when_origins_set(make_client: ClientFactory) -> None:
    async with make_client(cors_origins=["https://example.org"]) as client:
        simple = await client.post("/fit", json=LINE, headers={"Origin": "https://example.org"})
        preflight = await client.options(
            "/fit",
            headers={
                "Origin": "https://example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        other = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert simple.headers["access-control-allow-origin"] == "https://example.org"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert preflight.status_code == 200
    assert "access-control-allow-origin" not in other.headers


async def test_openapi_every_field_has_an_example(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("FitRequest", "FitResponse", "Moments", "BatchFitRequest", "Info", "Health"):
        for field, spec in schemas[name]["properties"].items():
            assert "examples" in spec, f"{name}.{field} has no example"
