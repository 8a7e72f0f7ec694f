"""The fixtures every test directory shares (helpers they import: `tests.helpers`).

- `client`: an httpx client of the app in process, default settings;
- `make_client`: ``async with make_client(max_points=10) as client`` for other settings;
- `live_server`: one real ``python -m service`` (default settings) for the whole session,
  shared by the slow tests that need no settings of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from tests.helpers.apps import ClientFactory, app_with, serve
from tests.helpers.servers import Server, running_server


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio only."""
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with default settings, its lifespan running."""
    async with serve(app_with()) as client:
        yield client


@pytest.fixture
def make_client() -> ClientFactory:
    """``async with make_client(max_points=10) as client``: the app with those settings."""

    def factory(**settings: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serve(app_with(**settings))

    return factory


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server with default settings, started once and stopped (SIGTERM) at the end.
    A test that stops it, or needs other settings, starts its own (`running_server`)."""
    with running_server(tmp_path_factory.mktemp("live-server")) as server:
        yield server
