"""What clients send: `FitRequest`, `BatchFitRequest` and `Moments`, with all their rules.

Pydantic validates everything it can declaratively: strict JSON numbers (no strings, no
booleans, no NaN or Infinity), bounds, enumerations and `extra="forbid"`. The rules that tie
fields together are field validators that read the fields declared before them, so that every
bad field is reported in one answer, each at its own location:

- `y`: same length as `x`;
- `x`: at least two distinct values;
- `weights`: one per point, >= 0, not all 0, two distinct x among the points of positive
  weight, and only with `x`/`y` (never with `moments`);
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

import struct
from collections.abc import Mapping
from typing import Any, Literal

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
from service.schemas.limits import limits_of
from service.validation import (
    ALIASES,
    DEFAULT_EPOCHS,
    alias_errors,
    at_most,
    constant,
    distinct_weighted,
    oversized_errors,
    source_errors,
    unknown_key_errors,
    validate_with,
)

__all__ = ["FitRequest", "Moments"]

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
    sum_w: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Weighted data: the total weight sum w_i, > 0; then `n` counts the points with "
            "w_i > 0, the means are weighted (sum w_i x_i / sum_w) and so is each centred sum "
            "(sxx = sum w_i (x_i - mean_x)^2, ...). Absent or null: unweighted (sum_w = n)."
        ),
        examples=[None],
    )

    @field_validator("n", mode="before")
    @classmethod
    def _numpy_count(cls, n: Any) -> Any:
        """A NumPy count (``Moments(**row)`` of a DataFrame row: an integer, or a whole float
        when the row mixes dtypes) as a Python int; JSON never carries NumPy values, so JSON
        bodies stay strict (``"n": 4.0`` is still refused)."""
        if isinstance(n, np.integer):
            return int(n)
        if isinstance(n, np.floating) and float(n).is_integer():  # a row of mixed dtypes
            return int(n)
        return n

    def to_core(self) -> core.Moments:
        """The core's moments (raises `core.DataError` when they are inconsistent)."""
        return core.Moments.from_sums(
            self.n, self.mean_x, self.mean_y, self.sxx, self.sxy, self.syy, self.sum_w
        )


_KNOWN_KEYS: frozenset[str] = frozenset()
"""The fields of `FitRequest` and their aliases (filled in below the class)."""


PACKED_POINTS = 256
"""Up to this many numbers, `_float_array` packs a list with `struct` (about 40 % cheaper than
``np.fromiter`` on a hundred floats, a cost every small request pays; one packer per length
is kept, so at most this many)."""
_PACKERS: dict[int, struct.Struct] = {}


def _float_array(values: list[float]) -> FloatArray:
    """The numbers as a float64 array of shape (n,): packed by `struct` up to
    `PACKED_POINTS` (a read-only array over the packed bytes), else ``np.fromiter``."""
    n = len(values)
    if n > PACKED_POINTS:
        return np.fromiter(values, np.float64, n)
    packer = _PACKERS.get(n)
    if packer is None:
        packer = _PACKERS[n] = struct.Struct(f"{n}d")
    return np.frombuffer(packer.pack(*values), dtype=np.float64)


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
    weights: list[float] | None = Field(
        default=None,
        description=(
            "Sample weights w_i, one per point: finite, >= 0, at least two distinct x among "
            "the points with w_i > 0; only with `x` and `y`. The cost, its gradients, the "
            "optimum and every statistic become the weighted ones (statsmodels WLS: weights "
            "are inverse variances, so scaling them all changes nothing but "
            "`statistics.ols.residual_std_error`); a point of weight 0 is as if absent. "
            "null or absent: all 1."
        ),
        examples=[None],
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
    confidence_level: float = Field(
        default=0.95,
        gt=0,
        lt=1,
        description=(
            "0 < level < 1: the level of the confidence intervals `ci_m` and `ci_b` in "
            "`statistics.ols`."
        ),
        examples=[0.95],
    )

    # The points as float64 arrays, for a request built by `from_json_fast` (x and y are then
    # None); `points`, `data_arrays` and `to_moments` read either form.
    _arrays: tuple[FloatArray, FloatArray] | None = PrivateAttr(default=None)
    _weights: FloatArray | None = PrivateAttr(default=None)

    @field_validator("x")
    @classmethod
    def _x_varies(cls, x: list[float] | None) -> list[float] | None:
        if x is not None and constant(x):
            raise PydanticCustomError(
                "constant_x",
                "x must have at least two distinct values (all {n} are equal to {value})",
                {"n": len(x), "value": x[0]},
            )
        return x

    @field_validator("weights")
    @classmethod
    def _usable_weights(
        cls, weights: list[float] | None, info: ValidationInfo
    ) -> list[float] | None:
        if weights is None:
            return weights
        x = info.data.get("x")
        if x is not None and len(weights) != len(x):
            raise PydanticCustomError(
                "weights_length",
                "weights must have one value per point (got {weights} for {points} points)",
                {"weights": len(weights), "points": len(x)},
            )
        if weights and min(weights) < 0:
            first = next(i for i, w in enumerate(weights) if w < 0)
            raise PydanticCustomError(
                "weights_negative",
                "weights must be >= 0 (weights[{index}] is {value})",
                {"index": first, "value": weights[first]},
            )
        if not any(weights):
            raise PydanticCustomError(
                "weights_all_zero",
                "weights are all 0: at least two points need a positive weight",
            )
        if x is not None and not distinct_weighted(x, weights):
            raise PydanticCustomError(
                "constant_weighted_x",
                "x must have at least two distinct values among the points with a positive weight",
            )
        return weights

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
        weights = info.data.get("weights")
        if y and weights:  # the points of weight 0 are as if absent
            y = [value for value, w in zip(y, weights, strict=False) if w > 0] or y
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
    def _one_data_source(
        cls, data: Any, handler: ModelWrapValidatorHandler[FitRequest], info: ValidationInfo
    ) -> Any:
        """Exactly one of x/y and moments, no alias sent with its name, point arrays within
        `max_points` and made of numbers (checked in one pass, a few errors listed per
        array), and not a flood of unknown fields; reported together with every other error,
        sorted (stably) in the order the fields are declared."""
        if not isinstance(data, Mapping):
            return handler(data)
        errors = source_errors(data)
        duplicates, data = alias_errors(data)
        oversized, data = oversized_errors(data, limits_of(info).max_points)
        unknown, data = unknown_key_errors(data, _KNOWN_KEYS)
        return validate_with(
            cls.__name__,
            handler,
            data,
            [*errors, *duplicates, *oversized, *unknown],
            order=cls._field_rank,
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

    def _private(self) -> dict[str, Any]:
        """The private attributes, read straight from their dict: ``self._arrays`` goes
        through ``BaseModel.__getattr__``, a few microseconds per read (the batch path reads
        them several times per item)."""
        return self.__pydantic_private__ or {}

    def to_moments(self) -> core.Moments:
        """The core's moments of this request's data (raises `core.DataError` when unfit)."""
        if self.moments is not None:
            return self.moments.to_core()
        return core.compute_moments(*self.data_arrays(), self.weight_array())

    def weight_array(self) -> FloatArray | None:
        """The weights as a float64 array, or None for unweighted data (or moments)."""
        weights: FloatArray | None = self._private().get("_weights")
        if weights is not None:
            return weights
        return None if self.weights is None else np.asarray(self.weights, dtype=np.float64)

    def data_arrays(self) -> tuple[FloatArray, FloatArray]:
        """The points as float64 arrays (for a request that sends x and y), converted from the
        lists once: the moments, the statistics and the plot all read them."""
        arrays: tuple[FloatArray, FloatArray] | None = self._private().get("_arrays")
        if arrays is None:
            assert self.x is not None and self.y is not None  # guaranteed by validation
            x, y = self.x, self.y
            arrays = (_float_array(x), _float_array(y))
            if self.__pydantic_private__ is None:
                self._arrays = arrays
            else:  # (straight into the dict `_private` reads: no BaseModel.__setattr__)
                self.__pydantic_private__["_arrays"] = arrays
        return arrays

    @property
    def points(self) -> int:
        """How many raw points the request carries (0 when it sends moments)."""
        arrays: tuple[FloatArray, FloatArray] | None = self._private().get("_arrays")
        if arrays is not None:
            return int(arrays[0].size)
        return len(self.x) if self.x is not None else 0

    def with_arrays(
        self, x: FloatArray, y: FloatArray, weights: FloatArray | None = None
    ) -> FitRequest:
        """This request with its points (and weights) given as float64 arrays instead of lists.

        For a body parser that has already checked the points against every rule of `x`,
        `y` and `weights` (`service.bodies`); `self` was validated with stand-ins for them.
        """
        update: dict[str, Any] = {}
        if self.x is not None or self.y is not None:
            update.update(x=None, y=None)
        if weights is not None:  # else the weights validated with the request stay
            update["weights"] = None
        if not update:
            # A request whose lists are None already (a template of `BatchFitRequest`'s
            # items): copied as `model_copy` would, with its arrays, in a third of the time.
            cls = type(self)
            request = cls.__new__(cls)
            _set = object.__setattr__
            _set(request, "__dict__", self.__dict__.copy())
            _set(request, "__pydantic_extra__", None)  # extra="forbid"
            _set(request, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
            _set(request, "__pydantic_private__", {"_arrays": (x, y), "_weights": weights})
            return request
        request = self.model_copy(update=update)
        request._arrays = (x, y)
        request._weights = weights
        return request


_KNOWN_KEYS = frozenset([*FitRequest.model_fields, *(alias for _, alias in ALIASES)])
