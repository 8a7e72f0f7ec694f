"""The answers of the service: fits, batch results, health, readiness and info."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service import __version__, core
from service.schemas.limits import Limits

__all__ = [
    "FitResponse",
    "Health",
    "History",
    "Info",
    "OlsStatistics",
    "Optimum",
    "Readiness",
    "Statistics",
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


OLS_EXAMPLE: dict[str, Any] = {
    "m": 0.988,
    "b": 0.0098,
    "r": 0.89,
    "r2": 0.792,
    "adjusted_r2": 0.790,
    "df": 98,
    "residual_std_error": 0.299,
    "stderr_m": 0.0512,
    "stderr_b": 0.0299,
    "t_m": 19.3,
    "t_b": 0.33,
    "p_m": 3.6e-35,
    "p_b": 0.745,
    "ci_m": [0.887, 1.090],
    "ci_b": [-0.050, 0.069],
    "f_statistic": 372.7,
    "f_p_value": 3.6e-35,
    "confidence_level": 0.95,
}
"""`statistics.ols` of the article's fit (the documented example), rounded."""


class OlsStatistics(BaseModel):
    """Classical inference for the unpenalized least-squares line (whatever `l2` is): what
    statsmodels `OLS` (`WLS` with `weights`) and `scipy.stats.linregress` report, from the
    moments in O(1). A field that is undefined is null: with `df` = 0 (two points)
    everything that needs residual degrees of freedom; with constant y `r`, `r2`,
    `adjusted_r2`, `f_statistic` and `f_p_value`; t and p where their standard error is 0
    (a perfect line, whose F is then null too)."""

    m: float = Field(description="Least-squares slope, y-units per x-unit.", examples=[0.988])
    b: float = Field(description="Least-squares intercept, in y-units.", examples=[0.0098])
    r: float | None = Field(
        description="Pearson correlation of x and y (weighted with `weights`).", examples=[0.89]
    )
    r2: float | None = Field(
        description="R^2 = 1 - SSR / Syy of the least-squares line.", examples=[0.792]
    )
    adjusted_r2: float | None = Field(description="1 - (1 - R^2) (n - 1) / df.", examples=[0.790])
    df: int = Field(description="Residual degrees of freedom, n - 2.", examples=[98])
    residual_std_error: float | None = Field(
        description=(
            "sqrt(SSR / df), in y-units (statsmodels' sqrt(scale); with `weights` it scales "
            "with the square root of the weights' scale, SSR = sum w_i r_i^2)."
        ),
        examples=[0.299],
    )
    stderr_m: float | None = Field(
        description="Standard error of m: residual_std_error / sqrt(Sxx).", examples=[0.0512]
    )
    stderr_b: float | None = Field(
        description="Standard error of b: residual_std_error sqrt(1/sum_w + mean_x^2 / Sxx).",
        examples=[0.0299],
    )
    t_m: float | None = Field(description="t statistic of m: m / stderr_m.", examples=[19.3])
    t_b: float | None = Field(description="t statistic of b: b / stderr_b.", examples=[0.33])
    p_m: float | None = Field(
        description="Two-sided p-value of m = 0 (Student's t, df degrees of freedom).",
        examples=[3.6e-35],
    )
    p_b: float | None = Field(description="Two-sided p-value of b = 0.", examples=[0.745])
    ci_m: tuple[float, float] | None = Field(
        description="[low, high]: m -+ t_df((1 + confidence_level) / 2) stderr_m.",
        examples=[[0.887, 1.090]],
    )
    ci_b: tuple[float, float] | None = Field(
        description="[low, high]: b -+ t_df((1 + confidence_level) / 2) stderr_b.",
        examples=[[-0.050, 0.069]],
    )
    f_statistic: float | None = Field(
        description="F = R^2 / (1 - R^2) df on (1, df) degrees of freedom (= t_m^2).",
        examples=[372.7],
    )
    f_p_value: float | None = Field(
        description="P(F(1, df) > f_statistic) (= p_m).", examples=[3.6e-35]
    )
    confidence_level: float = Field(
        description="The level of `ci_m` and `ci_b` (the request's `confidence_level`).",
        examples=[0.95],
    )

    @classmethod
    def from_core(cls, ols: core.OlsInference) -> OlsStatistics:
        return cls(
            m=ols.m,
            b=ols.b,
            r=ols.r,
            r2=ols.r2,
            adjusted_r2=ols.adjusted_r2,
            df=ols.df,
            residual_std_error=ols.residual_std_error,
            stderr_m=ols.stderr_m,
            stderr_b=ols.stderr_b,
            t_m=ols.t_m,
            t_b=ols.t_b,
            p_m=ols.p_m,
            p_b=ols.p_b,
            ci_m=ols.ci_m,
            ci_b=ols.ci_b,
            f_statistic=ols.f_statistic,
            f_p_value=ols.f_p_value,
            confidence_level=ols.confidence_level,
        )


class Statistics(BaseModel):
    """How good the returned line is, and the least-squares inference (`ols`)."""

    r2: float | None = Field(
        description=(
            "1 - cost / variance of y, of the RETURNED line (m, b) (weighted with `weights`); "
            "negative when it is worse than the mean; null when y is constant."
        ),
        examples=[0.792],
    )
    rmse: float = Field(description="sqrt(cost), in y-units.", examples=[0.296])
    mae: float | None = Field(
        description=(
            "Mean absolute residual of the returned line, in y-units (weighted with "
            "`weights`); null for `moments` input."
        ),
        examples=[0.245],
    )
    ols: OlsStatistics = Field(
        description="Inference for the unpenalized least-squares line (whatever `l2` is).",
        examples=[OLS_EXAMPLE],
    )

    @classmethod
    def from_core(cls, statistics: core.FitStatistics) -> Statistics:
        return cls(
            r2=statistics.r2,
            rmse=statistics.rmse,
            mae=statistics.mae,
            ols=OlsStatistics.from_core(statistics.ols),
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
    n: int = Field(
        description="Number of points (with `weights`: of the points of weight > 0).",
        examples=[100],
    )
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
    statistics: Statistics = Field(
        description=(
            "Fit statistics: `r2`, `rmse`, `mae` of the returned line, and `ols`, the "
            "least-squares inference (statsmodels OLS/WLS, scipy.stats.linregress)."
        ),
        examples=[{"r2": 0.792, "rmse": 0.296, "mae": 0.245, "ols": OLS_EXAMPLE}],
    )

    @classmethod
    def from_core(cls, result: core.FitResult) -> FitResponse:
        """The wire form of the core's result (with its statistics, which the operations add:
        `service.core.fit_statistics`)."""
        if result.statistics is None:
            raise ValueError("a fit's answer needs its statistics (core.fit_statistics)")
        if result.history is None:
            # pydantic-core reads the core's dataclasses itself: a third of the cost of
            # building the nested models in Python, the same validation (called directly:
            # `model_validate` adds a tenth, which a batch pays per item).
            response: FitResponse = cls.__pydantic_validator__.validate_python(
                result, from_attributes=True
            )
            return response
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
            statistics=Statistics.from_core(result.statistics),
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
    clients read them, and all of them together again under `limits`."""

    name: str = Field(description="Service name.", examples=["gd-fit-service"])
    version: str = Field(description="Service version.", examples=[__version__])
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
