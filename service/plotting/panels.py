"""The three panels of a fit's figure: the data with the fitted line and its confidence band
(`draw_data`), the cost over the epochs (`draw_cost`), and the (m, b) path over the cost's
contour lines (`draw_path`). `service.plotting.figure` lays them out and encodes the image."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core import FitResult, Moments, confidence_band
from service.plotting.figure import (
    BAND_POINTS,
    BLUE,
    CONTOUR_GRID,
    CONTOUR_LEVELS,
    GAP_FLOOR,
    ORANGE,
    RED,
    ROUNDING,
    _Matplotlib,
    sample_indices,
)

__all__ = ["draw_cost", "draw_data", "draw_path", "format_number"]


def _excess_cost(
    moments: Moments, m: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    """MSE minus its least-squares minimum at each (m, b), from the moments (never < 0)."""
    vx = moments.vx
    slope = moments.slope
    result: NDArray[np.float64] = (
        vx * (m - slope) ** 2 + (b + m * moments.mean_x - moments.mean_y) ** 2
    )
    return result


def _inside(span: tuple[float, float], value: float, margin: float = 0.1) -> tuple[float, float]:
    """`span` widened so that `value` lies at least `margin` of its width from either end (a
    marker drawn there is never cut by the frame)."""
    low, high = span
    width = high - low
    low = min(low, value - margin * width)
    high = max(high, value + margin * width)
    return low, high


def _span(values: NDArray[np.float64], pad: float = 0.15) -> tuple[float, float]:
    """A padded [low, high] around the values, widened when they (nearly) coincide."""
    low, high = float(np.min(values)), float(np.max(values))
    width = high - low
    floor = 1e-3 * max(abs(low), abs(high), 1.0)
    if width < floor:
        centre = 0.5 * (low + high)
        return centre - floor, centre + floor
    return low - pad * width, high + pad * width


def draw_data(
    ax: Any,
    result: FitResult,
    moments: Moments,
    x: NDArray[np.float64] | None,
    y: NDArray[np.float64] | None,
    weights: NDArray[np.float64] | None,
) -> None:
    """Panel 1: the points (a sample of them) as red dots, sized by weight when weighted, the
    fitted line in blue and the least-squares confidence band."""
    if x is not None and y is not None and x.size:
        keep = sample_indices(x.size)
        if weights is None:
            ax.plot(x[keep], y[keep], "o", color=RED, markersize=3.5, alpha=0.75)
        else:
            _draw_weighted(ax, x[keep], y[keep], weights[keep])
        line_x = np.linspace(float(np.min(x)), float(np.max(x)), BAND_POINTS)
        drawn = (
            f"{keep.size:,} of {x.size:,} points" if keep.size < x.size else f"{x.size:,} points"
        )
        if weights is not None:
            drawn += ", weighted"
    else:
        sd = math.sqrt(moments.vx)
        line_x = np.linspace(moments.mean_x - 2 * sd, moments.mean_x + 2 * sd, BAND_POINTS)
        ax.plot([moments.mean_x], [moments.mean_y], "+", color=RED, markersize=10)
        drawn = f"moments of {moments.n:,} points"
    statistics = result.statistics
    level = statistics.ols.confidence_level if statistics is not None else 0.95
    band = confidence_band(moments, level, line_x)
    if band is not None and np.isfinite(band[1]).all():
        centre, half = band
        ax.fill_between(line_x, centre - half, centre + half, color=BLUE, alpha=0.18, lw=0)
        ax.plot(line_x, centre, "--", color="0.4", linewidth=0.9)
        ax.annotate(
            f"{level:.4g} confidence band (least squares)",
            (0.02, 0.97),
            xycoords="axes fraction",
            fontsize=8,
            color="0.3",
            va="top",
        )
    ax.plot(line_x, result.m * line_x + result.b, "-", color=BLUE, linewidth=2)
    ax.set_title(f"data ({drawn}) and fitted line", fontsize=10, y=1.0)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _draw_weighted(
    ax: Any, x: NDArray[np.float64], y: NDArray[np.float64], weights: NDArray[np.float64]
) -> None:
    """Weighted points: area and opacity grow with the weight; weight 0 hollow."""
    top = float(np.max(weights)) if weights.size else 0.0
    share = weights / top if top > 0 else np.zeros_like(weights)
    positive = share > 0
    colours = np.zeros((int(positive.sum()), 4))
    colours[:] = (0.839, 0.153, 0.157, 0.0)  # RED
    colours[:, 3] = 0.25 + 0.7 * share[positive]
    ax.scatter(x[positive], y[positive], s=4 + 60 * share[positive], c=colours, lw=0)
    if (~positive).any():
        ax.scatter(x[~positive], y[~positive], s=12, facecolors="none", edgecolors=RED, lw=0.6)


def draw_cost(ax: Any, result: FitResult, mpl: _Matplotlib) -> None:
    """Panel 2: cost and cost - optimum cost over the epochs, log scale, floored at the
    rounding level of the initial cost (labelled); the optimum dashed."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(mpl.LogLocator(numticks=6))
    ax.yaxis.set_major_formatter(mpl.FuncFormatter(_log_tick))
    ax.yaxis.set_minor_locator(mpl.NullLocator())
    ax.set_title("cost over the epochs (log scale)", fontsize=10, y=1.0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost (MSE)")
    optimum_cost = result.optimum.cost
    history = result.history
    if history is None or not history.epoch.size:
        return
    epochs = np.asarray(history.epoch, dtype=np.float64)
    costs = np.asarray(history.cost, dtype=np.float64)
    top = float(np.max(costs[np.isfinite(costs)], initial=0.0))
    start = float(costs[0]) if costs[0] > 0 else top
    floor = ROUNDING * start if start > 0 else ROUNDING
    top = max(top, optimum_cost, floor / ROUNDING * 1e-3)
    ax.plot(epochs, np.maximum(costs, floor), color=BLUE, linewidth=1.8)
    ax.annotate(
        "cost",
        (epochs[0], max(float(costs[0]), floor)),
        xytext=(6, 0),
        textcoords="offset points",
        color=BLUE,
        fontsize=8,
        va="center",
    )
    lowest = float(np.min(np.maximum(costs, floor)))
    if optimum_cost > floor:
        gap = costs - optimum_cost
        # below ~1e-12 of the cost the gap is rounding noise; drawing it would stretch the axis
        visible = gap > max(GAP_FLOOR * top, floor)
        shown = np.flatnonzero(visible)
        if shown.size:
            ax.plot(epochs, np.where(visible, gap, np.nan), color=ORANGE, linewidth=1.8)
            lowest = min(lowest, float(np.min(gap[visible])))
            halfway = 0.5 * (epochs[shown[0]] + epochs[shown[-1]])
            middle = shown[min(np.searchsorted(epochs[shown], halfway), shown.size - 1)]
            ax.annotate(
                "cost - optimum",
                (epochs[middle], gap[middle]),
                xytext=(6, -4),
                textcoords="offset points",
                color=ORANGE,
                fontsize=8,
                va="top",
            )
        ax.axhline(optimum_cost, color="0.35", linestyle="--", linewidth=1)
        ax.annotate(
            f"optimum {optimum_cost:.4g}",
            (0.98, optimum_cost),
            xycoords=("axes fraction", "data"),
            xytext=(0, -4),
            textcoords="offset points",
            color="0.35",
            fontsize=8,
            ha="right",
            va="top",
        )
        lowest = min(lowest, optimum_cost)
    if lowest <= floor:  # the curve reaches rounding level: show where the axis stops
        ax.axhline(floor, color="0.55", linestyle=":", linewidth=1)
        ax.annotate(
            "rounding level (2^-52 x initial cost)",
            (0.98, floor),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            color="0.45",
            fontsize=7,
            ha="right",
            va="bottom",
        )
    ax.set_ylim(max(lowest, floor) / 4, top * 4)


def draw_path(ax: Any, result: FitResult, moments: Moments, mpl: _Matplotlib) -> None:
    """Panel 3: the (m, b) iterates from start (circle) to end (square), the optimum (star),
    over contour lines of the MSE spaced geometrically in its excess over the minimum."""
    optimum = result.optimum
    history = result.history
    if history is not None and history.epoch.size:
        path_m = np.asarray(history.m, dtype=np.float64)
        path_b = np.asarray(history.b, dtype=np.float64)
    else:
        path_m = np.array([result.m])
        path_b = np.array([result.b])
    m_low, m_high = _inside(_span(np.append(path_m, optimum.m)), optimum.m)
    b_low, b_high = _inside(_span(np.append(path_b, optimum.b)), optimum.b)
    grid_m, grid_b = np.meshgrid(
        np.linspace(m_low, m_high, CONTOUR_GRID), np.linspace(b_low, b_high, CONTOUR_GRID)
    )
    excess = _excess_cost(moments, grid_m, grid_b)
    top = float(np.max(excess))
    positive = excess[excess > 0]
    if positive.size and math.isfinite(top):
        bottom = max(float(np.min(positive)), top * 1e-8)
        if bottom < top:
            ax.contour(
                grid_m,
                grid_b,
                excess,
                levels=np.geomspace(bottom, top, CONTOUR_LEVELS),
                cmap="viridis",
                norm=mpl.LogNorm(vmin=bottom, vmax=top),
                linewidths=0.8,
            )
    ax.plot(path_m, path_b, "-", color=RED, linewidth=1.5)
    ax.plot(path_m[:1], path_b[:1], "o", color=RED, markersize=6)
    ax.plot(path_m[-1:], path_b[-1:], "s", color=RED, markersize=6)
    ax.plot([optimum.m], [optimum.b], "*", color="black", markersize=11, zorder=5)
    ax.annotate(
        "start",
        (path_m[0], path_b[0]),
        xytext=(6, 6),
        textcoords="offset points",
        color=RED,
        fontsize=8,
    )
    ax.annotate(
        "optimum",
        (optimum.m, optimum.b),
        xytext=(-8, 8),
        textcoords="offset points",
        fontsize=8,
        ha="right",
    )
    ax.set_xlim(m_low, m_high)
    ax.set_ylim(b_low, b_high)
    ax.set_title("path of (m, b) over the cost's contours", fontsize=10, y=1.0)
    ax.set_xlabel("slope m")
    ax.set_ylabel("intercept b")


def _log_tick(value: float, _position: int) -> str:
    """A log axis's tick label as plain text (1e-05), cheaper to draw than mathtext."""
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def format_number(value: float) -> str:
    return f"{value:.6g}"
