"""Hyperparameters of a fit, checked once where they enter the core."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from service.core.errors import ParameterError
from service.core.frozen import quick_init

__all__ = ["FitOptions", "Optimizer", "Spacing", "Update"]

Update = Literal["simultaneous", "sequential"]
Optimizer = Literal["gd", "momentum", "nesterov"]
Spacing = Literal["linear", "log"]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    """How to descend; every field mirrors the field of the same name in the request.

    Parameters
    ----------
    learning_rate : float
        Step size, > 0.
    epochs : int
        Number of updates, >= 1.
    initial_m, initial_b : float
        Starting point, in original units.
    update : {"simultaneous", "sequential"}
        Both gradients at (m_k, b_k), or the article's order: m first, then b's gradient at
        the new m (gd only).
    optimizer : {"gd", "momentum", "nesterov"}
        Plain gradient descent, heavy-ball momentum, or Nesterov's accelerated gradient.
    momentum : float
        0 <= momentum < 1, for the momentum optimizers.
    l2 : float
        >= 0; the descended objective is MSE + l2 * m^2.
    standardize : bool
        Descend on z-scored x and y, report in original units.
    tolerance : float or None
        Stop at the first epoch whose gradient norm is <= tolerance.
    history_points : int
        0 (no history) or >= 2 recorded epochs.
    history_spacing : {"linear", "log"}
        Where the recorded epochs fall.
    """

    learning_rate: float = 0.001
    epochs: int = 10_000
    initial_m: float = 0.0
    initial_b: float = 0.0
    update: Update = "simultaneous"
    optimizer: Optimizer = "gd"
    momentum: float = 0.9
    l2: float = 0.0
    standardize: bool = False
    tolerance: float | None = None
    history_points: int = 0
    history_spacing: Spacing = "linear"

    def validate(self) -> None:
        """Raise `ParameterError` naming the first hyperparameter outside its range."""
        lr = self.learning_rate
        if not (math.isfinite(lr) and lr > 0):
            raise ParameterError(
                f"learning_rate must be a finite number > 0 (got {lr!r})", field="learning_rate"
            )
        if self.epochs < 1:
            raise ParameterError(f"epochs must be at least 1 (got {self.epochs})", field="epochs")
        for name in ("initial_m", "initial_b"):
            if not math.isfinite(getattr(self, name)):
                raise ParameterError(f"{name} must be a finite number", field=name)
        if self.update not in ("simultaneous", "sequential"):
            raise ParameterError(f"unknown update rule {self.update!r}", field="update")
        if self.optimizer not in ("gd", "momentum", "nesterov"):
            raise ParameterError(f"unknown optimizer {self.optimizer!r}", field="optimizer")
        if self.update == "sequential" and self.optimizer != "gd":
            raise ParameterError(
                f"update 'sequential' works only with optimizer 'gd' (got {self.optimizer!r})",
                field="update",
            )
        if not (0 <= self.momentum < 1):
            raise ParameterError(
                f"momentum must satisfy 0 <= momentum < 1 (got {self.momentum!r})", field="momentum"
            )
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ParameterError(f"l2 must be a finite number >= 0 (got {self.l2!r})", field="l2")
        tol = self.tolerance
        if tol is not None and not (math.isfinite(tol) and tol >= 0):
            raise ParameterError(
                f"tolerance must be a finite number >= 0 (got {tol!r})", field="tolerance"
            )
        if self.history_points < 0 or self.history_points == 1:
            raise ParameterError(
                f"history_points must be 0 or at least 2 (got {self.history_points})",
                field="history_points",
            )
        if self.history_spacing not in ("linear", "log"):
            raise ParameterError(
                f"unknown history_spacing {self.history_spacing!r}", field="history_spacing"
            )
