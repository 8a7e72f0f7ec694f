"""``/docs`` and ``/redoc`` work on a machine without internet access.

In-process: both pages load their scripts, styles and icon from the service itself (no
absolute URL), every asset answers 200, and the vendored files are the published ones
(checksums in service/static/vendor/README.md) with their licences.

In headless Chromium against the real server, with every request to another host aborted
(and recorded): Swagger UI renders the API, and "Try it out" then "Execute" on ``POST /fit``
shows the 200 answer; ReDoc renders the API. Neither page even tries another host. The
browser is the system's Chromium, as in tests/plot/test_playground.py: outside CI the
browser tests skip without it; with ``CI=true`` they must run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from service.api_docs import ASSETS_PATH, CONTENT_SECURITY_POLICY, VENDOR_DIR
from service.app import create_app
from service.settings import Settings
from tests.helpers.browser import chromium
from tests.helpers.servers import running_server

PAGES = ["/docs", "/redoc"]


class _Assets(HTMLParser):
    """Every ``src`` and ``href`` on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://docs.test") as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("path", PAGES)
async def test_docs_page_loads_every_asset_from_the_service(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    # The browser itself refuses anything from another host, whatever a script asks for.
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "cdn" not in page.text.lower() and "googleapis" not in page.text
    parser = _Assets()
    parser.feed(page.text)
    assert parser.urls, "the page loads no script"
    for url in parser.urls:
        assert url.startswith(ASSETS_PATH + "/"), f"{path} loads {url} from elsewhere"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0


@pytest.mark.anyio
async def test_docs_pages_honour_the_root_path(client: httpx.AsyncClient) -> None:
    """Behind a proxy that serves the service under a prefix, the links carry it."""
    transport = httpx.ASGITransport(app=create_app(Settings()), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://docs.test") as proxied:
        for path in PAGES:
            page = await proxied.get(path)
            assert "/api/openapi.json" in page.text
            assert f"/api{ASSETS_PATH}/" in page.text


def test_vendored_assets_are_the_published_files_with_their_licences() -> None:
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    sums = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE)
    assert len(sums) == 3
    for digest, name in sums:
        assert hashlib.sha256((VENDOR_DIR / name).read_bytes()).hexdigest() == digest, name
    for folder in ("swagger-ui", "redoc"):
        assert (VENDOR_DIR / folder / "LICENSE").stat().st_size > 0


# --- In the browser, offline -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service in its own process; yields its base URL."""
    with running_server(tmp_path_factory.mktemp("docs-server")) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class OfflinePage:
    """A page whose requests to any host but the server's are aborted and recorded."""

    def __init__(self, browser: Any, server: str) -> None:
        self.origin = urlsplit(server).netloc
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1360, "height": 1000})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != self.origin:
            self.elsewhere.append(url)
            route.abort("internetdisconnected")
        else:
            route.continue_()


@pytest.fixture
def offline(browser: Any, server: str, tmp_path: Path) -> Iterator[OfflinePage]:
    page = OfflinePage(browser, server)
    try:
        yield page
    finally:
        page.page.screenshot(path=str(tmp_path / "page.png"), full_page=False)
        page.context.close()
        print("\n".join(page.console))  # noqa: T201 (shown when the test fails)
    assert page.elsewhere == [], f"the page tried other hosts: {page.elsewhere}"
    assert page.errors == [], page.errors  # no JavaScript errors


@pytest.mark.slow
def test_swagger_ui_offline_runs_the_fit_example(offline: OfflinePage, server: str) -> None:
    page = offline.page
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "Gradient-descent fitting service" in page.inner_text(".swagger-ui .info .title")
    operation = page.locator(".opblock-post", has=page.locator("[data-path='/fit']")).first
    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip().startswith("200")
    body = operation.locator(".live-responses-table .response-col_description pre").first
    assert '"m"' in body.inner_text() and '"b"' in body.inner_text()


@pytest.mark.slow
def test_redoc_offline_renders_the_api(offline: OfflinePage, server: str) -> None:
    page = offline.page
    page.goto(server + "/redoc")
    heading = page.locator(".api-info h1").first
    heading.wait_for(timeout=30_000)
    assert "Gradient-descent fitting service" in heading.inner_text()
    # The /fit operation is drawn, with its request body schema.
    page.get_by_text("/fit", exact=True).first.wait_for(timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() >= 3
