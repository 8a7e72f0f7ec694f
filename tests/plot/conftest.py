"""Fixtures for the plot endpoint and the playground tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.apps import app_with, serve


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with default settings, its lifespan running."""
    async with serve(app_with()) as client:
        yield client
