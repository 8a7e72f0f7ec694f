"""The small-problem path: plain gradient descent on one item in compiled code (Numba), no
NumPy on 2x2 arrays.

For the request almost everyone sends (a few hundred points, plain gd, the final point and
perhaps a history) NumPy's fixed cost per call on 2x2 arrays dominates, and so does the
Python between the calls: in a server every line of it runs with cold caches. This path
does the same mathematics as `service.core.descent` in compiled functions (`_small_fit`:
the coefficients, the tolerance scan, the final point and the numbers of the advice), with
`service.core.kernels.trajectory_points` for a history:

- the iteration matrix A = I + D of the rule on the error u = (m - m*, c - c*) (see
  `service.core.iteration`; c = b + m mean_x), 2x2 for plain gd, and the state at any
  epoch k as u_k = A^k u_0: the final point by repeated squaring, O(log k) 2x2 products;
  a history of many epochs from tables in blocks of B ~ sqrt(epochs) (A^r and the block
  starts (A^B)^j u_0), O(sqrt(epochs)) products in all and O(1) per recorded epoch, as the
  vectorized path's `service.core.trajectory` does; the history's last entry is the final
  point itself;
- where m or b is far smaller than the terms of m* + u_m or b* + u_c - mean_x u_m, the
  displacement from the start instead: with S_k = A^0 + ... + A^(k-1),
  m_k - m_0 = (D S_k u_0)_m and b_k - b_0 = r S_k u_0, r the row of b's own step
  (-2 lr (0, 1) simultaneous; sequential: b's gradient at the new m);
- `tolerance` (stable rate): under the simultaneous rule the gradient in (m, b) evolves as
  g_{k+1} = (I - lr H) g_k with H the symmetric Hessian, so for lr below the stable bound
  its Euclidean norm never grows; the first epoch at or below the tolerance is found by
  checking the last epoch and bisecting, O(log^2 epochs) 2x2 products. The sequential
  rule's map is not symmetric and its gradient norm may grow for a while before it shrinks:
  every epoch is checked in turn from the same tables (`kernels.first_below`), a few
  nanoseconds each.

`fit_points` goes one step further for unweighted raw points: the moments
(`kernels.small_moments`), the descent and the statistics (`statistics.ols_numbers`, the
returned line's r2, rmse and mae) in one compiled call, then only the result's objects, the
warnings' text and the p-values (SciPy) in Python. It calls the very functions the steps
call one after another, in the same order, so the bits are theirs.

It takes only what it does as exactly as the NumPy path (the contract's yardstick,
docs/algorithm.md): data in float64's comfortable range (no power-of-two scaling), plain
gd, a stable rate, a start well inside float64. Anything else
returns None and the caller hands the item to the vectorized path. `fit` and `fit_batch`
both ask this path first for every item, so an item's answer does not depend on the
company it keeps.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core import kernels
from service.core.advice import far_numbers, hessian_numbers, plain_gd_gaps, warnings_for
from service.core.errors import ParameterError
from service.core.history import history_epochs
from service.core.kernels import compiled
from service.core.moments import SMALL_POINTS, Moments, height_error
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum, StopReason
from service.core.statistics import (
    QUIET_REACH,
    FitStatistics,
    line_r2,
    ols_numbers,
    t_quantile,
    with_p_values,
)

__all__ = ["descend_small", "fit_points"]

START_LIMIT = 1e250
"""Starts (and their cost) beyond this go to the vectorized path, which locates overflow."""

GD, MOMENTUM, NESTEROV = range(3)
"""The optimizers, as compiled code reads them (`OPTIMIZERS`)."""
OPTIMIZERS = {"gd": GD, "momentum": MOMENTUM, "nesterov": NESTEROV}

FLOAT64 = np.dtype(np.float64)
"""float64's dtype (NumPy's built-in dtypes are singletons: an identity check is enough)."""
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Matrix = tuple[float, float, float, float]  # (a00, a01, a10, a11)
Vector = tuple[float, float]


@compiled
def _plain_keep(lam: float, mx: float) -> tuple[float, bool]:
    """1 - 2 lam mx^2 in float64, and whether that is it rounded once: not near 0, where
    its terms cancel (`_one_minus_twice` then takes it from fractions)."""
    plain = 1 - 2 * lam * mx * mx
    return plain, not (math.isfinite(plain) and abs(plain) < 0.5)


def _one_minus_twice(lam: float, mx: float) -> float:
    """1 - 2 lam mx^2 rounded once (as `service.core.iteration` does)."""
    plain, rounded_once = _plain_keep(lam, mx)
    if rounded_once:
        return float(plain)
    return float(1 - 2 * Fraction(lam) * Fraction(mx) ** 2)


@compiled
def item_coefficients(
    sum_w: float, mean_x: float, mean_y: float, sxx: float, sxy: float, syy: float,
    min_cost: float, height: float, l2: float, lr: float, standardize: bool, m0: float,
    b0: float, sequential: bool, b_keep: float, mu: float, optimizer: int, p: FloatArray,
) -> tuple[float, float, float, float]:  # fmt: skip
    """The per-item coefficients of `service.core.coefficients.prepare` for one item in
    float64's comfortable range (x_exponent = y_exponent = 0), compiled: the packed
    parameters into `p` (`kernels.pack_parameters`), and (g_mm, g_mc, g_cc, the stable
    bound).

    `height` is c_0 - c* (`height_error`), `b_keep` the sequential rule's 1 - 2 lr mx^2
    rounded once (`_one_minus_twice`). The gradient in (m, b) is G u = (g_mm u_m + g_mc u_c,
    g_cc u_c) on the error u = (m - m*, c - c*) in the units the descent runs in. The
    packed A, D and b's row are plain gd's; the momentum optimizers (`optimizer`, with
    `mu`) read only the start, u_0 and the view (`service.core.momentum`), and the bound is
    their rule's."""
    n = sum_w  # the divisor that turns the sums into means (n unweighted)
    vx = sxx / n
    root_vx = math.sqrt(vx)
    root_vy = math.sqrt(syy / n)
    m_ls = sxy / sxx
    if standardize:
        scale_m, scale_c = root_vy / root_vx, root_vy
        m_star = m_ls / (1 + l2)
        mx, lam_w = 0.0, lr * (1 + l2)
        g_mm, g_mc, g_cc = 2 * (1 + l2), 0.0, 2.0
        h11, h12, h_gap = 2 * (1 + l2), 0.0, 2 * l2
    else:
        scale_m = scale_c = 1.0
        m_star = (sxy / n) / (vx + l2) if l2 > 0 else m_ls
        mx, lam_w = mean_x, lr * vx + lr * l2
        g_mm, g_mc, g_cc = 2 * (vx + l2), 2 * mean_x, 2.0
        h11 = 2 * (vx + mean_x * mean_x + l2)
        h12 = 2 * mean_x
        h_gap = 2 * ((vx - 1) + mean_x * mean_x + l2)
    b_star = mean_y - m_star * mean_x
    u_m = (m0 - m_star) / scale_m if standardize else m0 - m_star
    lam = lr
    if sequential:
        e1 = (-2 * lam_w, -2 * lam * mx, -2 * mx * lam_w, -2 * lam * mx * mx)
        two_lr = 2 * lr
        keep = 1 - two_lr
        step = (e1[0], e1[1], e1[2] * keep, e1[3] * keep - two_lr)
        b_row = (-two_lr * e1[2], -two_lr * b_keep)
    else:
        step = (-2 * lam_w, -2 * lam * mx, -2 * mx * lam_w, -2 * (lr + lam * mx * mx))
        b_row = (0.0, -2 * lr)
    kernels.pack_parameters(
        p, (1 + step[0], step[1], step[2], 1 + step[3]), step, b_row, (u_m, height / scale_c),
        (scale_m, scale_c, m_star, b_star, mean_x, root_vx, m_star - m_ls, min_cost),
        (m0, b0, 1.0 if standardize else 0.0),
    )  # fmt: skip
    return g_mm, g_mc, g_cc, _stable_bound(h11, h12, h_gap, sequential, mu, optimizer)


@compiled
def _stable_bound(
    h11: float, h12: float, gap: float, sequential: bool, mu: float, optimizer: int
) -> float:
    """`service.core.iteration.max_stable_learning_rates` for one item, compiled (`mu` is
    read by the momentum optimizers only)."""
    h22 = 2.0
    if not sequential:
        lam = 0.5 * (h11 + h22) + math.hypot(0.5 * gap, h12)
        if optimizer == MOMENTUM:
            return 2 * (1 + mu) / lam
        if optimizer == NESTEROV:
            return 2 * (1 + mu) / ((1 + 2 * mu) * lam)
        return 2 / lam
    s = h11 + h22
    size, cross = abs(gap), 2 * abs(h12)
    difference, total = size - cross, size + cross
    disc = difference * total
    if difference < 0:
        root = math.inf
    elif math.isfinite(disc):
        root = 4 / (s + math.sqrt(disc))
    else:  # curvatures above 1e154: as `service.core.iteration` does
        root = 4 / (s + math.sqrt(difference) * math.sqrt(total))
    sum_of_inverses = 1 / h11 + 1 / h22
    return root if root < sum_of_inverses else sum_of_inverses


@compiled
def _norm(g_mm: float, g_mc: float, g_cc: float, u_m: float, u_c: float) -> float:
    """|G u|, the gradient norm at the error u."""
    return math.hypot(g_mm * u_m + g_mc * u_c, g_cc * u_c)


@compiled
def _descend(
    p: FloatArray, g_mm: float, g_mc: float, g_cc: float, epochs: int, tolerance: float,
    sequential: bool,
) -> tuple[int, bool, float, float, float, float, float, float]:  # fmt: skip
    """(epochs run, stopped by the tolerance, u_m, u_c, m, b, cost, gradient norm) of the
    final point; `tolerance` nan: none. See the module docstring for the tolerance."""
    epochs_run, stopped = epochs, False
    if not math.isnan(tolerance):
        tol = tolerance
        if sequential:  # its gradient norm may grow before it shrinks
            first = kernels._first_below(p, g_mm, g_mc, g_cc, tol, 0, epochs)
            # The answer's point is the final point's own (repeated squaring), which may
            # differ from the table's in the last bits: its norm decides, so that a run
            # stopped by the tolerance reports a norm within it.
            while first >= 0:
                u_m, u_c, _, _, _ = kernels._trajectory_point(p, first)
                if _norm(g_mm, g_mc, g_cc, u_m, u_c) <= tol:
                    break
                first = (
                    kernels._first_below(p, g_mm, g_mc, g_cc, tol, first + 1, epochs)
                    if first < epochs
                    else -1
                )
            if first >= 0:
                epochs_run, stopped = first, True
        elif _norm(g_mm, g_mc, g_cc, p[10], p[11]) <= tol:
            epochs_run, stopped = 0, True
        else:
            u_m, u_c, _, _, _ = kernels._trajectory_point(p, epochs)
            if _norm(g_mm, g_mc, g_cc, u_m, u_c) <= tol:
                low, high = 0, epochs  # norm(low) > tol >= norm(high); the norm never grows
                while high - low > 1:
                    middle = (low + high) // 2
                    u_m, u_c, _, _, _ = kernels._trajectory_point(p, middle)
                    if _norm(g_mm, g_mc, g_cc, u_m, u_c) <= tol:
                        high = middle
                    else:
                        low = middle
                epochs_run, stopped = high, True
    u_m, u_c, m, b, cost = kernels._trajectory_point(p, epochs_run)
    return epochs_run, stopped, u_m, u_c, m, b, cost, _norm(g_mm, g_mc, g_cc, u_m, u_c)


@compiled
def _small_fit(
    sum_w: float, mean_x: float, mean_y: float, lo_x: float, lo_y: float, sxx: float,
    sxy: float, syy: float, min_cost: float, height: float, l2: float, lr: float,
    standardize: bool, m0: float, b0: float, sequential: bool, b_keep: float, epochs: int,
    tolerance: float, p: FloatArray,
) -> tuple[
    int, float, int, bool, float, float, float, float, float, float, float, bool, float,
    float, float, bool, float, float, float,
]:  # fmt: skip
    """The whole small fit in one compiled call, its packed parameters into `p`
    (`kernels.pack_parameters`): (status, stable bound, epochs run, stopped, m, b, cost, gradient
    norm, the optimum's m, b and cost, `advice.far_numbers`' four, `advice.plain_gd_gaps`'
    four when far).

    status: `FITTED`; `VECTORIZED` (the vectorized path decides: an unstable rate, a start
    or an answer beyond what this path takes); `NEEDS_HEIGHT` (`height` was nan, "compute it
    here", and the start's height needs fractions: call again with `height_error`'s)."""
    nan = math.nan
    if math.isnan(height):
        exact, height = kernels.line_height(m0, b0, mean_x, mean_y, lo_x, lo_y)
        if not exact:
            return _unfitted(NEEDS_HEIGHT)
    g_mm, g_mc, g_cc, bound = item_coefficients(
        sum_w, mean_x, mean_y, sxx, sxy, syy, min_cost, height, l2, lr, standardize, m0, b0,
        sequential, b_keep, 0.0, GD, p,
    )  # fmt: skip
    start_cost = kernels._trajectory_point(p, 0)[4]
    # An unstable rate grows: the vectorized path locates any overflow on the way.
    usable = math.isfinite(start_cost) and start_cost <= START_LIMIT and lr < bound
    if usable:
        epochs_run, stopped, _, _, m, b, cost, grad = _descend(
            p, g_mm, g_mc, g_cc, epochs, tolerance, sequential
        )
        usable = (
            math.isfinite(m) and math.isfinite(b) and math.isfinite(cost) and math.isfinite(grad)
        )
    if not usable:  # the vectorized path locates the first non-finite epoch
        return _unfitted(VECTORIZED)
    m_star, b_star, optimum_cost = kernels.optimum(p)
    far, gap_m, gap_b, excess = far_numbers(
        sum_w, sxx, syy, mean_y, 0, 0, m, b, cost, m_star, b_star, optimum_cost
    )
    gaps_done, now_gap, fastest, best_gap = False, nan, nan, nan
    if far:
        h11, h12, lowest, highest = hessian_numbers(sum_w, sxx, 0, mean_x, l2, standardize)
        gaps_done, now_gap, fastest, best_gap = plain_gd_gaps(
            h11, h12, lowest, highest, sequential, lr, bound
        )
    return (
        FITTED, bound, epochs_run, stopped, m, b, cost, grad, m_star, b_star, optimum_cost,
        far, gap_m, gap_b, excess, gaps_done, now_gap, fastest, best_gap,
    )  # fmt: skip


FITTED, VECTORIZED, NEEDS_HEIGHT = range(3)
"""The statuses of `_small_fit`."""


@compiled
def _unfitted(status: int) -> tuple[Any, ...]:
    """`_small_fit`'s answer with `status` and nothing else."""
    nan = math.nan
    return (
        status, nan, 0, False, nan, nan, nan, nan, nan, nan, nan, False, nan, nan,
        nan, False, nan, nan, nan,
    )  # fmt: skip


def within_reach(moments: Moments, options: FitOptions) -> bool:
    """Whether the small paths (this one for plain gd, `service.core.momentum`) take the
    item's data and start: data in float64's comfortable range (no power-of-two scaling)
    and a start within `START_LIMIT`."""
    return (
        moments.x_exponent == 0
        and moments.y_exponent == 0
        and abs(options.initial_m) <= START_LIMIT
        and abs(options.initial_b) <= START_LIMIT
    )


Arguments = tuple[
    float, float, float, float, float, float, float, float, float, float, float, float, bool,
    float, float, bool, float, int, float,
]  # fmt: skip
"""`_small_fit`'s arguments but the last (the parameters' array)."""


def _arguments(moments: Moments, options: FitOptions, height: float) -> Arguments:
    """`_small_fit`'s arguments for the item (`height` nan: computed there)."""
    sequential = options.update == "sequential"
    mx = 0.0 if options.standardize else moments.mean_x
    return (
        moments.sum_w, moments.mean_x, moments.mean_y, moments.mean_x_lo, moments.mean_y_lo,
        moments.sxx, moments.sxy, moments.syy, moments.min_cost, height, options.l2,
        options.learning_rate, options.standardize, options.initial_m, options.initial_b,
        sequential, _one_minus_twice(options.learning_rate, mx) if sequential else 0.0,
        options.epochs, math.nan if options.tolerance is None else options.tolerance,
    )  # fmt: skip


def descend_small(moments: Moments, options: FitOptions) -> FitResult | None:
    """The fit of one item by this path, or None when the item is for the vectorized path.

    The item's options are valid and its data representable (`fit_batch` checked them).
    """
    if options.optimizer != "gd" or not within_reach(moments, options):
        return None
    parameters = np.empty(kernels.PARAMETERS)
    answer = _small_fit(*_arguments(moments, options, math.nan), parameters)
    if answer[0] == NEEDS_HEIGHT:
        height = height_error(moments, options.initial_m, options.initial_b)
        answer = _small_fit(*_arguments(moments, options, height), parameters)
    return _result(moments, options, answer, parameters)


def _result(
    moments: Moments,
    options: FitOptions,
    answer: tuple[Any, ...],
    parameters: FloatArray,
    statistics: FitStatistics | None = None,
) -> FitResult | None:
    """The `FitResult` of `_small_fit`'s answer and `parameters` (None where the vectorized
    path decides)."""
    (
        status, bound, epochs_run, stopped, m, b, cost, grad, m_star, b_star,
        optimum_cost, far, gap_m, gap_b, excess, gaps_done, now_gap, fastest, best_gap,
    ) = answer  # fmt: skip
    if status != FITTED:
        return None
    history = None
    if options.history_points:
        recorded = history_epochs(epochs_run, options.history_points, options.history_spacing)
        table = kernels.trajectory_points(parameters, recorded)
        # The last entry is the answer itself, with its bits (the table's own way to an epoch
        # may round differently from the final point's repeated squaring).
        table[kernels.M, -1], table[kernels.B, -1], table[kernels.COST, -1] = m, b, cost
        if not np.isfinite(table[kernels.M :]).all():
            return None
        history = History(
            epoch=recorded, m=table[kernels.M], b=table[kernels.B], cost=table[kernels.COST]
        )
    optimum = Optimum(m_star, b_star, optimum_cost)
    judged = (
        (gap_m, gap_b, excess) if far else None,
        (now_gap, fastest, best_gap) if gaps_done else None,
    )
    warnings = warnings_for(
        moments, options, bound, stopped=stopped, m=m, b=b, cost=cost, optimum=optimum,
        judged=judged,
    )  # fmt: skip
    stop_reason: StopReason = "tolerance" if stopped else "epochs"
    # (positional: a frozen dataclass's keywords cost a microsecond on this path)
    return FitResult(
        m, b, cost, epochs_run, stop_reason, grad, moments.n, optimum, bound, warnings, history,
        statistics,
    )  # fmt: skip


@compiled
def _fit_points(
    x: FloatArray, y: FloatArray, l2: float, lr: float, standardize: bool, m0: float,
    b0: float, sequential: bool, epochs: int, tolerance: float, quantile: float,
    p: FloatArray,
) -> tuple[Any, ...]:  # fmt: skip
    """`fit_points` in one compiled call (the packed parameters into `p`): (status, the
    moments' eight numbers (mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y),
    `_small_fit`'s answer,
    `statistics.ols_numbers`' answer, r2, rmse, mae of the returned line, the remainder of sxx
    (`kernels.square_remainder`, for the moments' `sxx_lo`)); status
    `VECTORIZED` wherever `compute_moments`, `descent.fit_moments` and
    `statistics.with_statistics` are to decide (then nothing else is meaningful)."""
    nan = math.nan
    ok, mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y = kernels._small_moments(x, y)
    n = x.size
    sum_w = float(n)
    sums = (mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y)
    nothing = (nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    # `descent._unfit`'s checks of the data (the caller checked the options)
    if standardize:
        ok = ok and syy > 0
    else:
        ok = ok and math.isfinite(2 * (sxx / sum_w + l2 + mean_x * mean_x))
    b_keep, rounded_once = _plain_keep(lr, 0.0 if standardize else mean_x)
    if sequential and not rounded_once:
        ok = False  # rounded once from fractions (`_one_minus_twice`)
    if not ok:
        return VECTORIZED, sums, _unfitted(VECTORIZED), nothing, nan, nan, nan, nan
    answer = _small_fit(
        sum_w, mean_x, mean_y, lo_x, lo_y, sxx, sxy, syy, min_cost, nan, l2, lr, standardize,
        m0, b0, sequential, b_keep, epochs, tolerance, p,
    )  # fmt: skip
    if answer[0] != FITTED:
        return VECTORIZED, sums, answer, nothing, nan, nan, nan, nan
    m, b, cost = answer[4], answer[5], answer[6]
    # `statistics.with_statistics`: the returned line's r2, rmse and mae
    exact, c = kernels.line_height(m, b, mean_x, mean_y, 0.0, 0.0)
    reach = abs(m) * math.sqrt(sxx) + math.sqrt(syy) + abs(c)
    if not (exact and reach < QUIET_REACH):
        return VECTORIZED, sums, answer, nothing, nan, nan, nan, nan
    r2 = line_r2(cost, syy, sum_w, 0)
    mae = kernels._absolute_residual_sum(x, y, m, c, mean_x, mean_y) / n
    ols = ols_numbers(n, sum_w, mean_x, mean_y, sxx, sxy, syy, min_cost, 0, 0, 0, quantile)
    sxx_lo = kernels.square_remainder(x, mean_x, lo_x, sxx)
    return FITTED, sums, answer, ols, r2, math.sqrt(cost), mae, sxx_lo


def fit_points(
    x: FloatArray, y: FloatArray, options: FitOptions, confidence_level: float
) -> tuple[Moments, FitResult] | None:
    """The moments of unweighted points, their fit and its statistics in one compiled call,
    bit for bit what `compute_moments`, `descent.fit_moments` and
    `statistics.with_statistics` (`confidence_level`) give them, which they compute from the
    same compiled functions; or None, where those are to decide (anything this path does
    not take, and every error).

    `x` and `y` are float64 arrays of shape (n,)."""
    n = x.size
    if not (
        x.dtype is FLOAT64
        and y.dtype is FLOAT64
        and x.ndim == y.ndim == 1
        and 2 <= n == y.size <= SMALL_POINTS
        and options.optimizer == "gd"
        and abs(options.initial_m) <= START_LIMIT
        and abs(options.initial_b) <= START_LIMIT
        and 0 < confidence_level < 1
    ):
        return None
    try:
        options.validate()
    except ParameterError:
        return None
    parameters = np.empty(kernels.PARAMETERS)
    status, sums, answer, ols, r2, rmse, mae, sxx_lo = _fit_points(
        x, y, options.l2, options.learning_rate, options.standardize, options.initial_m,
        options.initial_b, options.update == "sequential", options.epochs,
        math.nan if options.tolerance is None else options.tolerance,
        t_quantile(n - 2, confidence_level) if n > 2 else math.nan, parameters,
    )  # fmt: skip
    if status != FITTED:
        return None
    mean_x, mean_y, sxx, sxy, syy, min_cost, lo_x, lo_y = sums
    moments = Moments(
        n, mean_x, mean_y, sxx, sxy, syy, min_cost, 0, 0, float(n), 0, lo_x, lo_y, sxx_lo
    )
    statistics = FitStatistics(
        None if math.isnan(r2) else r2,
        rmse,
        mae if math.isfinite(mae) else None,
        with_p_values(ols, n - 2, confidence_level),
    )
    result = _result(moments, options, answer, parameters, statistics)
    return None if result is None else (moments, result)


class _Item:
    """The compiled coefficients of one item (`item_coefficients`) as Python floats, with the
    kernels that read them: what `descend_small` works from, for inspection."""

    def __init__(self, moments: Moments, options: FitOptions) -> None:
        arguments = _arguments(
            moments, options, height_error(moments, options.initial_m, options.initial_b)
        )
        self.parameters = np.empty(kernels.PARAMETERS)
        sum_w, mean_x, mean_y, _, _, sxx, sxy, syy, min_cost, height, l2, lr, std, m0, b0 = (
            arguments[:15]
        )
        sequential, b_keep = arguments[15], arguments[16]
        g_mm, g_mc, g_cc, self.bound = item_coefficients(
            sum_w, mean_x, mean_y, sxx, sxy, syy, min_cost, height, l2, lr, std, m0, b0,
            sequential, b_keep, 0.0, GD, self.parameters,
        )  # fmt: skip
        self.g = (g_mm, g_mc, g_cc)
        values = self.parameters.tolist()
        self.a: Matrix = (values[0], values[1], values[2], values[3])
        self.u0: Vector = (values[10], values[11])
        self.view = tuple(values[12:20])
        self.m_star, self.b_star = values[14], values[15]
        self.start = (values[20], values[21], values[22])

    def points(self, epochs: IntArray) -> FloatArray:
        """(u_m, u_c, m, b, cost) at each of the epochs, shape (5, count): rows
        `kernels.U_M` .. `kernels.COST`; m and b from the better-conditioned view."""
        return kernels.trajectory_points(self.parameters, epochs)

    def point(self, k: int) -> tuple[Vector, float, float, float]:
        """(u, m, b, cost) at epoch k (u_k = A^k u_0 by repeated squaring)."""
        u_m, u_c, m, b, cost = kernels.trajectory_point(self.parameters, k)
        return (u_m, u_c), m, b, cost

    def gradient_norm(self, u: Vector) -> float:
        return float(_norm(*self.g, *u))
