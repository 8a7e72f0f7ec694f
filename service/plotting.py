"""Pictures of a fit, and the browser playground that shows them.

`render_fit` draws one figure of three panels, side by side, 1200 x 400 pixels:

1. **Data and fitted line** (like the article's figure): the points as red dots and the
   fitted line y = m*x + b in blue across the range of x. Inputs of more than
   `MAX_DRAWN_POINTS` points are drawn from an evenly strided, deterministic sample (the fit
   itself always uses every point). Data sent as moments has no points to draw: the
   line is drawn over mean_x +- 2 standard deviations of x.
2. **Cost over the epochs**, log scale: the MSE of each recorded (m, b), the gap to the
   optimum's cost (cost - optimum cost, where positive) and the optimum's cost as a
   dashed horizontal line.
3. **Path of (m, b)**: the recorded iterates from the start (circle) to the end (square),
   with the exact optimum (star), over contour lines of the MSE. The levels are spaced
   geometrically in the excess cost over the least-squares minimum, since it spans many
   orders of magnitude between the start and the optimum.

The surface comes from the data's moments: with vx = sxx / n and m_ls = sxy / sxx,

    cost(m, b) = min_cost + vx * (m - m_ls)^2 + (b + m * mean_x - mean_y)^2,

so a contour grid costs O(grid), never O(n * grid).

Drawing uses matplotlib's object-oriented API on a fresh `Figure` with the Agg canvas (no
pyplot, no global state, no display), so concurrent requests in the threadpool are safe.
matplotlib is an optional extra (``pip install 'gd-fit-service[plot]'``); without it
`POST /fit/plot` answers 501 saying so.

The module also serves the playground page (``GET /``, static files in ``service/static``).
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from service.core import FitOptions, FitResult, Moments

__all__ = [
    "FIGURE_PIXELS",
    "MAX_DRAWN_POINTS",
    "PLOT_HISTORY_POINTS",
    "PlottingUnavailableError",
    "choose_format",
    "plot_options",
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

CONTOUR_GRID = 120
# Points per side of the grid on which the cost's contour lines are computed.

CONTOUR_LEVELS = 14

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The playground's HTML, CSS and JavaScript, packaged with the service.

INSTALL_HINT = "plotting needs matplotlib, an optional extra: pip install 'gd-fit-service[plot]'"


class PlottingUnavailableError(RuntimeError):
    """Raised when matplotlib cannot be imported; the route answers 501 with the message."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)
        self.message = INSTALL_HINT


def _matplotlib() -> tuple[Any, Any, Any, Any]:
    """Import and return (Figure, LogNorm, FuncFormatter, NullLocator), or raise
    `PlottingUnavailableError`."""
    try:
        figure = importlib.import_module("matplotlib.figure")
        colors = importlib.import_module("matplotlib.colors")
        ticker = importlib.import_module("matplotlib.ticker")
    except ImportError as exc:
        raise PlottingUnavailableError() from exc
    return figure.Figure, colors.LogNorm, ticker.FuncFormatter, ticker.NullLocator


def ensure_available() -> None:
    """Raise `PlottingUnavailableError` unless matplotlib can be imported."""
    _matplotlib()


def plot_options(options: FitOptions) -> FitOptions:
    """The request's options with the history the figure needs: 200 log-spaced entries."""
    return dataclasses.replace(
        options, history_points=PLOT_HISTORY_POINTS, history_spacing="log"
    )


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
    vx = moments.sxx / moments.n
    slope = moments.sxy / moments.sxx
    result: NDArray[np.float64] = vx * (m - slope) ** 2 + (b + m * moments.mean_x - moments.mean_y) ** 2
    return result


def _span(values: NDArray[np.float64], pad: float = 0.12) -> tuple[float, float]:
    """A padded [low, high] around the values, widened when they (nearly) coincide."""
    low, high = float(np.min(values)), float(np.max(values))
    width = high - low
    floor = 1e-3 * max(abs(low), abs(high), 1.0)
    if width < floor:
        centre = 0.5 * (low + high)
        return centre - floor, centre + floor
    return low - pad * width, high + pad * width


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
    figure_class, log_norm, func_formatter, null_locator = _matplotlib()
    fig = figure_class(figsize=FIGURE_INCHES, dpi=FIGURE_DPI, facecolor="white")
    fig.subplots_adjust(left=0.055, right=0.985, bottom=0.13, top=0.83, wspace=0.3)
    data_ax, cost_ax, path_ax = fig.subplots(1, 3)
    optimum = result.optimum

    # 1. data and fitted line
    if x is not None and y is not None and x.size:
        keep = sample_indices(x.size)
        xs, ys = x[keep], y[keep]
        data_ax.plot(xs, ys, "o", color="#d62728", markersize=3.5, alpha=0.75, label="data")
        line_x = np.array([float(np.min(x)), float(np.max(x))])
        drawn = f"{xs.size:,} of {x.size:,} points" if xs.size < x.size else f"{x.size:,} points"
    else:
        sd = math.sqrt(moments.sxx / moments.n)
        line_x = np.array([moments.mean_x - 2 * sd, moments.mean_x + 2 * sd])
        data_ax.plot([moments.mean_x], [moments.mean_y], "+", color="#d62728", label="means")
        drawn = f"moments of {moments.n:,} points"
    data_ax.plot(line_x, result.m * line_x + result.b, "-", color="#1f77b4", linewidth=2,
                 label=f"y = {result.m:.4g} x {'+' if result.b >= 0 else '-'} {abs(result.b):.4g}")
    data_ax.set_title(f"data and fitted line ({drawn})", fontsize=10, y=1.0)
    data_ax.set_xlabel("x")
    data_ax.set_ylabel("y")
    data_ax.legend(loc="best", fontsize=8, frameon=False)

    # 2. cost over the epochs
    history = result.history
    cost_ax.set_yscale("log")
    cost_ax.yaxis.set_major_formatter(func_formatter(_log_tick))
    cost_ax.yaxis.set_minor_locator(null_locator())
    cost_ax.set_title("cost (MSE) over the epochs", fontsize=10, y=1.0)
    cost_ax.set_xlabel("epoch")
    cost_ax.set_ylabel("cost, log scale")
    if history is not None and history.epoch.size:
        epochs = np.asarray(history.epoch, dtype=np.float64)
        costs = np.asarray(history.cost, dtype=np.float64)
        cost_ax.plot(epochs, np.where(costs > 0, costs, np.nan), color="#1f77b4", label="cost")
        gap = costs - optimum.cost
        if np.any(gap > 0):
            cost_ax.plot(epochs, np.where(gap > 0, gap, np.nan), color="#ff7f0e",
                         label="cost - optimum cost")
    if optimum.cost > 0:
        cost_ax.axhline(optimum.cost, color="0.4", linestyle="--", linewidth=1,
                        label=f"optimum cost {optimum.cost:.4g}")
    cost_ax.legend(loc="upper right", fontsize=8, frameon=False)

    # 3. path of (m, b) over the contours of the cost
    if history is not None and history.epoch.size:
        path_m = np.asarray(history.m, dtype=np.float64)
        path_b = np.asarray(history.b, dtype=np.float64)
    else:
        path_m = np.array([result.m])
        path_b = np.array([result.b])
    m_low, m_high = _span(np.append(path_m, optimum.m))
    b_low, b_high = _span(np.append(path_b, optimum.b))
    grid_m, grid_b = np.meshgrid(
        np.linspace(m_low, m_high, CONTOUR_GRID), np.linspace(b_low, b_high, CONTOUR_GRID)
    )
    excess = _excess_cost(moments, grid_m, grid_b)
    top = float(np.max(excess))
    positive = excess[excess > 0]
    if top > 0 and positive.size and math.isfinite(top):
        bottom = max(float(np.min(positive)), top * 1e-8)
        if bottom < top:
            levels = np.geomspace(bottom, top, CONTOUR_LEVELS)
            path_ax.contour(grid_m, grid_b, excess, levels=levels, cmap="viridis",
                            norm=log_norm(vmin=bottom, vmax=top), linewidths=0.8)
    path_ax.plot(path_m, path_b, "-", color="#d62728", linewidth=1.5, label="descent")
    path_ax.plot(path_m[:1], path_b[:1], "o", color="#d62728", markersize=6, label="start")
    path_ax.plot(path_m[-1:], path_b[-1:], "s", color="#d62728", markersize=6, label="end")
    path_ax.plot([optimum.m], [optimum.b], "*", color="black", markersize=11, label="optimum")
    path_ax.set_xlim(m_low, m_high)
    path_ax.set_ylim(b_low, b_high)
    path_ax.set_title("path of (m, b) over the cost's contours", fontsize=10, y=1.0)
    path_ax.set_xlabel("slope m")
    path_ax.set_ylabel("intercept b")
    path_ax.legend(loc="best", fontsize=8, frameon=False)

    fig.suptitle(
        f"m = {_format(result.m)}   b = {_format(result.b)}   cost = {_format(result.cost)}   "
        f"after {result.epochs_run:,} epochs (stop: {result.stop_reason})",
        fontsize=12,
    )
    buffer = io.BytesIO()
    metadata = {"Software": None} if image_format == "png" else {"Date": None}
    fig.savefig(buffer, format=image_format, dpi=FIGURE_DPI, metadata=metadata)
    return buffer.getvalue()

