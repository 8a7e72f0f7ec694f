"""The wire models of the service: the only place request and response shapes are defined.

- `service.schemas.requests`: what clients send to fit one data set (`FitRequest`,
  `Moments`), with every rule that Pydantic checks while it parses them;
- `service.schemas.responses`: what the service answers (`FitResponse` and its parts,
  health, readiness, info);
- `service.schemas.batch`: ``POST /fit/batch``'s request and answer;
- `service.schemas.limits`: the limits in force (`Limits`, also the heart of ``GET /info``),
  which validation reads from its context.
"""

from service.schemas.batch import BatchFitRequest, BatchFitResponse, BatchItemError, FitErrorBody
from service.schemas.limits import DEFAULT_LIMITS, Limits, limits_of
from service.schemas.requests import FitRequest, Moments
from service.schemas.responses import (
    FitResponse,
    Health,
    History,
    Info,
    OlsStatistics,
    Optimum,
    Readiness,
    Statistics,
)

__all__ = [
    "DEFAULT_LIMITS",
    "BatchFitRequest",
    "BatchFitResponse",
    "BatchItemError",
    "FitErrorBody",
    "FitRequest",
    "FitResponse",
    "Health",
    "History",
    "Info",
    "Limits",
    "Moments",
    "OlsStatistics",
    "Optimum",
    "Readiness",
    "Statistics",
    "limits_of",
]
