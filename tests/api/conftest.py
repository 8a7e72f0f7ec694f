"""In-process API fixtures: the app built from explicit settings, driven by httpx over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.apps import serve

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client() -> ClientFactory:
    """``async with make_client(max_points=10) as client``: an app with those settings."""

    def factory(**settings: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serve(create_app(Settings(**settings)))

    return factory


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with default settings."""
    async with serve(create_app(Settings())) as client:
        yield client
