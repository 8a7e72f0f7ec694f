"""Gradient descent on the mean squared error of a line, in O(n) + O(sqrt(epochs)) work.

The article's descent on cost(m, b) = (1/n) sum_i (y_i - (m x_i + b))^2 takes steps
along the negative gradient

    dcost/dm = (2/n) sum_i -x_i (y_i - (m x_i + b)),   dcost/db = (2/n) sum_i -(y_i - (m x_i + b)).

Both are affine in (m, b) with coefficients that are moments of the data
(`service.core.moments`), so after one O(n) pass every rule is a fixed linear map
s_{k+1} = A s_k on the error from the optimum (`service.core.iteration`), and

    s_k = A^k s_0   for every epoch k.

Epochs are cut into blocks of B ~ sqrt(epochs): the powers A^0..A^B (by doubling) and
the block starts s_{jB} = (A^B)^j s_0 (by doubling too) take O(log epochs) NumPy calls
and O(sqrt(epochs)) flops; any epoch is then one 4x4 product A^r s_{jB}
(`service.core.trajectory`). The final point and a history gather only the epochs they
need; a tolerance stop scans gradient norms block by block as one matrix product per
chunk; divergence (an iterate or the cost overflowing) is located exactly, evaluating only
the blocks whose bound allows overflow, in O(log epochs) vector operations. Items of a
batch are stacked along a leading axis and descended together, with per-item coefficients
from `service.core.coefficients`.

Reported quantities, from the error u = (m - m*, c - c*) mapped to original units:

    m = m* + u_m,  b = b* + u_c - mean_x u_m,
    cost = min_cost + vx (m - m_ls)^2 + u_c^2   (min_cost from `service.core.moments`),

so the cost never cancels and never goes negative. Where m or b is far smaller than the
terms of that sum (a slow descent still near its start, far from the optimum), they come
instead from the start plus the displacement s_k - s_0, computed by doubling on the
differences A^k - I, which keeps their relative digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from service.core import kernels
from service.core.advice import warnings_for
from service.core.coefficients import prepare
from service.core.errors import DataError, DivergedError, FitError, ParameterError
from service.core.history import history_epochs
from service.core.iteration import STATE_DIM
from service.core.moments import Moments, compute_moments
from service.core.momentum import descend_momentum
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum
from service.core.scalar import descend_small
from service.core.scalar import fit_points as fit_small_points
from service.core.statistics import with_statistics
from service.core.trajectory import Trajectory

__all__ = ["fit", "fit_batch", "fit_moments", "fit_points", "warm_up"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MATRIX_BUDGET = 64 << 20
"""Bytes of stacked matrix powers one vectorized step of a batch may hold."""
SMALL_PATH = True
"""Whether items the small-problem path takes (`service.core.scalar`) go there; the same
choice for `fit` and every item of `fit_batch`, so that both give the same bits. (Tests
switch it off to hold the vectorized path to the same contract.)"""
WIDE_BYTES = np.dtype(np.longdouble).itemsize
"""Bytes of one entry of the powers (extended precision)."""


def fit(x: ArrayLike, y: ArrayLike, options: FitOptions | None = None) -> FitResult:
    """Fit y = m x + b to the points by gradient descent; see `fit_moments`."""
    return fit_moments(compute_moments(x, y), options or FitOptions())


def fit_points(
    x: FloatArray,
    y: FloatArray,
    weights: FloatArray | None,
    options: FitOptions,
    confidence_level: float = 0.95,
) -> tuple[Moments, FitResult]:
    """The moments of the points (`compute_moments`), their fit (`fit_moments`) and its
    statistics (`with_statistics` at `confidence_level`): for a few hundred unweighted
    points in one compiled call of the small path (`service.core.scalar.fit_points`), with
    the same bits. `x`, `y` (and `weights`) are float64 arrays of shape (n,).

    Raises what `compute_moments`, `fit_moments` and `with_statistics` raise.
    """
    if SMALL_PATH and weights is None:
        fitted = fit_small_points(x, y, options, confidence_level)
        if fitted is not None:
            return fitted
    moments = compute_moments(x, y, weights)
    result = fit_moments(moments, options)
    return moments, with_statistics([result], [moments], [confidence_level], [(x, y, weights)])[0]


def warm_up() -> None:
    """Compile (or load from the cache) every compiled function of the core
    (`kernels.warm_up`, and the small path's, the advice's and the statistics' through the
    fits they serve), so that no request waits for it: twenty to twenty-five seconds on first use
    here, a second or two from the cache."""
    kernels.warm_up()
    x = np.array([0.0, 1.0, 2.0, 4.0])
    y = np.array([1.0, 0.5, 2.5, 2.0])
    frozen_x, frozen_y = x.copy(), y.copy()
    frozen_x.setflags(write=False)
    frozen_y.setflags(write=False)
    for points in ((x, y), (frozen_x, frozen_y)):
        compute_moments(*points)  # (the steps' own calls, as a momentum request makes them)
        for update in ("simultaneous", "sequential"):
            for tolerance in (None, 1e-3):
                options = FitOptions(
                    learning_rate=1e-3, epochs=50, update=update, tolerance=tolerance
                )
                fit_points(*points, None, options)
    moments = compute_moments(x, y)
    for options in (
        FitOptions(epochs=50),
        FitOptions(epochs=50, optimizer="momentum"),
        FitOptions(epochs=50, optimizer="nesterov", tolerance=1e-3, history_points=5),
    ):
        result = fit_moments(moments, options)
        with_statistics([result], [moments])


def fit_moments(moments: Moments, options: FitOptions | None = None) -> FitResult:
    """Fit a line to data given by its moments.

    Raises
    ------
    ParameterError
        A hyperparameter is out of range.
    DataError
        y is constant and `standardize` is on.
    DivergedError
        An iterate or the cost became non-finite; carries the epoch and the bound.
    """
    options = options or FitOptions()
    error = _unfit(moments, options)
    if error is not None:
        raise error
    small = _descend_small(moments, options) if SMALL_PATH else None
    if small is not None:  # (as `fit_batch` would, without its grouping around one item)
        return small
    outcomes: list[FitResult | FitError | None] = [None]
    _descend_vectorized([(moments, options)], [0], outcomes)
    outcome = outcomes[0]
    assert outcome is not None
    if isinstance(outcome, FitError):
        raise outcome
    return outcome


def fit_batch(items: Sequence[tuple[Moments, FitOptions]]) -> list[FitResult | FitError]:
    """Fit many lines at once, vectorized across items; errors are returned in place."""
    outcomes: list[FitResult | FitError | None] = [None] * len(items)
    valid: list[int] = []
    for i, (moments, options) in enumerate(items):
        error = _unfit(moments, options)
        if error is not None:
            outcomes[i] = error
            continue
        small = _descend_small(moments, options) if SMALL_PATH else None
        if small is not None:
            outcomes[i] = small
        else:
            valid.append(i)
    _descend_vectorized(items, valid, outcomes)
    return [o for o in outcomes if o is not None]


def _descend_small(moments: Moments, options: FitOptions) -> FitResult | None:
    """The item's fit on the small-problem path of its optimizer (`service.core.scalar` for
    plain gd, `service.core.momentum` for the momentum optimizers), or None where the
    vectorized path decides."""
    if options.optimizer == "gd":
        return descend_small(moments, options)
    return descend_momentum(moments, options)


def _descend_vectorized(
    items: Sequence[tuple[Moments, FitOptions]],
    valid: list[int],
    outcomes: list[FitResult | FitError | None],
) -> None:
    """Descend `items[i]` for each i in `valid` (checked, and not for the small path) on the
    vectorized path, into `outcomes[i]`."""
    # Items with the same block size (a power of two, from their own epochs) and precision
    # share a group; groups are few (about log2 of the spread of epochs). Nothing an item
    # computes depends on the group, so a batch item is bit for bit the single fit.
    groups: dict[tuple[int, bool], list[int]] = {}
    for i in valid:
        moments, options = items[i]
        # Extended precision for the momentum rules (see `prepare`) and for data descended
        # in scaled units, whose steps (lr 4^ex on m') float64 may hold only as subnormals.
        scaled = bool(moments.x_exponent or moments.y_exponent)
        key = (_block_size(options.epochs), options.optimizer != "gd" or scaled)
        groups.setdefault(key, []).append(i)
    for (_, extended), members in groups.items():
        # Keep the stacked powers (two (B or J) x 4 x 4 arrays per item) near MATRIX_BUDGET.
        epochs = max(items[i][1].epochs for i in members)
        per_item = 2 * (_block_size(epochs) + 1) * STATE_DIM * STATE_DIM * WIDE_BYTES
        step = max(1, MATRIX_BUDGET // per_item)
        for lo in range(0, len(members), step):
            chunk = members[lo : lo + step]
            descended = _descend([items[i] for i in chunk], extended)
            for i, outcome in zip(chunk, descended, strict=True):
                outcomes[i] = outcome


def _unfit(moments: Moments, options: FitOptions) -> FitError | None:
    """Why the item cannot be descended (its options out of range, or data whose curvature
    or smallest cost is beyond float64), or None."""
    try:
        options.validate()
        if not options.standardize and not _hessian_is_finite(moments, options.l2):
            raise DataError(
                "x values are too large for the descent: the curvature of the cost "
                "overflows float64 (use standardize, or scale the data)",
                field="x",
            )
        if options.standardize and not moments.syy > 0:
            raise DataError(
                "y is constant, so it cannot be standardized (set standardize to false)",
                field="y",
            )
        _check_representable(moments)
    except FitError as error:
        return error
    return None


def _hessian_is_finite(moments: Moments, l2: float) -> bool:
    """Whether 2 (vx + l2 + mean_x^2), the largest Hessian entry, is a float64."""
    try:  # moments.vx, without NumPy's error-state machinery (this runs for every item)
        vx = math.ldexp(moments.sxx / moments.sum_w, 2 * moments.x_exponent)
    except OverflowError:
        return False
    return math.isfinite(2 * (vx + l2 + moments.mean_x * moments.mean_x))


def _check_representable(moments: Moments) -> None:
    """The smallest possible cost must be a float64, or no answer can be reported."""
    try:
        math.ldexp(moments.min_cost, 2 * moments.y_exponent)
    except OverflowError:
        raise DataError(
            "y values are too large: even the least-squares line's mean squared error "
            f"(about 2^{math.frexp(moments.min_cost)[1] + 2 * moments.y_exponent}) overflows "
            "float64 (scale y first)",
            field="y",
        ) from None


def _block_size(epochs: int) -> int:
    """The power of two at or above isqrt(epochs + 1) (at least 8)."""
    return max(8, 1 << (math.isqrt(epochs + 1) - 1).bit_length())


def _descend(
    items: Sequence[tuple[Moments, FitOptions]], extended: bool
) -> list[FitResult | FitError]:
    count = len(items)
    # Overflow is expected (a diverging rule, a start far out) and is checked for explicitly.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        coefficients, step, s0 = prepare(items, extended=extended)
        block = _block_size(int(coefficients.epochs.max()))
        blocks = int(coefficients.epochs.max()) // block + 1
        walk = Trajectory(coefficients, step, s0, block, blocks)

        epochs_run = coefficients.epochs.copy()
        stopped = np.zeros(count, dtype=bool)
        # The first non-finite epoch of the whole run: a tolerance met before it stops the
        # run in time, one met at or after it comes too late (the run has diverged), so
        # the scan goes no further.
        diverged_at = walk.first_nonfinite(epochs_run)
        tolerant = [i for i, (_, o) in enumerate(items) if o.tolerance is not None]
        if tolerant:
            idx = np.array(tolerant, dtype=np.int64)
            tol = np.array([items[i][1].tolerance for i in tolerant], dtype=np.float64)
            last = np.where(diverged_at[idx] >= 0, diverged_at[idx] - 1, epochs_run[idx])
            first = walk.first_below(idx, tol, last)
            stopped[idx] = first >= 0
            epochs_run[idx] = np.where(first >= 0, first, epochs_run[idx])
            diverged_at[idx] = np.where(first >= 0, -1, diverged_at[idx])
        final, m, b, cost = walk.points(np.arange(count), epochs_run)
        grad = coefficients.gradient_norm(np.arange(count), final)
        # A gradient too large for float64 at a finite point has diverged all the same.
        diverged_at = np.where((diverged_at < 0) & ~np.isfinite(grad), epochs_run, diverged_at)

    optimum_cost = coefficients.optimum_cost()
    out: list[FitResult | FitError] = []
    for i, (moments, options) in enumerate(items):
        bound = float(coefficients.bound[i])
        unrepresentable = _unrepresentable_optimum(
            float(coefficients.m_star[i]), float(coefficients.b_star[i]), moments
        )
        if unrepresentable is not None:
            out.append(unrepresentable)
            continue
        if diverged_at[i] == 0:  # the start itself: no learning rate is to blame
            large_m = abs(options.initial_m) * max(1.0, abs(moments.mean_x))
            field = "initial_m" if large_m >= abs(options.initial_b) else "initial_b"
            out.append(
                ParameterError(
                    f"the cost at the starting point (initial_m {options.initial_m:g}, "
                    f"initial_b {options.initial_b:g}) overflows float64: start nearer the "
                    "data's scale",
                    field=field,
                )
            )
            continue
        if diverged_at[i] >= 0:
            out.append(
                DivergedError(
                    epoch=int(diverged_at[i]),
                    learning_rate=options.learning_rate,
                    max_stable_learning_rate=bound,
                )
            )
            continue
        history = None
        if options.history_points:
            k = history_epochs(int(epochs_run[i]), options.history_points, options.history_spacing)
            item = np.full(k.size, i, dtype=np.int64)
            _, hm, hb, hc = walk.points(item, k)
            history = History(epoch=k, m=hm, b=hb, cost=hc)
        optimum = Optimum(
            m=float(coefficients.m_star[i]),
            b=float(coefficients.b_star[i]),
            cost=float(optimum_cost[i]),
        )
        out.append(
            FitResult(
                m=float(m[i]),
                b=float(b[i]),
                cost=float(cost[i]),
                epochs_run=int(epochs_run[i]),
                stop_reason="tolerance" if stopped[i] else "epochs",
                gradient_norm=float(grad[i]),
                n=moments.n,
                optimum=optimum,
                max_stable_learning_rate=bound,
                warnings=warnings_for(
                    moments,
                    options,
                    bound,
                    stopped=bool(stopped[i]),
                    m=float(m[i]),
                    b=float(b[i]),
                    cost=float(cost[i]),
                    optimum=optimum,
                ),
                history=history,
            )
        )
    return out


def _unrepresentable_optimum(m_star: float, b_star: float, moments: Moments) -> DataError | None:
    """The error for an optimum (part of every answer) beyond float64, else None.

    The slope m* = 2^(ey-ex) m*' overflows when y's spread is far larger than x's (y around
    1e144 over x around 1e-165: slopes near 1e309); the intercept b* = mean_y - m* mean_x
    when that slope meets a large mean x.
    """
    if math.isfinite(m_star) and math.isfinite(b_star):
        return None
    if not math.isfinite(m_star):
        power = math.frexp(moments.sxy / moments.sxx)[1] + moments.y_exponent - moments.x_exponent
        return DataError(
            f"the least-squares slope (about 2^{power}) overflows float64: y's spread is too "
            "large for x's (scale x or y first)",
            field="y",
        )
    return DataError(
        "the least-squares intercept overflows float64: the slope times mean x is beyond "
        "float64 (centre x or scale y first)",
        field="x",
    )
