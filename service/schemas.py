"""The wire models of the service: the only place request and response shapes are defined.

Pydantic validates everything it can declaratively: strict JSON numbers (no strings, no
booleans, no NaN or Infinity), bounds, enumerations and `extra="forbid"`. The rules that tie
fields together are field validators that read the fields declared before them, so that every
bad field is reported in one answer, each at its own location:

- `y`: same length as `x`;
- `x`: at least two distinct values;
- `update`: `"sequential"` only with `optimizer` `"gd"`;
- `standardize`: y (or `moments.syy`) must vary;
- `history_points`: 0 or at least 2;
- data: exactly one of `x`/`y` and `moments` (a wrap validator, since it is about absence).

The limits that depend on the server's settings (`max_points`, `max_epochs`,
`max_history_points`, `max_batch`) are checked during validation too, against the `Limits` in
the validation context: ``FitRequest.model_validate(data, context={"limits": limits})``.
Without that context the default limits apply (`DEFAULT_LIMITS`), never none. The machinery
behind these rules is in `service.validation`; bodies are parsed in `service.bodies`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from service import core
from service.examples import ARTICLE_EXAMPLE
from service.settings import Settings
from service.validation import (
    BATCH_WORK_FACTOR,
    DEFAULT_EPOCHS,
    alias_errors,
    at_most,
    batch_work,
    constant,
    count_error,
    source_errors,
    validate_with,
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
    "Optimum",
    "Readiness",
    "limits_of",
]

FloatArray = NDArray[np.float64]


class Moments(BaseModel):
    """The data's sufficient statistics, instead of the raw `x` and `y`."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {"n": 100, "mean_x": 0.0, "mean_y": 0.0, "sxx": 36.0, "sxy": 33.5, "syy": 37.2}
            ]
        },
    )

    n: int = Field(ge=2, description="Number of points, at least 2.", examples=[100])
    mean_x: float = Field(description="Mean of x.", examples=[0.0])
    mean_y: float = Field(description="Mean of y.", examples=[0.0])
    sxx: float = Field(gt=0, description="sum (x_i - mean_x)^2, > 0.", examples=[36.0])
    sxy: float = Field(description="sum (x_i - mean_x)(y_i - mean_y).", examples=[33.5])
    syy: float = Field(ge=0, description="sum (y_i - mean_y)^2, >= 0.", examples=[37.2])

    def to_core(self) -> core.Moments:
        """The core's moments (raises `core.DataError` when they are inconsistent)."""
        return core.Moments.from_sums(
            self.n, self.mean_x, self.mean_y, self.sxx, self.sxy, self.syy
        )


class FitRequest(BaseModel):
    """One fit: the data (`x` and `y`, or `moments`) and the descent's hyperparameters."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
        json_schema_extra={"examples": [ARTICLE_EXAMPLE]},
    )

    x: list[float] | None = Field(
        default=None,
        validation_alias=AliasChoices("x", "X"),
        min_length=2,
        description=(
            "The points' x values (alias `X`): finite numbers, at least two distinct, at most "
            "`max_points` (see GET /info). Required unless `moments` is given."
        ),
        examples=[[0.0, 1.0, 2.0, 3.0]],
    )
    y: list[float] | None = Field(
        default=None,
        validation_alias=AliasChoices("y", "Y"),
        description=(
            "The points' y values (alias `Y`): finite numbers, as many as `x`. "
            "Required unless `moments` is given."
        ),
        examples=[[1.0, 3.0, 5.0, 7.0]],
    )
    moments: Moments | None = Field(
        default=None,
        description=(
            "The data's sufficient statistics instead of `x` and `y`, for data too large for "
            "one request (computed where the data lives, e.g. with Dask or Spark). The answer "
            "equals the raw-data answer."
        ),
        examples=[None],
    )
    learning_rate: float = Field(
        default=0.001,
        gt=0,
        validation_alias=AliasChoices("learning_rate", "lr"),
        description="Step size (alias `lr`), finite and > 0.",
        examples=[0.01],
    )
    epochs: int = Field(
        default=DEFAULT_EPOCHS,
        ge=1,
        description="Number of descent steps, 1 <= epochs <= `max_epochs` (see GET /info).",
        examples=[10_000],
    )
    initial_m: float = Field(default=0.0, description="Starting slope.", examples=[0.0])
    initial_b: float = Field(default=0.0, description="Starting intercept.", examples=[0.0])
    optimizer: Literal["gd", "momentum", "nesterov"] = Field(
        default="gd",
        description=(
            "`gd`: plain gradient descent. `momentum`: heavy ball, v_{k+1} = momentum*v_k - "
            "lr*grad(theta_k), theta_{k+1} = theta_k + v_{k+1}. `nesterov`: the same with the "
            "gradient taken at theta_k + momentum*v_k."
        ),
        examples=["gd"],
    )
    update: Literal["simultaneous", "sequential"] = Field(
        default="simultaneous",
        description=(
            "`simultaneous`: both gradients at (m_k, b_k), the textbook rule. `sequential`: "
            "the article's code exactly, m first, then b's gradient at the new m "
            "(only with optimizer `gd`)."
        ),
        examples=["simultaneous"],
    )
    momentum: float = Field(
        default=0.9,
        ge=0,
        lt=1,
        description="0 <= momentum < 1; used by the momentum optimizers only.",
        examples=[0.9],
    )
    l2: float = Field(
        default=0.0,
        ge=0,
        description="Ridge penalty on the slope: the descent minimizes MSE + l2 * m^2.",
        examples=[0.0],
    )
    standardize: bool = Field(
        default=False,
        description=(
            "Descend on z-scored x and y, then report m, b, cost and history in the original "
            "units. y must vary."
        ),
        examples=[False],
    )
    tolerance: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Stop at the first epoch k whose gradient norm is <= tolerance (checked from k = 0); "
            "null runs all epochs."
        ),
        examples=[None],
    )
    history_points: int = Field(
        default=0,
        ge=0,
        description=(
            "0 for no history, else 2 <= history_points <= `max_history_points` recorded epochs."
        ),
        examples=[5],
    )
    history_spacing: Literal["linear", "log"] = Field(
        default="linear",
        description="Where the recorded epochs fall: evenly or geometrically spaced.",
        examples=["linear"],
    )

    # The points as float64 arrays, for a request built by `from_json_fast` (x and y are then
    # None); `points`, `data_arrays` and `to_moments` read either form.
    _arrays: tuple[FloatArray, FloatArray] | None = PrivateAttr(default=None)

    @field_validator("x")
    @classmethod
    def _x_varies(cls, x: list[float] | None, info: ValidationInfo) -> list[float] | None:
        limit = limits_of(info).max_points
        if x is not None and (
            error := count_error("x has {count} points", len(x), limit, "max_points")
        ):
            raise error
        if x is not None and constant(x):
            raise PydanticCustomError(
                "constant_x",
                "x must have at least two distinct values (all {n} are equal to {value})",
                {"n": len(x), "value": x[0]},
            )
        return x

    @field_validator("epochs")
    @classmethod
    def _epochs_in_force(cls, epochs: int, info: ValidationInfo) -> int:
        at_most("epochs", epochs, limits_of(info).max_epochs, "max_epochs")
        return epochs

    @field_validator("update")
    @classmethod
    def _sequential_needs_gd(cls, update: str, info: ValidationInfo) -> str:
        optimizer = info.data.get("optimizer")
        if update == "sequential" and optimizer not in (None, "gd"):
            raise PydanticCustomError(
                "sequential_needs_gd",
                "update 'sequential' works only with optimizer 'gd' (got '{optimizer}')",
                {"optimizer": optimizer},
            )
        return update

    @field_validator("standardize")
    @classmethod
    def _y_varies(cls, standardize: bool, info: ValidationInfo) -> bool:
        if not standardize:
            return standardize
        y = info.data.get("y")
        moments = info.data.get("moments")
        if (y and constant(y)) or (moments is not None and moments.syy == 0):
            raise PydanticCustomError(
                "constant_y",
                "standardize needs y to vary, but all y are equal; set standardize to false",
            )
        return standardize

    @field_validator("history_points")
    @classmethod
    def _history_points(cls, history_points: int, info: ValidationInfo) -> int:
        limit = limits_of(info).max_history_points
        at_most("history_points", history_points, limit, "max_history_points")
        if history_points == 1:
            raise PydanticCustomError(
                "history_points",
                "history_points must be 0 (no history) or at least 2 (got 1)",
                {"allowed": "0 or >= 2"},
            )
        return history_points

    @model_validator(mode="wrap")
    @classmethod
    def _one_data_source(cls, data: Any, handler: ModelWrapValidatorHandler[FitRequest]) -> Any:
        """Exactly one of x/y and moments, and no alias sent with its name; reported together
        with every other error, sorted (stably) in the order the fields are declared."""
        if not isinstance(data, Mapping):
            return handler(data)
        errors = source_errors(data)
        duplicates, data = alias_errors(data)
        return validate_with(
            cls.__name__, handler, data, [*errors, *duplicates], order=cls._field_rank
        )

    @classmethod
    def _field_rank(cls, error: InitErrorDetails) -> int:
        """Where the field of `error` is declared (aliases count as their field)."""
        names = list(cls.model_fields)
        head = error["loc"][0] if error["loc"] else None
        name = {"X": "x", "Y": "y", "lr": "learning_rate"}.get(str(head), str(head))
        return names.index(name) if name in names else len(names)

    def to_options(self) -> core.FitOptions:
        """The core's options for this request."""
        return core.FitOptions(
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            initial_m=self.initial_m,
            initial_b=self.initial_b,
            update=self.update,
            optimizer=self.optimizer,
            momentum=self.momentum,
            l2=self.l2,
            standardize=self.standardize,
            tolerance=self.tolerance,
            history_points=self.history_points,
            history_spacing=self.history_spacing,
        )

    def to_moments(self) -> core.Moments:
        """The core's moments of this request's data (raises `core.DataError` when unfit)."""
        if self.moments is not None:
            return self.moments.to_core()
        return core.compute_moments(*self.data_arrays())

    def data_arrays(self) -> tuple[FloatArray, FloatArray]:
        """The points as float64 arrays (for a request that sends x and y)."""
        if self._arrays is not None:
            return self._arrays
        assert self.x is not None and self.y is not None  # guaranteed by validation
        return np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64)

    @property
    def points(self) -> int:
        """How many raw points the request carries (0 when it sends moments)."""
        if self._arrays is not None:
            return int(self._arrays[0].size)
        return len(self.x) if self.x is not None else 0

    def with_arrays(self, x: FloatArray, y: FloatArray) -> FitRequest:
        """This request with its points given as float64 arrays instead of lists.

        For a body parser that has already checked the points against every rule of `x`
        and `y` (`service.bodies`); `self` was validated with stand-ins for them.
        """
        request = self.model_copy(update={"x": None, "y": None})
        request._arrays = (x, y)
        return request


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


class BatchFitRequest(BaseModel):
    """Several fits answered together, vectorized in one pass of the core."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "fits": [
                        {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 0.05},
                        {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 1.0},
                    ]
                }
            ]
        },
    )

    fits: list[FitRequest] = Field(
        min_length=1,
        description=(
            "1 to `max_batch` fits (see GET /info), with at most `max_points` points in all."
        ),
        examples=[[{"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 0.05}]],
    )

    @model_validator(mode="wrap")
    @classmethod
    def _within_limits(
        cls, data: Any, handler: ModelWrapValidatorHandler[BatchFitRequest], info: ValidationInfo
    ) -> Any:
        """The batch's own limits (items, points in all), reported with the items' errors."""
        limits = limits_of(info)
        fits = data.get("fits") if isinstance(data, Mapping) else None
        if not isinstance(fits, list):
            return handler(data)
        points = sum(
            len(points)
            for fit in fits
            if isinstance(fit, Mapping)
            for points in [fit.get("x", fit.get("X"))]
            if isinstance(points, list)
        )
        scanned, recorded = batch_work(fits)
        checks = (
            ("fits has {count} items", len(fits), "max_batch", 1),
            ("fits hold {count} points in all", points, "max_points", 1),
            (
                "fits scan {count} epochs in all for tolerance",
                scanned,
                "max_epochs",
                BATCH_WORK_FACTOR,
            ),
            (
                "fits record {count} history entries in all",
                recorded,
                "max_history_points",
                BATCH_WORK_FACTOR,
            ),
        )
        errors = [
            # The count is the rejected value here; echoing every fit would say nothing more.
            InitErrorDetails(type=error, loc=("fits",), input=count)
            for what, count, limit_name, factor in checks
            if (error := count_error(what, count, getattr(limits, limit_name), limit_name, factor))
            is not None
        ]
        # The batch's own errors first, then its items'.
        return validate_with(cls.__name__, handler, data, errors, first=True)


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


class Limits(BaseModel):
    """The limits in force on this server (set by GDS_* settings)."""

    model_config = ConfigDict(frozen=True)

    max_points: int = Field(description="Most points in one request.", examples=[1_000_000])
    max_epochs: int = Field(description="Largest `epochs`.", examples=[10_000_000])
    max_history_points: int = Field(description="Largest `history_points`.", examples=[10_000])
    max_batch: int = Field(description="Most fits in one batch.", examples=[1000])
    max_body_bytes: int = Field(description="Largest request body, bytes.", examples=[67108864])

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits `settings` set."""
        return cls(
            max_points=settings.max_points,
            max_epochs=settings.max_epochs,
            max_history_points=settings.max_history_points,
            max_batch=settings.max_batch,
            max_body_bytes=settings.max_body_bytes,
        )


DEFAULT_LIMITS: Final = Limits.from_settings(Settings.model_construct())
"""The limits of a server with default settings: what validation checks when its context
names no limits, so that no code path validates a body without any."""


def limits_of(info: ValidationInfo) -> Limits:
    """The limits in the validation context (``{"limits": Limits}``), else `DEFAULT_LIMITS`."""
    context = info.context
    limits = context.get("limits") if isinstance(context, Mapping) else None
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS


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
