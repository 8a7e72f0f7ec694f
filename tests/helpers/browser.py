"""Headless Chromium for the browser tests, driven by playwright.

The browser is the system's Chromium (``apt-get install chromium``, or GDS_CHROMIUM names
another), never a downloaded one. Without it, or without playwright, a test skips, except
under CI=true, where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("GDS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI") == "true"


def need_browser() -> Any:
    """playwright's sync API, or a skip (a failure in CI) saying what is missing."""
    missing = None
    try:
        from playwright import sync_api
    except ImportError:
        missing = "the playwright package is not installed (make test installs it)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set GDS_CHROMIUM)"
    if missing is not None:
        if IN_CI:
            pytest.fail(f"CI=true but the browser test cannot run: {missing}")
        pytest.skip(missing)
    return sync_api


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a playwright Browser), closed afterwards."""
    sync_api = need_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
