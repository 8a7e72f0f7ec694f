"""Pictures of a fit: this module only draws (the route is in `service.routes.fit`).

`render_fit` draws one figure of three panels, side by side, 1200 x 400 pixels:

1. **Data and fitted line** (like the article's figure): the points as red dots and the
   fitted line y = m*x + b in blue across the range of x, over the least-squares line's
   pointwise confidence band at the request's `confidence_level` (shaded;
   `service.core.confidence_band`). With weights, each dot's area and opacity grow with its
   weight (points of weight 0 are hollow). Inputs of more than `MAX_DRAWN_POINTS` points are
   drawn from an evenly strided, deterministic sample (the fit itself always uses every
   point). Data sent as moments has no points to draw: the line is drawn over
   mean_x +- 2 standard deviations of x.
2. **Cost over the epochs**, log scale: the MSE of each recorded (m, b), the gap to the
   optimum's cost (cost - optimum cost, where positive) and the optimum's cost as a
   dashed horizontal line. The axis stops at the rounding level of the initial cost
   (2^-52 times it, dotted and labelled): below it a cost is rounding noise, so a perfect
   fit's cost, which falls to 1e-300 or to exactly 0, runs along that floor to the last
   epoch instead of stretching the axis over hundreds of decades or vanishing.
3. **Path of (m, b)**: the recorded iterates from the start (circle) to the end (square),
   with the exact optimum (star, always inside the frame), over contour lines of the MSE.
   The levels are spaced geometrically in the excess cost over the least-squares minimum,
   since it spans many orders of magnitude between the start and the optimum.

The title gives m, b, the cost and R^2 of the returned line (`statistics.r2`).

The surface comes from the data's moments: with vx = sxx / sum_w and m_ls = sxy / sxx,

    cost(m, b) = min_cost + vx * (m - m_ls)^2 + (b + m * mean_x - mean_y)^2,

so a contour grid costs O(grid), never O(n * grid).

Drawing uses matplotlib's object-oriented API on a fresh `Figure` with the Agg canvas (no
pyplot, no global state, no display), so concurrent requests in the threadpool are safe.
matplotlib is an optional extra (``pip install 'gd-fit-service[plot]'``); without it
`POST /fit/plot` answers 501 saying so.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import math
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from service.core import FitOptions, FitResult, Moments, confidence_band

__all__ = [
    "FIGURE_PIXELS",
    "INSTALL_HINT",
    "MAX_DRAWN_POINTS",
    "MEDIA_TYPES",
    "PLOT_HISTORY_POINTS",
    "PlottingUnavailableError",
    "choose_format",
    "plot_options",
    "ensure_available",
    "render_fit",
]

ImageFormat = Literal["png", "svg"]

MEDIA_TYPES: dict[ImageFormat, str] = {"png": "image/png", "svg": "image/svg+xml"}
# Content types `POST /fit/plot` can answer, keyed by format.

PLOT_HISTORY_POINTS = 200
# Log-spaced history entries recorded for the cost curve and the path, whatever the request asked.

MAX_DRAWN_POINTS = 2_000
# Larger inputs are drawn from an evenly strided sample of this many points.

FIGURE_INCHES = (12.0, 4.0)
FIGURE_DPI = 100
FIGURE_PIXELS = (1200, 400)
# (width, height) of the PNG: FIGURE_INCHES * FIGURE_DPI.

CONTOUR_GRID = 60
# Points per side of the grid on which the cost's contour lines are computed.

CONTOUR_LEVELS = 10

GAP_FLOOR = 1e-12
# The gap to the optimum's cost is drawn only above this fraction of the largest cost.

ROUNDING = 2.0**-52
# The cost axis's floor, as a fraction of the initial cost: float64's relative rounding.

BAND_POINTS = 100
# x positions at which the confidence band is evaluated.

RED, BLUE, ORANGE = "#d62728", "#1f77b4", "#ff7f0e"
# The article's colours: red points, blue line; orange for the gap to the optimum.

INSTALL_HINT = "plotting needs matplotlib, an optional extra: pip install 'gd-fit-service[plot]'"


class PlottingUnavailableError(RuntimeError):
    """Raised when matplotlib cannot be imported; the route answers 501 with the message."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)
        self.message = INSTALL_HINT


class _Matplotlib(NamedTuple):
    """The few matplotlib classes the figure uses, imported on first use."""

    Figure: Any
    LogNorm: Any
    FuncFormatter: Any
    NullLocator: Any
    MaxNLocator: Any
    LogLocator: Any


def _matplotlib() -> _Matplotlib:
    """Import matplotlib's object-oriented API, or raise `PlottingUnavailableError`."""
    try:
        figure = importlib.import_module("matplotlib.figure")
        colors = importlib.import_module("matplotlib.colors")
        ticker = importlib.import_module("matplotlib.ticker")
    except ImportError as exc:
        raise PlottingUnavailableError() from exc
    return _Matplotlib(
        figure.Figure,
        colors.LogNorm,
        ticker.FuncFormatter,
        ticker.NullLocator,
        ticker.MaxNLocator,
        ticker.LogLocator,
    )


def ensure_available() -> None:
    """Raise `PlottingUnavailableError` unless matplotlib can be imported."""
    _matplotlib()


def plot_options(options: FitOptions) -> FitOptions:
    """The request's options with the history the figure needs: 200 log-spaced entries."""
    return dataclasses.replace(options, history_points=PLOT_HISTORY_POINTS, history_spacing="log")


def sample_indices(n: int, limit: int = MAX_DRAWN_POINTS) -> NDArray[np.intp]:
    """Indices of at most `limit` of n points, evenly strided, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))


def choose_format(accept: str | None) -> ImageFormat:
    """The image format for an ``Accept`` header: SVG when preferred over PNG, else PNG.

    Each media range's quality is honoured; the most specific range that matches decides
    a type's quality (``image/svg+xml`` over ``image/*`` over ``*/*``). Ties go to PNG.
    """
    if not accept:
        return "png"
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality))

    def quality_of(media_type: str) -> float:
        kind = media_type.split("/")[0]
        best_specificity, best_quality = -1, 0.0
        for media, quality in ranges:
            if media == media_type:
                specificity = 2
            elif media == f"{kind}/*":
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            if specificity > best_specificity:
                best_specificity, best_quality = specificity, quality
        return best_quality

    return "svg" if quality_of(MEDIA_TYPES["svg"]) > quality_of(MEDIA_TYPES["png"]) else "png"


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


def _draw_data(
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


def _draw_cost(ax: Any, result: FitResult, mpl: _Matplotlib) -> None:
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


def _draw_path(ax: Any, result: FitResult, moments: Moments, mpl: _Matplotlib) -> None:
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


def _format(value: float) -> str:
    return f"{value:.6g}"


def render_fit(
    result: FitResult,
    moments: Moments,
    x: NDArray[np.float64] | None = None,
    y: NDArray[np.float64] | None = None,
    *,
    weights: NDArray[np.float64] | None = None,
    image_format: ImageFormat = "png",
) -> bytes:
    """Draw the data and fitted line, the cost over the epochs and the (m, b) path.

    Parameters
    ----------
    result : FitResult
        The fit to draw; its `history` (if any) gives the cost curve and the path.
    moments : Moments
        The data's moments, for the cost's contour lines.
    x, y : ndarray of shape (n,), optional
        The points; omit them for data sent as moments. Only a sample of at most
        `MAX_DRAWN_POINTS` is drawn.
    weights : ndarray of shape (n,), optional
        The points' weights: each dot's area and opacity grow with its weight.
    image_format : "png" or "svg"

    Returns
    -------
    bytes
        A PNG of `FIGURE_PIXELS` pixels, or an SVG document.

    Raises
    ------
    PlottingUnavailableError
        When matplotlib is not installed.
    """
    mpl = _matplotlib()
    fig = mpl.Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI, facecolor="white")
    fig.subplots_adjust(left=0.055, right=0.985, bottom=0.13, top=0.83, wspace=0.3)
    data_ax, cost_ax, path_ax = fig.subplots(1, 3)
    for ax in (data_ax, cost_ax, path_ax):
        # few, small tick labels and no legend boxes: text is most of the drawing time
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(mpl.MaxNLocator(nbins=4))
        ax.yaxis.set_major_locator(mpl.MaxNLocator(nbins=4))
    _draw_data(data_ax, result, moments, x, y, weights)
    _draw_cost(cost_ax, result, mpl)
    _draw_path(path_ax, result, moments, mpl)
    r2 = result.statistics.r2 if result.statistics is not None else None
    fig.suptitle(
        f"m = {_format(result.m)}   b = {_format(result.b)}   cost = {_format(result.cost)}   "
        + ("" if r2 is None else f"R\u00b2 = {r2:.4f}   ")
        + f"after {result.epochs_run:,} epochs (stop: {result.stop_reason})",
        fontsize=12,
    )
    buffer = io.BytesIO()
    if image_format == "png":
        # zlib level 1: a slightly larger file for a much cheaper encode
        fig.savefig(
            buffer, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1}
        )
    else:
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
