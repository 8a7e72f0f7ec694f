"""The numerical core: moments of the data and the gradient descent on them.

NumPy arrays and floats in, a frozen result object or a `FitError` out; nothing here
knows about HTTP, Pydantic or settings.
"""

from service.core.descent import fit, fit_batch, fit_moments, fit_points, warm_up
from service.core.errors import DataError, DivergedError, FitError, ParameterError
from service.core.moments import Moments, compute_moments, segment_moments
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum
from service.core.statistics import (
    FitStatistics,
    OlsInference,
    Points,
    confidence_band,
    fit_statistics,
    mean_absolute_residual,
    ols_inference,
    with_statistics,
)

__all__ = [
    "DataError",
    "DivergedError",
    "FitError",
    "FitOptions",
    "FitResult",
    "FitStatistics",
    "History",
    "Moments",
    "OlsInference",
    "Optimum",
    "ParameterError",
    "Points",
    "compute_moments",
    "confidence_band",
    "fit",
    "fit_batch",
    "fit_moments",
    "fit_points",
    "fit_statistics",
    "mean_absolute_residual",
    "ols_inference",
    "segment_moments",
    "warm_up",
    "with_statistics",
]
