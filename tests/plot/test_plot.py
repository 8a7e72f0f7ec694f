"""POST /fit/plot: the picture of a fit, its formats, its errors, and the playground's files."""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any

import httpx
import numpy as np
import pytest

from service import core, plotting
from service.app import create_app
from service.examples import ARTICLE_X, ARTICLE_Y
from service.schemas import FitRequest
from service.settings import Settings
from tests.plot.images import png_size, svg_root

# The article's own run: learning rate 0.001, 10,000 epochs.
ARTICLE_BODY: dict[str, Any] = {
    "x": ARTICLE_X,
    "y": ARTICLE_Y,
    "learning_rate": 0.001,
    "epochs": 10_000,
}


def article_render(image_format: plotting.ImageFormat = "png") -> bytes:
    x, y = np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y)
    moments = core.compute_moments(x, y)
    options = plotting.plot_options(core.FitOptions(learning_rate=0.001, epochs=10_000))
    result = core.fit_moments(moments, options)
    return plotting.render_fit(result, moments, x, y, image_format=image_format)


@pytest.mark.anyio
async def test_plot_article_example_is_a_png_of_the_figure_size(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fit/plot", json=ARTICLE_BODY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["vary"] == "Accept"
    assert png_size(response.content) == plotting.FIGURE_PIXELS == (1200, 400)


@pytest.mark.anyio
async def test_plot_answers_svg_when_accept_asks(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fit/plot", json=ARTICLE_BODY, headers={"Accept": "image/svg+xml"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    root = svg_root(response.content)
    # 12 x 4 inches at 72 points per inch
    assert root.get("viewBox") == "0 0 864 288"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "png"),
        ("", "png"),
        ("*/*", "png"),
        ("image/*", "png"),
        ("image/png", "png"),
        ("image/svg+xml", "svg"),
        ("image/svg+xml, image/png", "png"),
        ("image/png;q=0.5, image/svg+xml", "svg"),
        ("image/svg+xml;q=0.9, image/*;q=0.1", "svg"),
        ("image/svg+xml;q=0, */*", "png"),
        ("text/html, image/svg+xml;q=0.8, */*;q=0.5", "svg"),
        ("image/svg+xml;q=oops, image/png;q=0.2", "png"),
    ],
)
def test_choose_format_follows_accept_qualities(accept: str | None, expected: str) -> None:
    assert plotting.choose_format(accept) == expected


BAD_BODIES: list[dict[str, Any]] = [
    {**ARTICLE_BODY, "learning_rate": -1},
    {**ARTICLE_BODY, "learning_rate": 0},
    {**ARTICLE_BODY, "learning_rate": "0.1"},
    {**ARTICLE_BODY, "y": ARTICLE_Y[:-1]},
    {**ARTICLE_BODY, "x": [1.0] * len(ARTICLE_X)},
    {**ARTICLE_BODY, "epochs": 0, "momentum": 1.5},
    {**ARTICLE_BODY, "update": "sequential", "optimizer": "momentum"},
    {**ARTICLE_BODY, "learning_rat": 0.01},
    {**ARTICLE_BODY, "learning_rate": 5.0},  # diverges
    {"learning_rate": 0.01},
]


@pytest.mark.anyio
@pytest.mark.parametrize("body", BAD_BODIES)
async def test_plot_refuses_what_fit_refuses_with_the_same_answer(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    fit = await client.post("/fit", json=body)
    plot = await client.post("/fit/plot", json=body)
    assert fit.status_code == 422
    assert plot.status_code == 422
    assert plot.json() == fit.json()


@pytest.mark.anyio
async def test_plot_diverged_names_learning_rate(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit/plot", json={**ARTICLE_BODY, "learning_rate": 5.0})
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["type"] == "diverged"
    assert item["loc"] == ["body", "learning_rate"]
    assert set(item["ctx"]) == {"epoch", "max_stable_learning_rate"}


@pytest.mark.anyio
async def test_plot_respects_server_limits() -> None:
    app = create_app(Settings(max_points=50, max_history_points=10))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/fit/plot", json={**ARTICLE_BODY, "history_points": 20})
    assert response.status_code == 422
    locs = [item["loc"] for item in response.json()["detail"]]
    assert locs == [["body", "x"], ["body", "history_points"]]


@pytest.mark.anyio
async def test_plot_needs_the_api_key_when_keys_are_set() -> None:
    app = create_app(Settings(api_keys=["secret"]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        refused = await client.post("/fit/plot", json=ARTICLE_BODY)
        allowed = await client.post(
            "/fit/plot", json=ARTICLE_BODY, headers={"Authorization": "Bearer secret"}
        )
        page = await client.get("/")
    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert page.status_code == 200


@pytest.mark.anyio
async def test_plot_without_matplotlib_answers_501_naming_the_extra(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes `import` raise ModuleNotFoundError, as if absent.
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.colors", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    response = await client.post("/fit/plot", json=ARTICLE_BODY)
    assert response.status_code == 501
    assert response.json() == {"detail": plotting.INSTALL_HINT}
    assert "pip install 'gd-fit-service[plot]'" in response.json()["detail"]
    # validation still comes first
    assert (await client.post("/fit/plot", json={"x": [1]})).status_code == 422


@pytest.mark.anyio
async def test_plot_of_moments_draws_the_line_without_points(client: httpx.AsyncClient) -> None:
    moments = {"n": 100, "mean_x": 0.1, "mean_y": 0.05, "sxx": 40.0, "sxy": 30.0, "syy": 35.0}
    response = await client.post("/fit/plot", json={"moments": moments, "learning_rate": 0.01})
    assert response.status_code == 200
    assert png_size(response.content) == (1200, 400)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "momentum", "momentum": 0.5, "learning_rate": 0.05, "epochs": 300},
        {"optimizer": "nesterov", "learning_rate": 0.05, "tolerance": 1e-6},
        {"update": "sequential", "history_points": 7, "history_spacing": "linear"},
        {"standardize": True, "l2": 0.5, "epochs": 1},
        {"initial_m": 3.0, "initial_b": -2.0, "learning_rate": 0.9, "epochs": 50},
    ],
)
async def test_plot_draws_every_option(client: httpx.AsyncClient, options: dict[str, Any]) -> None:
    response = await client.post("/fit/plot", json={"x": ARTICLE_X, "y": ARTICLE_Y, **options})
    assert response.status_code == 200, response.text
    assert png_size(response.content) == (1200, 400)


@pytest.mark.anyio
async def test_plot_far_from_the_origin_and_a_perfect_line(client: httpx.AsyncClient) -> None:
    x = [1e9 + i for i in range(101)]
    y = [2.0 * i + 1.0 for i in range(101)]
    far = await client.post("/fit/plot", json={"x": x, "y": y, "standardize": True})
    assert far.status_code == 200, far.text
    line = await client.post(
        "/fit/plot", json={"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 0.1}
    )
    assert line.status_code == 200, line.text


@pytest.mark.anyio
async def test_plot_of_many_points_is_drawn_from_a_sample(client: httpx.AsyncClient) -> None:
    rng = np.random.default_rng(7)
    n = 50_000
    x = rng.normal(size=n)
    y = 3.0 * x + rng.normal(size=n)
    body = {"x": x.tolist(), "y": y.tolist(), "learning_rate": 0.1, "epochs": 200}
    first = await client.post("/fit/plot", json=body)
    second = await client.post("/fit/plot", json=body)
    assert first.status_code == 200
    assert png_size(first.content) == (1200, 400)
    assert first.content == second.content  # the sample is deterministic
    svg = await client.post("/fit/plot", json=body, headers={"Accept": "image/svg+xml"})
    # one marker <use> per drawn point (plus tick marks and glyphs), not one per input point
    uses = len(re.findall(rb"<use ", svg.content))
    assert plotting.MAX_DRAWN_POINTS <= uses < plotting.MAX_DRAWN_POINTS + 1_000 < n


def test_sample_indices_are_evenly_strided_and_keep_both_ends() -> None:
    assert plotting.sample_indices(5).tolist() == [0, 1, 2, 3, 4]
    indices = plotting.sample_indices(1_000_000)
    assert indices.size == plotting.MAX_DRAWN_POINTS
    assert indices[0] == 0 and indices[-1] == 999_999
    assert np.all(np.diff(indices) > 0)
    assert np.array_equal(indices, plotting.sample_indices(1_000_000))


def test_plot_options_ask_for_a_log_spaced_history() -> None:
    options = plotting.plot_options(core.FitOptions(history_points=0, learning_rate=0.1))
    assert options.history_points == plotting.PLOT_HISTORY_POINTS
    assert options.history_spacing == "log"
    assert options.learning_rate == 0.1


def test_render_fit_is_thread_safe_and_deterministic() -> None:
    serial = article_render()
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda _: article_render(), range(8)))
    assert all(image == serial for image in images)
    assert svg_root(article_render("svg")) is not None


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


@pytest.mark.anyio
async def test_plot_is_documented_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/fit/plot"]["post"]
    assert operation["operationId"] == "fit_plot"
    assert set(operation["responses"]["200"]["content"]) == {"image/png", "image/svg+xml"}
    assert {"422", "501"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/FitRequest"}
    assert "/" not in schema["paths"]
