"""Fixtures of the scaling tests: the in-process app client of tests/api."""

from __future__ import annotations

from tests.api.conftest import client, make_client

__all__ = ["client", "make_client"]
