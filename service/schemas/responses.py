"""The answers of the service: fits, batch results, health, readiness and info."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service import core
from service.schemas.limits import Limits

__all__ = [
    "BatchFitResponse",
    "BatchItemError",
    "FitErrorBody",
    "FitResponse",
    "Health",
    "History",
    "Info",
    "Optimum",
    "Readiness",
]


class Optimum(BaseModel):
    """The exact minimizer of the descended objective (closed form) and its MSE."""

    m: float = Field(description="Slope of the minimizer, in original units.", examples=[0.93])
    b: float = Field(description="Intercept of the minimizer, in original units.", examples=[0.02])
    cost: float = Field(description="MSE of the minimizer on the data.", examples=[0.11])

    @classmethod
    def from_core(cls, optimum: core.Optimum) -> Optimum:
        return cls(m=optimum.m, b=optimum.b, cost=optimum.cost)


class History(BaseModel):
    """The descent at the recorded epochs, in original units."""

    epoch: list[int] = Field(
        description="Recorded epochs, strictly increasing from 0 to `epochs_run`.",
        examples=[[0, 2500, 5000, 7500, 10000]],
    )
    cost: list[float] = Field(
        description="MSE on the data at each recorded epoch (no penalty term).",
        examples=[[0.72, 0.12, 0.11, 0.11, 0.11]],
    )
    m: list[float] = Field(
        description="Slope at each recorded epoch.", examples=[[0.0, 0.91, 0.93, 0.93, 0.93]]
    )
    b: list[float] = Field(
        description="Intercept at each recorded epoch.", examples=[[0.0, 0.02, 0.02, 0.02, 0.02]]
    )

    @classmethod
    def from_core(cls, history: core.History) -> History:
        return cls(
            epoch=history.epoch.tolist(),
            cost=history.cost.tolist(),
            m=history.m.tolist(),
            b=history.b.tolist(),
        )


class FitResponse(BaseModel):
    """The fitted line, how the run ended, and its optional history."""

    m: float = Field(description="Fitted slope.", examples=[0.93])
    b: float = Field(description="Fitted intercept.", examples=[0.02])
    cost: float = Field(
        description="MSE of (m, b) on the request's data, whatever the options (no penalty).",
        examples=[0.11],
    )
    epochs_run: int = Field(
        description="Epochs taken: `epochs`, or the k at which `tolerance` stopped the run.",
        examples=[10000],
    )
    stop_reason: Literal["epochs", "tolerance"] = Field(
        description="Why the run ended.", examples=["epochs"]
    )
    gradient_norm: float = Field(
        description=(
            "Norm of the descended objective's gradient at (m, b), in the space where the "
            "descent runs (what `tolerance` compares)."
        ),
        examples=[1.2e-9],
    )
    n: int = Field(description="Number of points.", examples=[100])
    optimum: Optimum = Field(
        description="The closed-form minimizer, so the gap is visible.",
        examples=[{"m": 0.93, "b": 0.02, "cost": 0.11}],
    )
    max_stable_learning_rate: float = Field(
        description=(
            "Smallest learning rate at which the chosen rule stops converging on this data "
            "(in z-space with `standardize`)."
        ),
        examples=[1.55],
    )
    warnings: list[str] = Field(
        description="Plain-English warnings; empty when none.", examples=[[]]
    )
    history: History | None = Field(
        description="The recorded descent; null unless `history_points` > 0.", examples=[None]
    )

    @classmethod
    def from_core(cls, result: core.FitResult) -> FitResponse:
        """The wire form of the core's result."""
        return cls(
            m=result.m,
            b=result.b,
            cost=result.cost,
            epochs_run=result.epochs_run,
            stop_reason=result.stop_reason,
            gradient_norm=result.gradient_norm,
            n=result.n,
            optimum=Optimum.from_core(result.optimum),
            max_stable_learning_rate=result.max_stable_learning_rate,
            warnings=list(result.warnings),
            history=None if result.history is None else History.from_core(result.history),
        )


class FitErrorBody(BaseModel):
    """Why one fit of a batch has no result."""

    type: str = Field(description="What went wrong.", examples=["diverged"])
    msg: str = Field(
        description="A message a person understands.",
        examples=["the descent diverged at epoch 12: ..."],
    )
    ctx: dict[str, Any] = Field(
        description="Details, e.g. `epoch` and `max_stable_learning_rate`.",
        examples=[{"epoch": 12, "max_stable_learning_rate": 0.9}],
    )


class BatchItemError(BaseModel):
    """A batch item that diverged, in place of its result."""

    error: FitErrorBody = Field(
        description="Why this fit has no result.",
        examples=[
            {
                "type": "diverged",
                "msg": "the descent diverged at epoch 12: ...",
                "ctx": {"epoch": 12, "max_stable_learning_rate": 0.9},
            }
        ],
    )


class BatchFitResponse(BaseModel):
    """One entry per requested fit, in order."""

    results: list[FitResponse | BatchItemError] = Field(
        description='Each fit\'s response, or `{"error": ...}` for a fit that diverged.',
        examples=[
            [
                {"m": 2.0, "b": 1.0, "cost": 0.0, "epochs_run": 10000, "...": "..."},
                {"error": {"type": "diverged", "msg": "...", "ctx": {"epoch": 12}}},
            ]
        ],
    )


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = Field(
        description="Always `ok` while the process lives.", examples=["ok"]
    )


class Readiness(BaseModel):
    """Readiness to take traffic."""

    status: Literal["ready", "not ready"] = Field(
        description="`ready` once started; `not ready` (with 503) before that and while stopping.",
        examples=["ready"],
    )


class Info(Limits):
    """What this server is and the limits it enforces: each limit at the top level, as
    SPEC's /info lists them, and all of them together again under `limits`."""

    name: str = Field(description="Service name.", examples=["gd-fit-service"])
    version: str = Field(description="Service version.", examples=["0.1.0"])
    limits: Limits = Field(
        description="The limits in force.",
        examples=[
            {
                "max_points": 1_000_000,
                "max_epochs": 10_000_000,
                "max_history_points": 10_000,
                "max_batch": 1000,
                "max_body_bytes": 67108864,
            }
        ],
    )
