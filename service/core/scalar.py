"""The small-problem path: plain gradient descent on one item with Python floats, no NumPy.

For the request almost everyone sends (a few hundred points, plain gd, the final point and
perhaps a short history) NumPy's fixed cost per call on 2x2 arrays dominates. This path
does the same mathematics as `service.core.descent` with Python floats on tuples:

- the iteration matrix A = I + D of the rule on the error u = (m - m*, c - c*) (see
  `service.core.iteration`; c = b + m mean_x), 2x2 for plain gd, and the state at any
  epoch k as u_k = A^k u_0 with A^k by repeated squaring, O(log k) 2x2 products (compiled:
  `service.core.kernels.matrix_power`);
- where m or b is far smaller than the terms of m* + u_m or b* + u_c - mean_x u_m, the
  displacement from the start instead: with S_k = A^0 + ... + A^(k-1) (doubled alongside,
  S_2n = S_n + A^n S_n), m_k - m_0 = (D S_k u_0)_m and b_k - b_0 = r S_k u_0, r the row
  of b's own step (-2 lr (0, 1) simultaneous; sequential: b's gradient at the new m);
- `tolerance` (simultaneous rule, stable rate): the gradient in (m, b) evolves as
  g_{k+1} = (I - lr H) g_k with H the symmetric Hessian, so for lr below the stable bound
  its Euclidean norm never grows; the first epoch at or below the tolerance is found by
  checking the last epoch and bisecting, O(log^2 epochs) 2x2 products.

It takes only what it does as exactly as the NumPy path (the contract's yardstick,
docs/algorithm.md): data in float64's comfortable range (no power-of-two scaling), plain
gd, a stable rate where `tolerance` is set, a short history, a start well inside float64.
Anything else returns None and the caller hands the item to the vectorized path. `fit`
and `fit_batch` both ask this path first for every item, so an item's answer does not
depend on the company it keeps.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from service.core import kernels
from service.core.advice import warnings_for
from service.core.moments import Moments, height_error
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum, StopReason

__all__ = ["SMALL_HISTORY", "descend_small"]

SMALL_HISTORY = 16
"""Most recorded epochs this path evaluates one by one; longer histories are vectorized."""
START_LIMIT = 1e250
"""Starts (and their cost) beyond this go to the vectorized path, which locates overflow."""
DIGITS_KEPT = 1e3
"""As `service.core.trajectory.DIGITS_KEPT`: the start's view is consulted beyond this."""
TINY = float(np.finfo(np.float64).smallest_normal)
"""The size whose eps-rounding is float64's subnormal spacing (`Coefficients.floors`)."""

Matrix = tuple[float, float, float, float]  # (a00, a01, a10, a11)
Vector = tuple[float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0)


def _times(a: Matrix, b: Matrix) -> Matrix:
    a00, a01, a10, a11 = a
    b00, b01, b10, b11 = b
    return (
        a00 * b00 + a01 * b10,
        a00 * b01 + a01 * b11,
        a10 * b00 + a11 * b10,
        a10 * b01 + a11 * b11,
    )


def _plus(a: Matrix, b: Matrix) -> Matrix:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def _apply(a: Matrix, v: Vector) -> Vector:
    return (a[0] * v[0] + a[1] * v[1], a[2] * v[0] + a[3] * v[1])


def _power(a: Matrix, k: int) -> Matrix:
    """a^k by repeated squaring (bits of k from the most significant; compiled,
    `service.core.kernels.matrix_power`)."""
    return IDENTITY if k == 0 else kernels.matrix_power(a, k)


def _power_and_sum(a: Matrix, k: int) -> tuple[Matrix, Matrix]:
    """(a^k, a^0 + ... + a^(k-1)) by doubling: S_2n = S_n + a^n S_n, S_n+1 = S_n + a^n."""
    power, total = IDENTITY, (0.0, 0.0, 0.0, 0.0)
    for bit in bin(k)[2:]:
        total = _plus(total, _times(power, total))
        power = _times(power, power)
        if bit == "1":
            total = _plus(total, power)
            power = _times(a, power)
    return power, total


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
        self.m_star, self.b_star = m_star, mean_y - m_star * mean_x
        self.scale = (scale_m, scale_c)
        self.mean_x, self.root_vx, self.min_cost = mean_x, root_vx, moments.min_cost
        self.slope_gap = m_star - m_ls
        self.m0, self.b0, self.standardized = m0, b0, std
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

    def observe(self, u: Vector) -> tuple[float, float, float]:
        um, uc = u[0] * self.scale[0], u[1] * self.scale[1]
        m = self.m_star + um
        b = self.b_star + (uc - self.mean_x * um)
        spread = self.root_vx * (um + self.slope_gap)
        return m, b, self.min_cost + spread * spread + uc * uc

    def point(self, k: int) -> tuple[Vector, float, float, float]:
        """(u, m, b, cost) at epoch k, m and b from the better-conditioned view."""
        if k == 0:  # the start itself, as given (no view needs consulting)
            return self.u0, self.m0, self.b0, self.observe(self.u0)[2]
        u = _apply(_power(self.a, k), self.u0)
        m, b, cost = self.observe(u)
        # The terms' sizes, each u's own absolute rounding below the normal range included
        # (as `Coefficients.floors`: a size whose eps-rounding is the subnormal spacing).
        floor_m, floor_c = TINY * abs(self.scale[0]), TINY * abs(self.scale[1])
        um, uc = abs(u[0] * self.scale[0]) + floor_m, abs(u[1] * self.scale[1]) + floor_c
        size_m = abs(self.m_star) + um
        size_b = abs(self.b_star) + uc + abs(self.mean_x) * um
        lossy = not (size_m <= DIGITS_KEPT * abs(m) and size_b <= DIGITS_KEPT * abs(b))
        if lossy and math.isfinite(m) and math.isfinite(b):
            _, total = _power_and_sum(self.a, k)
            moved = _apply(total, self.u0)
            d = self.step
            dm = (d[0] * moved[0] + d[1] * moved[1]) * self.scale[0]
            db = (self.b_row[0] * moved[0] + self.b_row[1] * moved[1]) * self.scale[1]
            shift = self.mean_x * dm if self.standardized else 0.0
            if abs(self.m0) + abs(dm) + floor_m < size_m:
                m = self.m0 + dm
            if abs(self.b0) + abs(db) + abs(shift) + floor_c < size_b:
                b = self.b0 + (db - shift)
        return u, m, b, cost

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
        and options.history_points <= SMALL_HISTORY
        and (options.tolerance is None or options.update == "simultaneous")
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
    start_cost = item.observe(item.u0)[2]
    if not (math.isfinite(start_cost) and start_cost <= START_LIMIT):
        return None
    if not stable:  # growth: the vectorized path locates any overflow on the way
        return None
    epochs_run, stopped = epochs, False
    if options.tolerance is not None:
        tol = options.tolerance
        if item.gradient_norm(item.u0) <= tol:
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
        from service.core.descent import history_epochs

        recorded = history_epochs(epochs_run, options.history_points, options.history_spacing)
        points = [item.point(int(k)) for k in recorded.tolist()]
        history = History(
            epoch=recorded,
            m=np.array([p[1] for p in points]),
            b=np.array([p[2] for p in points]),
            cost=np.array([p[3] for p in points]),
        )
        if not all(math.isfinite(v) for p in points for v in p[1:]):
            return None
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
