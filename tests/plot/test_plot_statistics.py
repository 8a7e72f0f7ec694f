"""The statistics in the picture of a fit: the least-squares confidence band, R^2 in the title,
points sized by weight, and a cost panel whose log axis stops at the rounding level of the
initial cost (a perfect fit's cost runs to the last epoch), with the optimum's star inside
the frame of the path panel."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
import statsmodels.api as sm

from service import core, plotting
from service.examples import ARTICLE_X, ARTICLE_Y
from service.plotting import figure as plot_figure
from service.plotting import panels as plot_panels
from tests.plot.test_playground import browser, page, server  # noqa: F401 (fixtures)

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402


def fitted(
    x: Any, y: Any, weights: Any = None, level: float = 0.95, **options: Any
) -> tuple[core.FitResult, core.Moments]:
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ws = None if weights is None else np.asarray(weights, dtype=np.float64)
    moments = core.compute_moments(xs, ys, ws)
    result = core.fit_moments(moments, plotting.plot_options(core.FitOptions(**options)))
    (result,) = core.with_statistics([result], [moments], [level], [(xs, ys, ws)])
    return result, moments


def panels() -> tuple[Any, Any, Any]:
    mpl = plot_figure._matplotlib()
    figure = Figure()
    axes = figure.subplots(1, 3)
    return mpl, axes, figure


def test_perfect_fit_cost_axis_stops_at_the_rounding_level() -> None:
    result, _ = fitted([0, 1, 2, 3], [1, 3, 5, 7], learning_rate=0.1)
    assert result.history is not None and result.history.cost[-1] == 0.0
    mpl, (_, cost_ax, _), _ = panels()
    plot_panels.draw_cost(cost_ax, result, mpl)
    floor = 2.0**-52 * float(result.history.cost[0])
    low, high = cost_ax.get_ylim()
    assert floor / 10 < low < floor and high < 1e3 * result.history.cost[0]
    (line,) = [line for line in cost_ax.get_lines() if line.get_linestyle() == "-"]
    epochs, costs = line.get_data()
    assert epochs[-1] == result.epochs_run  # the line runs to the last epoch
    assert np.isfinite(costs).all() and costs.min() >= floor
    texts = [text.get_text() for text in cost_ax.texts]
    assert any("rounding level" in text for text in texts)
    assert "cost - optimum" not in texts  # the same curve as the cost: not drawn twice


@pytest.mark.parametrize(
    ("x", "y", "rate"), [(ARTICLE_X, ARTICLE_Y, 0.001), ([0, 1, 2, 3], [1, 3, 5, 7], 0.1)]
)
def test_cost_labels_do_not_overlap(x: list[float], y: list[float], rate: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    result, _ = fitted(x, y, learning_rate=rate, epochs=10_000)
    mpl, (_, cost_ax, _), figure = panels()
    plot_panels.draw_cost(cost_ax, result, mpl)
    renderer = FigureCanvasAgg(figure).get_renderer()
    boxes = [text.get_window_extent(renderer) for text in cost_ax.texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


@pytest.mark.parametrize(
    ("x", "y"),
    [([0, 1, 2, 3], [1, 3, 5, 7]), (ARTICLE_X, ARTICLE_Y), ([0, 1e-3, 2e-3], [5, 5, 5.001])],
)
def test_the_optimum_star_is_inside_the_frame(x: list[float], y: list[float]) -> None:
    result, moments = fitted(x, y, learning_rate=0.1, epochs=50)
    mpl, (_, _, path_ax), _ = panels()
    plot_panels.draw_path(path_ax, result, moments, mpl)
    (m_low, m_high), (b_low, b_high) = path_ax.get_xlim(), path_ax.get_ylim()
    m, b = result.optimum.m, result.optimum.b
    assert m_low + 0.05 * (m_high - m_low) <= m <= m_high - 0.05 * (m_high - m_low)
    assert b_low + 0.05 * (b_high - b_low) <= b <= b_high - 0.05 * (b_high - b_low)


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_confidence_band_is_statsmodels_mean_interval(level: float) -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 10, 50)
    y = 2 * x + rng.normal(0, 2, 50)
    w = rng.uniform(0.5, 2, 50)
    points = np.linspace(-2, 12, 7)
    centre, half = core.confidence_band(core.compute_moments(x, y, w), level, points)
    fit = sm.WLS(y, sm.add_constant(x), weights=w).fit()
    frame = fit.get_prediction(sm.add_constant(points)).summary_frame(alpha=1 - level)
    assert centre == pytest.approx(frame["mean"].to_numpy(), rel=1e-9)
    assert (centre - half) == pytest.approx(frame["mean_ci_lower"].to_numpy(), rel=1e-9)
    assert (centre + half) == pytest.approx(frame["mean_ci_upper"].to_numpy(), rel=1e-9)


def test_two_points_have_no_band() -> None:
    assert core.confidence_band(core.compute_moments([0, 1], [0, 1]), 0.95, np.zeros(3)) is None


def test_data_panel_draws_the_band_and_sizes_points_by_weight() -> None:
    weights = np.linspace(0.0, 4.0, 100)
    result, moments = fitted(ARTICLE_X, ARTICLE_Y, weights, level=0.9, learning_rate=0.001)
    x, y = np.asarray(ARTICLE_X), np.asarray(ARTICLE_Y)
    _, (data_ax, _, _), _ = panels()
    plot_panels.draw_data(data_ax, result, moments, x, y, weights)
    sizes = [c.get_sizes() for c in data_ax.collections if len(c.get_sizes()) > 1]
    filled = max(sizes, key=len)
    assert len(filled) == 99 and filled.min() < filled.max()  # weight 0 drawn hollow apart
    assert any("0.9 confidence band" in text.get_text() for text in data_ax.texts)
    assert "weighted" in data_ax.get_title()


@pytest.mark.anyio
async def test_plot_title_carries_r2(client: httpx.AsyncClient) -> None:
    body = {"x": ARTICLE_X, "y": ARTICLE_Y, "learning_rate": 0.001}
    response = await client.post("/fit/plot", json=body, headers={"Accept": "image/svg+xml"})
    assert response.status_code == 200
    fit = (await client.post("/fit", json=body)).json()
    assert f"R² = {fit['statistics']['r2']:.4f}" in response.text or "R²" in response.text
    assert "confidence band" in response.text


@pytest.mark.slow
@pytest.mark.parametrize("points", [10, 2])
def test_playground_shows_the_statistics(page: Any, server: str, points: int) -> None:  # noqa: F811
    page.get_by_label("Seed", exact=True).fill("7")
    page.get_by_label("Points", exact=True).fill(str(points))
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_selector("#results[data-state='done']", timeout=30_000)
    x = [float(v) for v in page.get_by_label("x values").input_value().replace(",", " ").split()]
    y = [float(v) for v in page.get_by_label("y values").input_value().replace(",", " ").split()]
    # the least-squares inference depends on the data alone
    answer = httpx.post(server + "/fit", json={"x": x, "y": y, "epochs": 1}, timeout=30).json()
    ols = answer["statistics"]["ols"]
    assert page.locator("#statistics-box").is_visible()
    assert page.locator("#statistic-ols-df").inner_text() == str(points - 2)
    assert float(page.locator("#statistic-ols-m").inner_text()) == pytest.approx(ols["m"], rel=1e-5)
    stderr = page.locator("#statistic-ols-stderr_m").inner_text()
    if points == 2:  # no residual degrees of freedom: undefined, shown as a dash
        assert stderr == "\u2014"
    else:
        assert float(stderr) == pytest.approx(ols["stderr_m"], rel=1e-5)
