"""The playground (GET / and /static, service/ui.py): its page uses the API's field names and
loads nothing from elsewhere; used as a person would, in headless Chromium against the real
server (the slow tests).

The browser tests open the page on a real ``python -m service``, generate the
article's data, press Fit and check that the numbers shown are the API's own answer for
the same data, that a bad learning rate is reported next to its field, and that the plot
loads. Screenshots go to the test's tmp directory; with ``GDS_UPDATE_DOCS=1`` the
README's pictures (docs/playground.png, docs/fit-plot.png) are written too.

The browser is the system's Chromium (tests/helpers/browser.py): without it the browser tests
skip, except under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.schemas import FitRequest
from tests.helpers.browser import chromium
from tests.helpers.fits import ARTICLE_BODY
from tests.helpers.images import png_size
from tests.helpers.servers import ROOT, Server

DOCS = ROOT / "docs"
UPDATE_DOCS = os.environ.get("GDS_UPDATE_DOCS") == "1"


class _FormFields(HTMLParser):
    """The `name` of every form control and the `href` of every link in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.links: set[str] = set()
        self.sources: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in {"input", "select", "textarea"} and values.get("name"):
            self.names.add(str(values["name"]))
        if tag in {"a", "link"} and values.get("href"):
            self.links.add(str(values["href"]))
        if tag == "script" and values.get("src"):
            self.sources.add(str(values["src"]))


@pytest.mark.anyio
async def test_playground_page_uses_the_api_field_names(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = _FormFields()
    parser.feed(page.text)
    assert parser.names == {
        "x",
        "y",
        "learning_rate",
        "epochs",
        "update",
        "optimizer",
        "momentum",
        "history_points",
        "history_spacing",
    }
    assert parser.names <= set(FitRequest.model_fields)
    assert {"/docs", "/static/style.css"} <= parser.links
    for asset in parser.links | parser.sources:
        if asset.startswith("/static/"):
            response = await client.get(asset)
            assert response.status_code == 200, asset
            assert "cdn" not in response.text.lower()
    assert "http" not in "".join(parser.sources)  # nothing from a CDN


# In a browser, against a real server.


@pytest.fixture(scope="module")
def server(live_server: Server) -> str:
    """The base URL of the real service."""
    return live_server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium driven by playwright."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server + "/")
    try:
        yield page
    finally:
        context.close()
    assert problems == [], problems  # no JavaScript errors


def _numbers(text: str) -> list[float]:
    return [float(token) for token in text.replace(",", " ").split()]


def _fit(page: Any) -> None:
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_selector("#results[data-state='done']", timeout=30_000)


@pytest.mark.slow
def test_playground_shows_the_apis_answer_for_the_articles_data(
    page: Any, server: str, tmp_path: Path
) -> None:
    page.get_by_label("Seed", exact=True).fill("42")
    page.get_by_label("Points", exact=True).fill("100")
    page.get_by_role("button", name="Generate").click()
    x = _numbers(page.get_by_label("x values", exact=True).input_value())
    y = _numbers(page.get_by_label("y values", exact=True).input_value())
    assert len(x) == len(y) == 100
    # the article's data: noise of 0.25 around the diagonal from -1 to 1
    assert abs(sum(x) / 100) < 0.2 and abs(sum(y) / 100) < 0.2
    page.get_by_label("Learning rate", exact=True).fill("0.001")
    page.get_by_label("Epochs", exact=True).fill("10000")
    page.get_by_label("History points", exact=True).fill("11")
    _fit(page)

    expected = httpx.post(
        server + "/fit",
        json={"x": x, "y": y, "learning_rate": 0.001, "epochs": 10_000, "history_points": 11},
        timeout=30,
    ).json()
    for name in ("m", "b", "cost", "gradient_norm", "max_stable_learning_rate"):
        assert float(page.locator(f"#result-{name}").inner_text()) == expected[name], name
    assert int(page.locator("#result-epochs_run").inner_text()) == expected["epochs_run"] == 10_000
    assert page.locator("#result-stop_reason").inner_text() == expected["stop_reason"]
    assert page.locator("#warnings li").all_inner_texts() == expected["warnings"]
    assert page.locator("#history tr").count() == len(expected["history"]["epoch"]) == 11
    assert page.locator("#form-error").inner_text() == ""

    image = page.locator("#plot")
    assert image.is_visible()
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1200, 400]

    screenshot = tmp_path / "playground.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert png_size(screenshot.read_bytes())[0] == 1360
    if UPDATE_DOCS:
        page.screenshot(path=str(DOCS / "playground.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.parametrize("learning_rate", ["-1", "0"])
def test_playground_shows_a_bad_learning_rate_next_to_its_field(
    page: Any, learning_rate: str
) -> None:
    field = page.get_by_label("Learning rate", exact=True)
    field.fill(learning_rate)
    _fit(page)
    error = page.locator("#learning_rate-error")
    assert "greater than 0" in error.inner_text()
    assert field.get_attribute("aria-invalid") == "true"
    # described by its error, so a screen reader announces it with the field
    assert "learning_rate-error" in (field.get_attribute("aria-describedby") or "")
    assert page.locator("#numbers").is_hidden()
    assert page.locator("#epochs-error").inner_text() == ""

    field.fill("0.001")
    _fit(page)
    assert error.inner_text() == ""
    assert page.locator("#numbers").is_visible()


@pytest.mark.slow
def test_playground_reports_each_bad_field_and_bad_items(page: Any) -> None:
    page.get_by_label("x values", exact=True).fill("1, 2, oops, 4")
    page.get_by_label("y values", exact=True).fill("1, 2, 3")
    page.get_by_label("Epochs", exact=True).fill("0")
    page.get_by_label("Optimizer", exact=True).select_option("momentum")
    page.get_by_label("Momentum", exact=True).fill("1.5")
    _fit(page)
    assert "item 2" in page.locator("#x-error").inner_text()
    assert "greater than or equal to 1" in page.locator("#epochs-error").inner_text()
    assert "less than 1" in page.locator("#momentum-error").inner_text()
    assert page.locator("#learning_rate-error").inner_text() == ""


@pytest.mark.slow
def test_service_plot_of_the_article_example(server: str) -> None:
    response = httpx.post(server + "/fit/plot", json=ARTICLE_BODY, timeout=30)
    assert response.status_code == 200
    assert png_size(response.content) == (1200, 400)
    if UPDATE_DOCS:
        (DOCS / "fit-plot.png").write_bytes(response.content)


CSV_POINTS = 'x,y,note\n0,1.1,a\n1,2.9,b\n2,5.2,"c, d"\n3,6.8,e\n4,9.1,f\n'


def _fields(page: Any) -> None:
    page.get_by_label("Learning rate", exact=True).fill("0.01")
    page.get_by_label("Epochs", exact=True).fill("2000")
    page.get_by_label("History points", exact=True).fill("5")


def _expected(server: str, x: list[float], y: list[float]) -> dict[str, Any]:
    body = {"x": x, "y": y, "learning_rate": 0.01, "epochs": 2000, "history_points": 5}
    answer: dict[str, Any] = httpx.post(server + "/fit", json=body, timeout=30).json()
    return answer


@pytest.mark.slow
@pytest.mark.parametrize("how", ["pasted", "headerless", "chosen file"])
def test_playground_fits_a_csv_file(page: Any, server: str, how: str) -> None:
    """A CSV pasted in the box (with a header naming x and y among other columns, or just
    two columns of numbers) or chosen with the file input is sent as text/csv: the numbers
    shown are the API's answer for those points."""
    _fields(page)
    if how == "pasted":
        page.locator("#csv").fill(CSV_POINTS)
    elif how == "headerless":
        page.locator("#csv").fill("0,1.1\n1,2.9\n2,5.2\n3,6.8\n4,9.1\n")
    else:
        page.set_input_files(
            "#csv-file",
            files=[{"name": "points.csv", "mimeType": "text/csv", "buffer": CSV_POINTS.encode()}],
        )
        page.wait_for_function("document.getElementById('csv').value.length > 0")
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.headers.get("content-type", ""))
            if request.url.split("?")[0].endswith("/fit")
            else None
        ),
    )
    _fit(page)
    assert sent == ["text/csv"]
    expected = _expected(server, [0, 1, 2, 3, 4], [1.1, 2.9, 5.2, 6.8, 9.1])
    for name in ("m", "b", "cost", "gradient_norm"):
        assert float(page.locator(f"#result-{name}").inner_text()) == expected[name], name
    assert page.locator("#history tr").count() == len(expected["history"]["epoch"]) == 5
    assert page.locator("#csv-error").inner_text() == ""


@pytest.mark.slow
def test_playground_shows_csv_errors_under_the_csv_box(page: Any) -> None:
    page.locator("#csv").fill("x,y\n0,1\n1,oops\n2,5\n")
    _fit(page)
    error = page.locator("#csv-error").inner_text()
    assert "line 3" in error and "column 2" in error, error
    assert page.locator("#numbers").is_hidden()
    assert page.locator("#x-error").inner_text() == ""
