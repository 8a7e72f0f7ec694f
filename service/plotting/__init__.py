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

import io

import numpy as np
from numpy.typing import NDArray

from service.core import FitResult, Moments
from service.plotting import figure, panels
from service.plotting.figure import (
    FIGURE_PIXELS,
    INSTALL_HINT,
    MAX_DRAWN_POINTS,
    MEDIA_TYPES,
    PLOT_HISTORY_POINTS,
    ImageFormat,
    PlottingUnavailableError,
    _matplotlib,
    choose_format,
    ensure_available,
    plot_options,
    sample_indices,
)

__all__ = [
    "FIGURE_PIXELS",
    "INSTALL_HINT",
    "MAX_DRAWN_POINTS",
    "MEDIA_TYPES",
    "PLOT_HISTORY_POINTS",
    "ImageFormat",
    "PlottingUnavailableError",
    "choose_format",
    "ensure_available",
    "plot_options",
    "render_fit",
    "sample_indices",
]


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
    fig = mpl.Figure(figsize=figure.FIGURE_INCHES, dpi=figure.FIGURE_DPI, facecolor="white")
    fig.subplots_adjust(left=0.055, right=0.985, bottom=0.13, top=0.83, wspace=0.3)
    data_ax, cost_ax, path_ax = fig.subplots(1, 3)
    for ax in (data_ax, cost_ax, path_ax):
        # few, small tick labels and no legend boxes: text is most of the drawing time
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(mpl.MaxNLocator(nbins=4))
        ax.yaxis.set_major_locator(mpl.MaxNLocator(nbins=4))
    panels.draw_data(data_ax, result, moments, x, y, weights)
    panels.draw_cost(cost_ax, result, mpl)
    panels.draw_path(path_ax, result, moments, mpl)
    r2 = result.statistics.r2 if result.statistics is not None else None
    number = panels.format_number
    fig.suptitle(
        f"m = {number(result.m)}   b = {number(result.b)}   cost = {number(result.cost)}   "
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
