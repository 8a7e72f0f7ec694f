"""POST /fit/plot and service/plotting.py: the picture of a fit (PNG, or SVG when Accept asks),
drawn from a sample of many points, the same 422s as /fit, a 501 without matplotlib.
Its API key: tests/ops/test_auth.py; its limits: tests/ops/test_limits.py; the page that
shows it: test_playground.py."""

from __future__ import annotations

import dataclasses
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest

from service import core, plotting
from service.examples import ARTICLE_X, ARTICLE_Y
from tests.helpers.fits import ARTICLE_BODY, LINE
from tests.helpers.images import png_size, svg_root

FIGURE = (1200, 400)
"""The figure's size in pixels (12 x 4 inches at 100 dpi)."""


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
    assert png_size(response.content) == plotting.FIGURE_PIXELS == FIGURE


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
    assert png_size(response.content) == FIGURE


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
    assert png_size(response.content) == FIGURE


@pytest.mark.anyio
async def test_plot_far_from_the_origin_and_a_perfect_line(client: httpx.AsyncClient) -> None:
    x = [1e9 + i for i in range(101)]
    y = [2.0 * i + 1.0 for i in range(101)]
    far = await client.post("/fit/plot", json={"x": x, "y": y, "standardize": True})
    assert far.status_code == 200, far.text
    assert png_size(far.content) == FIGURE
    line = await client.post("/fit/plot", json={**LINE, "learning_rate": 0.1})
    assert line.status_code == 200, line.text
    assert png_size(line.content) == FIGURE


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
    assert png_size(first.content) == FIGURE
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
    asked = core.FitOptions(history_points=0, learning_rate=0.01, optimizer="momentum")
    options = plotting.plot_options(asked)
    points = plotting.PLOT_HISTORY_POINTS
    assert options == dataclasses.replace(asked, history_points=points, history_spacing="log")
    moments = core.compute_moments(np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y))
    history = core.fit_moments(moments, options).history
    assert history is not None
    epochs = history.epoch
    assert epochs[:4].tolist() == [0, 1, 2, 3] and epochs[-1] == 10_000
    assert np.all(np.diff(epochs) > 0)
    # Log spacing: past the first epochs (merged by rounding), each recorded epoch is the one
    # before times the same ratio, 10,000 ** (1 / (points - 2)), give or take the rounding.
    late = epochs[epochs >= 100]
    ratio = 10_000 ** (1 / (points - 2))
    assert np.allclose(late[1:] / late[:-1], ratio, rtol=0.01)


def test_render_fit_is_thread_safe_and_deterministic() -> None:
    serial = article_render()
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda _: article_render(), range(8)))
    assert all(image == serial for image in images)
    assert png_size(serial) == FIGURE
    assert svg_root(article_render("svg")).get("viewBox") == "0 0 864 288"
