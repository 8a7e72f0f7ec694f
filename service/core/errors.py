"""Domain errors of the numerical core. They know no HTTP; `service.errors` maps them.

Hierarchy::

    FitError                  base class: catch this to handle every refusal of the core
    ├── DataError             the data cannot be fitted (bad shape, constant x, overflow, ...)
    ├── ParameterError        a hyperparameter is outside what the contract allows
    └── DivergedError         an iterate or the cost became non-finite during the descent

Every error names the request `field` it concerns (``"x"``, ``"learning_rate"``...),
a short machine-readable `kind`, and a message a person understands.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DataError", "DivergedError", "FitError", "ParameterError"]


class FitError(Exception):
    """Base class of every error the core raises on purpose."""

    kind: str = "fit_error"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def context(self) -> dict[str, Any]:
        """Structured details for the error's `ctx` (empty by default)."""
        return {}


class DataError(FitError):
    """Raised when the data cannot be fitted: lengths differ, x is constant, values overflow."""

    kind = "data_error"


class ParameterError(FitError):
    """Raised when a hyperparameter is outside its allowed range (the API checks these first)."""

    kind = "parameter_error"


class DivergedError(FitError):
    """Raised when an iterate or the cost becomes non-finite at some epoch.

    Carries the first such `epoch` and the `max_stable_learning_rate` of the chosen rule,
    so the caller can retry with a learning rate that converges.
    """

    kind = "diverged"

    def __init__(
        self, *, epoch: int, learning_rate: float, max_stable_learning_rate: float
    ) -> None:
        super().__init__(
            f"the descent diverged at epoch {epoch}: learning_rate {learning_rate:g} is too "
            f"large for this data; the largest stable learning rate is "
            f"{max_stable_learning_rate:.6g}",
            field="learning_rate",
        )
        self.epoch = epoch
        self.learning_rate = learning_rate
        self.max_stable_learning_rate = max_stable_learning_rate

    @property
    def context(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "max_stable_learning_rate": self.max_stable_learning_rate}
