"""What a fit's figure is made of: its size, formats and colours, which history it draws,
which points it samples, and matplotlib, found on first use (`PlottingUnavailableError`
without it). `service.plotting.panels` draws with these; `render_fit` lays the panels out."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from service.core import FitOptions

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
    "sample_indices",
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
