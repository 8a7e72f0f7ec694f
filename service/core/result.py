"""What a fit returns: the fitted line, how the run ended, and its optional history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from service.core.frozen import quick_init

if TYPE_CHECKING:
    from service.core.statistics import FitStatistics

__all__ = ["FitResult", "History", "Optimum", "StopReason"]

StopReason = Literal["epochs", "tolerance"]


@quick_init
@dataclass(frozen=True, slots=True)
class Optimum:
    """The exact minimizer of the descended objective, in original units, and its MSE."""

    m: float
    b: float
    cost: float


@quick_init
@dataclass(frozen=True, slots=True)
class History:
    """The descent at the recorded epochs (strictly increasing, from 0 to `epochs_run`).

    `cost` is the plain MSE on the data, in original units, like `m` and `b`.
    """

    epoch: NDArray[np.int64]
    m: NDArray[np.float64]
    b: NDArray[np.float64]
    cost: NDArray[np.float64]


@quick_init
@dataclass(frozen=True, slots=True)
class FitResult:
    """The outcome of one descent (see the request/response contract for each field).

    `statistics` is None as the descent returns it; `service.core.fit_statistics` computes
    them (O(1) from the moments, plus one pass over the points for the mean absolute
    residual) and the caller attaches them with ``dataclasses.replace``.
    """

    m: float
    b: float
    cost: float
    epochs_run: int
    stop_reason: StopReason
    gradient_norm: float
    n: int
    optimum: Optimum
    max_stable_learning_rate: float
    warnings: tuple[str, ...]
    history: History | None
    statistics: FitStatistics | None = None
