"""GET /healthz (liveness), /readyz (readiness: 503 before start-up and while shutting
down) and /info (name, version and the limits in force)."""

from __future__ import annotations

import httpx
import pytest

from service import __version__
from tests.helpers.apps import BASE_URL, ClientFactory, app_with

pytestmark = pytest.mark.anyio

NOT_READY = (503, {"status": "not ready"})


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ready_while_started_503_otherwise() -> None:
    app = app_with()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        before = await client.get("/readyz")
        async with app.router.lifespan_context(app):
            during = await client.get("/readyz")
        after = await client.get("/readyz")
    assert (before.status_code, before.json()) == NOT_READY
    assert (during.status_code, during.json()) == (200, {"status": "ready"})
    assert (after.status_code, after.json()) == NOT_READY


async def test_readyz_flag_can_be_flipped() -> None:
    app = app_with()
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            ready = await client.get("/readyz")
            app.state.ready = False  # what a SIGTERM handler does first
            draining = await client.get("/readyz")
            health = await client.get("/healthz")
    assert ready.status_code == 200
    assert (draining.status_code, draining.json()) == NOT_READY
    assert health.status_code == 200  # alive while draining: no restart


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
    # The limits are /info's own fields; `limits` groups them again.
    assert response.json() == {
        **limits,
        "name": "gd-fit-service",
        "version": __version__,
        "limits": limits,
    }


async def test_start_up_compiles_the_core_and_freezes_what_it_built() -> None:
    """Before it is ready the lifespan has the core's compiled loops loaded (no request waits
    for Numba) and the start-up objects frozen out of the collector's full walks, until the
    app stops."""
    import gc

    from service.core import kernels

    gc.unfreeze()
    app = app_with()
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
        compiled = [bool(f.signatures) for f in (kernels._small_moments, kernels._matrix_power)]
    assert frozen > 10_000
    assert compiled == [True, True]
    assert gc.get_freeze_count() == 0  # unfrozen when the app stops
