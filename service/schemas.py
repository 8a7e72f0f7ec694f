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
`max_history_points`, `max_batch`) are checked by `limit_errors` after parsing.

Large bodies take a fast path (`FitRequest.from_json_fast`): the points go straight from the
parsed JSON lists into float64 arrays, with a vectorized check that they are JSON numbers;
anything the fast path is not sure of falls back to the full validation above, so every 422
is the same whichever path a body takes.
"""

from __future__ import annotations

import array
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
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
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from service import core

__all__ = [
    "ARTICLE_X",
    "ARTICLE_Y",
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
    "batch_moments",
    "limits_in_force",
]

FloatArray = NDArray[np.float64]

# The article's data set, as in its code: 100 points around y = x, seeded and rounded.
#   rng = np.random.default_rng(42)
#   x = np.round(np.linspace(-1, 1, 100) + rng.normal(0, 0.25, 100), 4)
#   y = np.round(np.linspace(-1, 1, 100) + rng.normal(0, 0.25, 100), 4)
# The numbers are written out so the documented example never depends on NumPy's generator.
ARTICLE_X: Final[list[float]] = [
    -0.9238,
    -1.2398,
    -0.772,
    -0.7043,
    -1.407,
    -1.2245,
    -0.8468,
    -0.9376,
    -0.8426,
    -1.0314,
    -0.5781,
    -0.5833,
    -0.7411,
    -0.4556,
    -0.6003,
    -0.9118,
    -0.5846,
    -0.8963,
    -0.4168,
    -0.6286,
    -0.6422,
    -0.746,
    -0.2499,
    -0.574,
    -0.6222,
    -0.583,
    -0.3417,
    -0.3632,
    -0.3312,
    -0.3064,
    0.1415,
    -0.4753,
    -0.4816,
    -0.5368,
    -0.1591,
    -0.0107,
    -0.3012,
    -0.4626,
    -0.4384,
    -0.0495,
    -0.0061,
    -0.0359,
    -0.3179,
    -0.0733,
    -0.0819,
    -0.0362,
    0.1472,
    0.0054,
    0.1394,
    0.0068,
    0.0824,
    0.1881,
    -0.3138,
    -0.0092,
    -0.0267,
    -0.0486,
    0.0625,
    0.5253,
    -0.0447,
    0.434,
    -0.2086,
    0.1486,
    0.2932,
    0.4193,
    0.4707,
    0.5115,
    0.2462,
    0.2379,
    0.5882,
    0.3461,
    0.0952,
    0.151,
    0.2247,
    0.599,
    0.5306,
    0.6878,
    0.4285,
    0.5952,
    0.7322,
    0.5186,
    0.7304,
    0.4709,
    0.5658,
    0.5813,
    0.398,
    0.8389,
    0.62,
    0.7607,
    0.898,
    0.9096,
    0.9845,
    0.8138,
    0.7528,
    0.8589,
    0.4772,
    0.5574,
    0.6087,
    0.7103,
    1.0797,
    0.7736,
]
ARTICLE_Y: Final[list[float]] = [
    -1.0945,
    -0.655,
    -1.0487,
    -0.755,
    -1.1526,
    -0.9503,
    -1.1163,
    -0.9433,
    -0.6283,
    -1.25,
    -0.6894,
    -0.7183,
    -0.9061,
    -1.0989,
    -0.6991,
    -0.8293,
    -0.6186,
    -0.6511,
    -0.2359,
    -0.676,
    -0.8518,
    -0.5309,
    -0.5006,
    -0.1956,
    -0.3064,
    -0.4057,
    -0.1089,
    -0.7517,
    -0.5943,
    -0.6458,
    -0.4914,
    -0.7179,
    -0.1947,
    -0.3889,
    -0.6808,
    -0.5468,
    -0.1943,
    -0.043,
    0.2669,
    0.5163,
    -0.0883,
    -0.4191,
    -0.6845,
    -0.0644,
    -0.3143,
    -0.1947,
    -0.2237,
    -0.0857,
    0.2362,
    0.0292,
    -0.0296,
    -0.2286,
    -0.3682,
    -0.0509,
    0.0775,
    0.5531,
    0.1639,
    0.3972,
    0.0469,
    -0.1043,
    -0.0292,
    0.051,
    0.7846,
    0.0674,
    0.5026,
    0.0874,
    0.5662,
    0.4498,
    0.3346,
    0.3837,
    0.2504,
    0.5459,
    0.3408,
    0.1683,
    0.1755,
    0.5583,
    0.9301,
    0.5956,
    0.5461,
    0.6674,
    0.9427,
    0.6912,
    0.5538,
    0.9533,
    0.8042,
    1.1011,
    0.7832,
    0.4515,
    0.4357,
    1.2107,
    1.2491,
    0.7935,
    0.7628,
    1.2441,
    0.6222,
    0.6955,
    1.1002,
    0.8609,
    0.9785,
    0.9591,
]

ARTICLE_EXAMPLE: Final[dict[str, Any]] = {
    "x": ARTICLE_X,
    "y": ARTICLE_Y,
    "learning_rate": 0.001,
    "epochs": 10_000,
    "history_points": 5,
}
"""The documented request: the article's fit (learning rate 0.001, 10,000 epochs)."""


def _constant(values: Sequence[float]) -> bool:
    """True when all values are equal (stops at the first difference, so O(1) on real data)."""
    first = values[0]
    return all(value == first for value in values)


_LIMITS: ContextVar[Limits | None] = ContextVar("gds_limits", default=None)
"""The server's limits while a request body is validated (`limits_in_force`); None checks none."""


@contextmanager
def limits_in_force(limits: Limits) -> Iterator[None]:
    """Validate request bodies against `limits` (the settings-dependent bounds of /info)
    inside this block, so that a body over them is reported with all its other errors."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def _at_most(field: str, value: int, limit_name: str) -> None:
    """Refuse `value` of `field` above the limit `limit_name` in force."""
    limits = _LIMITS.get()
    limit = None if limits is None else getattr(limits, limit_name)
    if limit is not None and value > limit:
        raise PydanticCustomError(
            "less_than_equal",
            f"{field} must be at most {limit} on this server ({limit_name}); got {value}",
            {"le": limit},
        )


def _count_error(
    what: str, count: int, limit_name: str, factor: int = 1
) -> PydanticCustomError | None:
    """The error for `count` points or items over `factor` times the limit `limit_name` in
    force; `what` says what was counted, e.g. ``"x has {count} points"``."""
    limits = _LIMITS.get()
    if limits is None or count <= (limit := factor * getattr(limits, limit_name)):
        return None
    name = limit_name if factor == 1 else f"{factor} x {limit_name}"
    return PydanticCustomError(
        "too_long",
        f"{what.format(count=count)}; this server accepts at most {limit} ({name})",
        {limit_name: limit, "actual_length": count},
    )


DEFAULT_EPOCHS: Final = 10_000
"""`epochs` when a request does not say."""

BATCH_WORK_FACTOR: Final = 10
"""A batch may scan at most this many times `max_epochs` epochs for `tolerance`, and record
this many times `max_history_points` history entries, in all its fits together: a small body
must not buy minutes of CPU or a huge answer."""


def _batch_work(fits: list[Any]) -> tuple[int, int]:
    """(epochs scanned for tolerance, history entries) of raw batch items, defaults applied."""
    scanned = recorded = 0
    for fit in fits:
        if not isinstance(fit, Mapping):
            continue
        epochs = fit.get("epochs", DEFAULT_EPOCHS)
        history = fit.get("history_points", 0)
        if type(epochs) is not int:
            continue
        if fit.get("tolerance") is not None:
            scanned += epochs
        if type(history) is int:
            recorded += min(history, epochs + 1)
    return scanned, recorded


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
    def _x_varies(cls, x: list[float] | None) -> list[float] | None:
        if x is not None and (error := _count_error("x has {count} points", len(x), "max_points")):
            raise error
        if x is not None and _constant(x):
            raise PydanticCustomError(
                "constant_x",
                "x must have at least two distinct values (all {n} are equal to {value})",
                {"n": len(x), "value": x[0]},
            )
        return x

    @field_validator("epochs")
    @classmethod
    def _epochs_in_force(cls, epochs: int) -> int:
        _at_most("epochs", epochs, "max_epochs")
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
        if (y and _constant(y)) or (moments is not None and moments.syy == 0):
            raise PydanticCustomError(
                "constant_y",
                "standardize needs y to vary, but all y are equal; set standardize to false",
            )
        return standardize

    @field_validator("history_points")
    @classmethod
    def _history_points(cls, history_points: int) -> int:
        _at_most("history_points", history_points, "max_history_points")
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
        """Exactly one of x/y and moments; reported together with every other error."""
        if not isinstance(data, Mapping):
            return handler(data)
        present = {
            name: any(data.get(key) is not None for key in keys)
            for name, keys in (("x", ("x", "X")), ("y", ("y", "Y")), ("moments", ("moments",)))
        }
        errors = _source_errors(present, data)
        for name, alias in _ALIASES:
            if name in data and alias in data:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "duplicate_alias",
                            "{name} and {alias} are the same field: send only one of them",
                            {"name": name, "alias": alias},
                        ),
                        loc=(alias,),
                        input=data[alias],
                    )
                )
                # Validate the rest without the alias, so it is not also "extra_forbidden".
                data = {key: value for key, value in data.items() if key != alias}
        # Sorted (stably) in the order the fields are declared.
        return _validate_with(cls.__name__, handler, data, errors, order=cls._field_rank)

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

    @classmethod
    def from_json_fast(cls, data: Any) -> FitRequest | None:
        """The request for a parsed JSON body with x and y, its points as arrays, or None.

        None means "not sure": the caller validates `data` the usual way, which answers
        every rejected body with its detailed 422. The fast path accepts exactly the bodies
        that validation accepts: it converts each list in one pass (`array.array` refuses
        strings, null and nested values), looks at the types of the items that became 0.0 or
        1.0 (booleans would), checks the cross-field rules on the arrays, then validates the
        remaining fields with two-point stand-ins for x and y.
        """
        if not isinstance(data, dict) or "moments" in data:
            return None
        x_keys = [key for key in ("x", "X") if key in data]
        y_keys = [key for key in ("y", "Y") if key in data]
        if len(x_keys) != 1 or len(y_keys) != 1:
            return None
        limits = _LIMITS.get()
        raw_x = data[x_keys[0]]
        if limits is not None and isinstance(raw_x, list) and len(raw_x) > limits.max_points:
            return None
        x, y = _number_array(data[x_keys[0]]), _number_array(data[y_keys[0]])
        if x is None or y is None or x.size != y.size or x.min() == x.max():
            return None
        if data.get("standardize") is True and y.min() == y.max():
            return None
        stand_in = {**data, x_keys[0]: [0.0, 1.0], y_keys[0]: [0.0, 1.0]}
        try:
            request = cls.model_validate(stand_in)
        except ValidationError:
            return None
        request = request.model_copy(update={"x": None, "y": None})
        request._arrays = (x, y)
        return request


def _number_array(values: Any) -> FloatArray | None:
    """`values` as a float64 array when it is a list of at least 2 finite JSON numbers
    (not booleans, strings or null), else None."""
    if type(values) is not list or len(values) < 2:
        return None
    try:
        # array.array("d") converts ints and floats and refuses str, None, lists and dicts,
        # in one C loop: faster than np.array, which would parse numeric strings.
        converted = np.frombuffer(array.array("d", values), dtype=np.float64)
    except (TypeError, OverflowError):
        return None
    if not np.isfinite(converted).all():
        return None
    # It also takes True and False as 1.0 and 0.0: only those items can be booleans.
    suspects = np.flatnonzero((converted == 0.0) | (converted == 1.0))
    if any(type(values[i]) is bool for i in suspects.tolist()):
        return None
    return converted


def batch_moments(fits: Sequence[FitRequest]) -> list[core.Moments | core.FitError]:
    """The core's moments of every fit of a batch, each in place, or the error of its data.

    The raw-data fits are laid end to end and reduced together (`core.segment_moments`),
    the moments fits are checked one by one (`core.Moments.from_sums`).
    """
    out: list[core.Moments | core.FitError] = []
    raw = [fit for fit in fits if fit.moments is None]
    stacked = iter(_stacked_moments(raw) if raw else [])
    for fit in fits:
        if fit.moments is None:
            out.append(next(stacked))
            continue
        try:
            out.append(fit.moments.to_core())
        except core.FitError as error:
            out.append(error)
    return out


def _stacked_moments(fits: Sequence[FitRequest]) -> list[core.Moments | core.DataError]:
    lengths = np.fromiter((fit.points for fit in fits), dtype=np.int64, count=len(fits))
    total = int(lengths.sum())
    if all(fit._arrays is None for fit in fits):
        # One pass over the validated lists, no per-item arrays.
        x = np.fromiter(
            itertools.chain.from_iterable(fit.x or () for fit in fits), np.float64, total
        )
        y = np.fromiter(
            itertools.chain.from_iterable(fit.y or () for fit in fits), np.float64, total
        )
    else:
        pairs = [fit.data_arrays() for fit in fits]
        x = np.concatenate([pair[0] for pair in pairs])
        y = np.concatenate([pair[1] for pair in pairs])
    return core.segment_moments(x, y, lengths)


_ALIASES: Final = (("x", "X"), ("y", "Y"), ("learning_rate", "lr"))
"""Fields and their aliases (SPEC section 3)."""


def _source_errors(present: Mapping[str, bool], data: Any) -> list[InitErrorDetails]:
    """The errors of the rule "exactly one of x/y and moments" (empty when it holds)."""
    errors: list[InitErrorDetails] = []
    if present["moments"]:
        if present["x"] or present["y"]:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "data_conflict", "send either x and y, or moments, not both"
                    ),
                    loc=("moments",),
                    input=data.get("moments"),
                )
            )
        return errors
    for name, other in (("x", "y"), ("y", "x")):
        if present[name]:
            continue
        msg = (
            f"{name} is required with {other}"
            if present[other]
            else f"{name} is required (or send moments instead of x and y)"
        )
        errors.append(
            InitErrorDetails(type=PydanticCustomError("missing", msg), loc=(name,), input=data)
        )
    # Checked on the raw lists, so that it is reported even when x has errors of its own.
    x_key = next((key for key in ("x", "X") if data.get(key) is not None), None)
    y_key = next((key for key in ("y", "Y") if data.get(key) is not None), None)
    if x_key and y_key and isinstance(data[x_key], list) and isinstance(data[y_key], list):
        x_length, y_length = len(data[x_key]), len(data[y_key])
        if x_length != y_length:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "length_mismatch",
                        "x and y must have the same length (got {x_length} and {y_length})",
                        {"x_length": x_length, "y_length": y_length},
                    ),
                    loc=(y_key,),
                    input=data[y_key],
                )
            )
    return errors


def _validate_with(
    title: str,
    handler: Callable[[Any], Any],
    data: Any,
    extra: list[InitErrorDetails],
    *,
    order: Callable[[InitErrorDetails], int] | None = None,
    first: bool = False,
) -> Any:
    """`handler(data)`, failing with `extra` errors merged into its own (`first`: before them,
    else after them; then sorted stably by `order`, if given), so every bad field is reported
    at once."""
    try:
        model = handler(data)
    except ValidationError as error:
        if not extra:
            raise
        own = list(map(_reraisable, error.errors()))
        merged = [*extra, *own] if first else [*own, *extra]
        if order is not None:
            merged.sort(key=order)
        raise ValidationError.from_exception_data(error.title, merged) from None
    if extra:
        raise ValidationError.from_exception_data(title, extra)
    return model


def _reraisable(error: ErrorDetails) -> InitErrorDetails:
    """An error of a caught ValidationError, in the form `from_exception_data` takes back."""
    # Messages are already formatted; escape braces so they are not formatted again.
    template = error["msg"].replace("{", "{{").replace("}", "}}")
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], template, error.get("ctx")),
        loc=error["loc"],
        input=error["input"],
    )


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
    def _within_limits(cls, data: Any, handler: ModelWrapValidatorHandler[BatchFitRequest]) -> Any:
        """The batch's own limits (items, points in all), reported with the items' errors."""
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
        scanned, recorded = _batch_work(fits)
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
            if (error := _count_error(what, count, limit_name, factor)) is not None
        ]
        # The batch's own errors first, then its items'.
        return _validate_with(cls.__name__, handler, data, errors, first=True)


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

    max_points: int = Field(description="Most points in one request.", examples=[1_000_000])
    max_epochs: int = Field(description="Largest `epochs`.", examples=[10_000_000])
    max_history_points: int = Field(description="Largest `history_points`.", examples=[10_000])
    max_batch: int = Field(description="Most fits in one batch.", examples=[1000])
    max_body_bytes: int = Field(description="Largest request body, bytes.", examples=[67108864])


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
