"""The numerical core: moments of the data and the gradient descent on them.

NumPy arrays and floats in, a frozen result object or a `FitError` out; nothing here
knows about HTTP, Pydantic or settings.
"""

from service.core.descent import fit, fit_batch, fit_moments
from service.core.errors import DataError, DivergedError, FitError, ParameterError
from service.core.moments import Moments, compute_moments, segment_moments
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum

__all__ = [
    "DataError",
    "DivergedError",
    "FitError",
    "FitOptions",
    "FitResult",
    "History",
    "Moments",
    "Optimum",
    "ParameterError",
    "compute_moments",
    "fit",
    "fit_batch",
    "fit_moments",
    "segment_moments",
]
