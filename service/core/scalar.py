"""The small-problem path: plain gradient descent on one item with Python floats and
compiled loops, no NumPy on 2x2 arrays.

For the request almost everyone sends (a few hundred points, plain gd, the final point and
perhaps a history) NumPy's fixed cost per call on 2x2 arrays dominates. This path does the
same mathematics as `service.core.descent` on Python floats and in
`service.core.kernels.trajectory_points`:

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

import numpy as np
from numpy.typing import NDArray

from service.core import kernels
from service.core.advice import warnings_for
from service.core.history import history_epochs
from service.core.moments import Moments, height_error
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum, StopReason

__all__ = ["descend_small"]

START_LIMIT = 1e250
"""Starts (and their cost) beyond this go to the vectorized path, which locates overflow."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Matrix = tuple[float, float, float, float]  # (a00, a01, a10, a11)
Vector = tuple[float, float]


def _one_minus_twice(lam: float, mx: float) -> float:
    """1 - 2 lam mx^2 rounded once (as `service.core.iteration` does)."""
    plain = 1 - 2 * lam * mx * mx
    if math.isfinite(plain) and abs(plain) < 0.5:
        return float(1 - 2 * Fraction(lam) * Fraction(mx) ** 2)
    return plain


class _Item:
    """The per-item coefficients of `service.core.coefficients.prepare`, for one item in
    float64's comfortable range (x_exponent = y_exponent = 0), with Python floats."""

    def __init__(self, moments: Moments, options: FitOptions) -> None:
        n = moments.sum_w  # the divisor that turns the sums into means (n unweighted)
        mean_x, mean_y = moments.mean_x, moments.mean_y
        sxx, sxy, syy = moments.sxx, moments.sxy, moments.syy
        l2, lr, std = options.l2, options.learning_rate, options.standardize
        m0, b0 = options.initial_m, options.initial_b
        vx = sxx / n
        root_vx = math.sqrt(vx)
        root_vy = math.sqrt(syy / n)
        m_ls = sxy / sxx
        if std:
            scale_m, scale_c = root_vy / root_vx, root_vy
            m_star = m_ls / (1 + l2)
            mx, lam_w = 0.0, lr * (1 + l2)
            self.g = (2 * (1 + l2), 0.0, 2.0)
            h11, h12, h_gap = 2 * (1 + l2), 0.0, 2 * l2
        else:
            scale_m = scale_c = 1.0
            m_star = (sxy / n) / (vx + l2) if l2 > 0 else m_ls
            mx, lam_w = mean_x, lr * vx + lr * l2
            self.g = (2 * (vx + l2), 2 * mean_x, 2.0)
            h11, h12, h_gap = (
                2 * (vx + mean_x * mean_x + l2),
                2 * mean_x,
                2 * ((vx - 1) + mean_x * mean_x + l2),
            )
        b_star = mean_y - m_star * mean_x
        self.m_star, self.b_star = m_star, b_star
        self.root_vx, self.min_cost, self.slope_gap = root_vx, moments.min_cost, m_star - m_ls
        u_m = (m0 - m_star) / scale_m if std else m0 - m_star
        self.u0: Vector = (u_m, height_error(moments, m0, b0) / scale_c)
        self.bound = _stable_bound(h11, h12, h_gap, options.update == "sequential")
        lam = lr
        if options.update == "sequential":
            e1 = (-2 * lam_w, -2 * lam * mx, -2 * mx * lam_w, -2 * lam * mx * mx)
            two_lr = 2 * lr
            keep = 1 - two_lr
            self.step: Matrix = (e1[0], e1[1], e1[2] * keep, e1[3] * keep - two_lr)
            self.b_row: Vector = (-two_lr * e1[2], -two_lr * _one_minus_twice(lam, mx))
        else:
            self.step = (-2 * lam_w, -2 * lam * mx, -2 * mx * lam_w, -2 * (lr + lam * mx * mx))
            self.b_row = (0.0, -2 * lr)
        d = self.step
        self.a: Matrix = (1 + d[0], d[1], d[2], 1 + d[3])
        self.view = (
            scale_m, scale_c, m_star, b_star, mean_x, root_vx, self.slope_gap, self.min_cost
        )  # fmt: skip
        self.start = (m0, b0, 1.0 if std else 0.0)
        self.parameters = kernels.trajectory_parameters(
            self.a, self.step, self.b_row, self.u0, self.view, self.start
        )

    def points(self, epochs: IntArray) -> FloatArray:
        """(u_m, u_c, m, b, cost) at each of the epochs, shape (5, count): rows
        `kernels.U_M` .. `kernels.COST`; m and b from the better-conditioned view."""
        return kernels.trajectory_points(self.parameters, epochs)

    def point(self, k: int) -> tuple[Vector, float, float, float]:
        """(u, m, b, cost) at epoch k (u_k = A^k u_0 by repeated squaring)."""
        u_m, u_c, m, b, cost = kernels.trajectory_point(self.parameters, k)
        return (u_m, u_c), m, b, cost

    def gradient_norm(self, u: Vector) -> float:
        g_mm, g_mc, g_cc = self.g
        return math.hypot(g_mm * u[0] + g_mc * u[1], g_cc * u[1])


def _stable_bound(h11: float, h12: float, gap: float, sequential: bool) -> float:
    """`service.core.iteration.max_stable_learning_rates` for plain gd, on Python floats."""
    h22 = 2.0
    if not sequential:
        return 2 / (0.5 * (h11 + h22) + math.hypot(0.5 * gap, h12))
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
    return min(1 / h11 + 1 / h22, root)


def _handles(moments: Moments, options: FitOptions) -> bool:
    return (
        options.optimizer == "gd"
        and moments.x_exponent == 0
        and moments.y_exponent == 0
        and abs(options.initial_m) <= START_LIMIT
        and abs(options.initial_b) <= START_LIMIT
    )


def descend_small(moments: Moments, options: FitOptions) -> FitResult | None:
    """The fit of one item by this path, or None when the item is for the vectorized path.

    The item's options are valid and its data representable (`fit_batch` checked them).
    """
    if not _handles(moments, options):
        return None
    item = _Item(moments, options)
    stable = options.learning_rate < item.bound
    epochs = options.epochs
    start_cost = item.point(0)[3]
    if not (math.isfinite(start_cost) and start_cost <= START_LIMIT):
        return None
    if not stable:  # growth: the vectorized path locates any overflow on the way
        return None
    epochs_run, stopped = epochs, False
    if options.tolerance is not None:
        tol = options.tolerance
        if options.update == "sequential":  # its gradient norm may grow before it shrinks
            first = kernels.first_below(item.parameters, item.g, tol, epochs)
            # The answer's point is the final point's own (repeated squaring), which may
            # differ from the table's in the last bits: its norm decides, so that a run
            # stopped by the tolerance reports a norm within it.
            while first >= 0 and item.gradient_norm(item.point(first)[0]) > tol:
                next_epoch = first + 1
                first = (
                    kernels.first_below(item.parameters, item.g, tol, epochs, next_epoch)
                    if next_epoch <= epochs
                    else -1
                )
            if first >= 0:
                epochs_run, stopped = first, True
        elif item.gradient_norm(item.u0) <= tol:
            epochs_run, stopped = 0, True
        elif item.gradient_norm(item.point(epochs)[0]) <= tol:
            low, high = 0, epochs  # norm(low) > tol >= norm(high); the norm never grows
            while high - low > 1:
                middle = (low + high) // 2
                if item.gradient_norm(item.point(middle)[0]) <= tol:
                    high = middle
                else:
                    low = middle
            epochs_run, stopped = high, True
    u, m, b, cost = item.point(epochs_run)
    grad = item.gradient_norm(u)
    if not (math.isfinite(m) and math.isfinite(b) and math.isfinite(cost) and math.isfinite(grad)):
        return None  # the vectorized path locates the first non-finite epoch
    history = None
    if options.history_points:
        recorded = history_epochs(epochs_run, options.history_points, options.history_spacing)
        table = item.points(recorded)
        # The last entry is the answer itself, with its bits (the table's own way to an epoch
        # may round differently from the final point's repeated squaring).
        table[kernels.M, -1], table[kernels.B, -1], table[kernels.COST, -1] = m, b, cost
        if not np.isfinite(table[kernels.M :]).all():
            return None
        history = History(
            epoch=recorded, m=table[kernels.M], b=table[kernels.B], cost=table[kernels.COST]
        )
    spread = item.root_vx * item.slope_gap
    optimum = Optimum(item.m_star, item.b_star, item.min_cost + spread * spread)
    warnings = warnings_for(
        moments, options, item.bound, stopped=stopped, m=m, b=b, cost=cost, optimum=optimum
    )
    stop_reason: StopReason = "tolerance" if stopped else "epochs"
    # (positional: a frozen dataclass's keywords cost a microsecond on this path)
    return FitResult(
        m, b, cost, epochs_run, stop_reason, grad, moments.n, optimum, item.bound, warnings,
        history,
    )  # fmt: skip
