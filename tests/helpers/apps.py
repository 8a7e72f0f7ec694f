"""The app in process, over ASGI, with its lifespan running (real server processes:
`tests.helpers.servers`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from service.app import create_app
from service.client import AsyncClient
from service.settings import Settings

BASE_URL = "http://testserver"
JSON = {"Content-Type": "application/json"}
"""The header of a body sent as raw bytes (``content=``) rather than ``json=``."""

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
"""The type of the `make_client` fixture: ``async with make_client(max_points=10) as c``."""


def app_with(**settings: Any) -> FastAPI:
    """The app built with these settings (the defaults for the others)."""
    return create_app(Settings(**settings))


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of `app` with its lifespan running; a crash in the app is the 500
    a real server would answer, not an exception in the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@asynccontextmanager
async def service_client(app: FastAPI, **options: Any) -> AsyncIterator[AsyncClient]:
    """The service's own `AsyncClient` (`options`: its api_key, retries...) of `app`, with
    the app's lifespan running."""
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with AsyncClient(BASE_URL, transport=transport, **options) as client:
            yield client
