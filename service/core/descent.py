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
and O(sqrt(epochs)) flops; any epoch is then one 4x4 product A^r s_{jB}. The final point
and a history gather only the epochs they need; a tolerance stop scans gradient norms
block by block as one matrix product per chunk; divergence (an iterate or the cost
overflowing) is located exactly by walking only the blocks whose bound allows overflow.
Items of a batch are stacked along a leading axis and descended together.

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
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from service.core.errors import DataError, DivergedError, FitError, ParameterError
from service.core.iteration import (
    STATE_DIM,
    gradient_matrices,
    iteration_steps,
    max_stable_learning_rates,
)
from service.core.moments import Moments, compute_moments
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum

__all__ = ["fit", "fit_batch", "fit_moments", "history_epochs"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

OVERFLOW_GUARD = 1e300
"""A cost bound above this may overflow inside a block: walk that block epoch by epoch."""
SCAN_CHUNK = 1 << 21
"""Epoch evaluations per vectorized tolerance-scan step (bounds temporary memory)."""
MATRIX_BUDGET = 64 << 20
"""Bytes of stacked matrix powers one vectorized step of a batch may hold."""
DIGITS_KEPT = 1e3
"""m or b from the optimum's view may lose this factor to cancellation before the start's
view is consulted (eps * 1e3 is still far below the contract's 1e-9)."""
FAR_FROM_OPTIMUM = 1e-3
"""Warn when more than this fraction of the initial excess objective remains."""


def fit(x: ArrayLike, y: ArrayLike, options: FitOptions | None = None) -> FitResult:
    """Fit y = m x + b to the points by gradient descent; see `fit_moments`."""
    return fit_moments(compute_moments(x, y), options or FitOptions())


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
    (outcome,) = fit_batch([(moments, options or FitOptions())])
    if isinstance(outcome, FitError):
        raise outcome
    return outcome


def fit_batch(items: Sequence[tuple[Moments, FitOptions]]) -> list[FitResult | FitError]:
    """Fit many lines at once, vectorized across items; errors are returned in place."""
    outcomes: list[FitResult | FitError | None] = [None] * len(items)
    valid: list[int] = []
    for i, (moments, options) in enumerate(items):
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
        except FitError as error:
            outcomes[i] = error
        else:
            valid.append(i)
    # Items of similar length share one block size; groups are few (about log2 of the spread).
    groups: dict[int, list[int]] = {}
    for i in valid:
        groups.setdefault(_block_size(items[i][1].epochs).bit_length(), []).append(i)
    for members in groups.values():
        # Keep the stacked powers (two (B or J) x 4 x 4 arrays per item) near MATRIX_BUDGET.
        epochs = max(items[i][1].epochs for i in members)
        per_item = 2 * (_block_size(epochs) + 1) * STATE_DIM * STATE_DIM * 8
        step = max(1, MATRIX_BUDGET // per_item)
        for lo in range(0, len(members), step):
            chunk = members[lo : lo + step]
            for i, outcome in zip(chunk, _descend([items[i] for i in chunk]), strict=True):
                outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


def _hessian_is_finite(moments: Moments, l2: float) -> bool:
    """Whether 2 (vx + l2 + mean_x^2), the largest Hessian entry, is a float64."""
    return math.isfinite(2 * (moments.sxx / moments.n + l2 + moments.mean_x * moments.mean_x))


def history_epochs(epochs_run: int, points: int, spacing: str) -> IntArray:
    """The recorded epochs: strictly increasing over [0, epochs_run], both ends included.

    "linear": min(points, epochs_run + 1) epochs as evenly spaced as whole epochs allow;
    "log": 0, then up to points - 1 epochs geometrically spaced over [1, epochs_run],
    rounded (neighbours that round to the same epoch merge).
    """
    if epochs_run == 0:
        return np.zeros(1, dtype=np.int64)
    if spacing == "linear":
        count = min(points, epochs_run + 1)
        return np.rint(np.linspace(0, epochs_run, count)).astype(np.int64)
    if points == 2:
        return np.array([0, epochs_run], dtype=np.int64)
    geometric = np.unique(np.rint(np.geomspace(1, epochs_run, points - 1)).astype(np.int64))
    return np.concatenate((np.zeros(1, dtype=np.int64), geometric))


def _block_size(epochs: int) -> int:
    return max(8, math.isqrt(epochs + 1))


def _powers(a: FloatArray, count: int) -> FloatArray:
    """a^0 .. a^(count-1) for each item, by doubling: shape (N, count, d, d)."""
    n, d, _ = a.shape
    out = np.empty((n, count, d, d))
    out[:, 0] = np.eye(d)
    filled, doubled = 1, a
    while filled < count:
        take = min(filled, count - filled)
        out[:, filled : filled + take] = doubled[:, None] @ out[:, :take]
        filled += take
        if filled < count:
            doubled = doubled @ doubled
    return out


def _steps(step: FloatArray, count: int) -> FloatArray:
    """(I + step)^k - I for k = 0 .. count-1, by doubling on the differences themselves.

    (I + D_f)(I + D_i) - I = D_f + D_i + D_f D_i keeps the digits of a small change, which
    (I + step)^k - I, computed after the fact, would cancel away.
    """
    n, d, _ = step.shape
    out = np.empty((n, count, d, d))
    out[:, 0] = 0.0
    filled, doubled = 1, step
    while filled < count:
        take = min(filled, count - filled)
        head = out[:, :take]
        out[:, filled : filled + take] = doubled[:, None] + head + doubled[:, None] @ head
        filled += take
        if filled < count:
            doubled = 2 * doubled + doubled @ doubled
    return out


@dataclass
class _Batch:
    """Per-item quantities of a group, as arrays along the leading axis."""

    lr: FloatArray
    epochs: IntArray
    # descent space
    w: FloatArray
    mx_d: FloatArray
    # original units
    m_star: FloatArray
    b_star: FloatArray
    slope_gap: FloatArray  # m* - m_ls
    mean_x: FloatArray
    vx: FloatArray
    min_cost: FloatArray
    scale: FloatArray  # (N, 2): descent-space u -> original-space u
    m0: FloatArray
    b0: FloatArray
    bound: FloatArray

    def observe(self, idx: IntArray, u: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """m, b and MSE at descent-space errors u (..., 2) of items idx (broadcast on ...)."""
        um = u[..., 0] * self.scale[idx, 0]
        uc = u[..., 1] * self.scale[idx, 1]
        m = self.m_star[idx] + um
        b = self.b_star[idx] + (uc - self.mean_x[idx] * um)
        gap = um + self.slope_gap[idx]
        spread = np.sqrt(self.vx[idx]) * gap  # squared after scaling: no early overflow
        cost = self.min_cost[idx] + spread * spread + uc * uc
        return m, b, cost

    def terms(self, idx: IntArray, u: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Sizes of the terms `observe` adds up for m and b: their rounding is eps times this."""
        um = np.abs(u[..., 0] * self.scale[idx, 0])
        uc = np.abs(u[..., 1] * self.scale[idx, 1])
        return (
            np.abs(self.m_star[idx]) + um,
            np.abs(self.b_star[idx]) + uc + np.abs(self.mean_x[idx]) * um,
        )

    def from_start(self, idx: IntArray, moved: FloatArray) -> tuple[FloatArray, ...]:
        """m and b as the start plus the displacement `moved` (..., 2), and their terms' sizes."""
        dm = moved[..., 0] * self.scale[idx, 0]
        dc = moved[..., 1] * self.scale[idx, 1]
        m0, b0, mean_x = self.m0[idx], self.b0[idx], self.mean_x[idx]
        return (
            m0 + dm,
            b0 + (dc - mean_x * dm),
            np.abs(m0) + np.abs(dm),
            np.abs(b0) + np.abs(dc) + np.abs(mean_x * dm),
        )

    def gradient_norm(self, idx: IntArray, u: FloatArray) -> FloatArray:
        """Euclidean norm of the descended objective's gradient, in descent space."""
        gm = 2 * (self.w[idx] * u[..., 0] + self.mx_d[idx] * u[..., 1])
        result: FloatArray = np.hypot(gm, 2 * u[..., 1])
        return result


def _setup(items: Sequence[tuple[Moments, FitOptions]]) -> tuple[_Batch, FloatArray, FloatArray]:
    """Descent-space coefficients, the optimum and the initial state of every item."""

    def column(values: Sequence[float]) -> FloatArray:
        return np.asarray(values, dtype=np.float64)

    mom = [m for m, _ in items]
    opt = [o for _, o in items]
    n = column([m.n for m in mom])
    mean_x, mean_y = column([m.mean_x for m in mom]), column([m.mean_y for m in mom])
    sxx, sxy, syy = (
        column([m.sxx for m in mom]),
        column([m.sxy for m in mom]),
        column([m.syy for m in mom]),
    )
    l2 = column([o.l2 for o in opt])
    standardize = np.array([o.standardize for o in opt])
    m0, b0 = column([o.initial_m for o in opt]), column([o.initial_b for o in opt])

    vx = sxx / n
    sx = np.sqrt(vx)
    sy = np.sqrt(np.where(standardize, syy / n, 1.0))
    # In z-space mean x is 0 and vx is 1; sxy / sqrt(sxx syy) is the correlation.
    vx_d = np.where(standardize, 1.0, vx)
    mx_d = np.where(standardize, 0.0, mean_x)
    root_syy = np.sqrt(np.where(standardize, syy, 1.0))
    cov_d = np.where(standardize, sxy / np.sqrt(sxx) / root_syy, sxy / n)
    w = vx_d + l2
    scale_m = np.where(standardize, sy / sx, 1.0)
    scale_c = np.where(standardize, sy, 1.0)
    m_star = scale_m * (cov_d / w)
    m_ls = sxy / sxx
    b_star = mean_y - m_star * mean_x
    u0 = np.zeros((len(items), STATE_DIM))
    u0[:, 0] = (m0 - m_star) / scale_m
    u0[:, 1] = (b0 + m0 * mean_x - mean_y) / scale_c

    seq = np.array([o.update == "sequential" for o in opt])
    mom_opt = np.array([o.optimizer == "momentum" for o in opt])
    nes_opt = np.array([o.optimizer == "nesterov" for o in opt])
    mu = column([o.momentum if o.optimizer != "gd" else 0.0 for o in opt])
    lr = column([o.learning_rate for o in opt])
    batch = _Batch(
        lr=lr,
        epochs=np.array([o.epochs for o in opt], dtype=np.int64),
        w=w,
        mx_d=mx_d,
        m_star=m_star,
        b_star=b_star,
        slope_gap=m_star - m_ls,
        mean_x=mean_x,
        vx=vx,
        min_cost=column([m.min_cost for m in mom]),
        scale=np.stack((scale_m, scale_c), axis=1),
        m0=m0,
        b0=b0,
        bound=max_stable_learning_rates(w, mx_d, mu, seq, mom_opt, nes_opt),
    )
    step = iteration_steps(w, mx_d, lr, mu, seq, mom_opt, nes_opt)
    return batch, step, u0


def _descend(items: Sequence[tuple[Moments, FitOptions]]) -> list[FitResult | FitError]:
    count = len(items)
    # Overflow is expected (a diverging rule, a start far out) and is checked for explicitly.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        batch, step, s0 = _setup(items)
        block = _block_size(int(batch.epochs.max()))
        blocks = int(batch.epochs.max()) // block + 1
        walk = _Walk(batch, step, s0, block, blocks)

        epochs_run = batch.epochs.copy()
        stopped = np.zeros(count, dtype=bool)
        tolerant = [i for i, (_, o) in enumerate(items) if o.tolerance is not None]
        if tolerant:
            idx = np.array(tolerant, dtype=np.int64)
            tol = np.array([items[i][1].tolerance for i in tolerant], dtype=np.float64)
            first = walk.first_below(idx, tol)
            stopped[idx] = first >= 0
            epochs_run[idx] = np.where(first >= 0, first, epochs_run[idx])

        diverged_at = walk.first_nonfinite(epochs_run)
        final, m, b, cost = walk.points(np.arange(count), epochs_run)
        grad = batch.gradient_norm(np.arange(count), final)
        # A gradient too large for float64 at a finite point has diverged all the same.
        diverged_at = np.where((diverged_at < 0) & ~np.isfinite(grad), epochs_run, diverged_at)
        u_start = s0[:, :2]
        # sqrt(f - f*) = |(sqrt(w) u_m, u_c)|, kept as a norm so that it cannot overflow.
        root_w = np.sqrt(batch.w)
        excess_start = np.hypot(root_w * u_start[:, 0], u_start[:, 1])
        excess_end = np.hypot(root_w * final[:, 0], final[:, 1])

    out: list[FitResult | FitError] = []
    for i, (moments, options) in enumerate(items):
        bound = float(batch.bound[i])
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
        gap = float(batch.slope_gap[i])
        optimum = Optimum(
            m=float(batch.m_star[i]),
            b=float(batch.b_star[i]),
            cost=moments.min_cost + _square(math.sqrt(float(batch.vx[i])) * gap),
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
                warnings=_warnings(
                    options,
                    bound,
                    stopped=bool(stopped[i]),
                    remaining=_square(float(excess_end[i] / excess_start[i]))
                    if excess_start[i] > 0
                    else 0.0,
                ),
                history=history,
            )
        )
    return out


def _square(value: float) -> float:
    # value ** 2 raises OverflowError on Python floats; a product overflows to inf quietly.
    return value * value


def _warnings(
    options: FitOptions, bound: float, *, stopped: bool, remaining: float
) -> tuple[str, ...]:
    notes: list[str] = []
    if options.learning_rate >= bound:
        notes.append(
            f"learning_rate {options.learning_rate:g} is at or above the largest stable learning "
            f"rate {bound:.6g} for this data and update rule: the iterates grow instead of "
            "converging"
        )
    elif remaining > FAR_FROM_OPTIMUM:
        notes.append(
            f"the run stopped far from the optimum: {remaining:.3g} of the initial excess cost "
            "remains; raise epochs or the learning rate (see max_stable_learning_rate)"
            + ("" if options.standardize else ", or use standardize")
        )
    if options.tolerance is not None and not stopped:
        notes.append(
            f"the gradient norm did not reach the tolerance {options.tolerance:g} within "
            f"{options.epochs} epochs"
        )
    return tuple(notes)


class _Walk:
    """Evaluates epochs k = jB + r of any item of a group from its block start jB.

    The state is s_k = A^r s_{jB}, the error from the optimum. Where m or b is much smaller
    than the optimum plus that error (a slow descent still near a start far from the
    optimum), they are recovered instead from the displacement from the start,
    s_k - s_0 = D_r s_0 + M_j + D_r M_j with D_r = A^r - I and M_j = s_{jB} - s_0, which
    keeps their relative digits; those differences are computed only when needed.
    """

    def __init__(
        self, batch: _Batch, step: FloatArray, s0: FloatArray, block: int, blocks: int
    ) -> None:
        self.batch = batch
        self.block = block
        self.step = step  # A - I: (N, d, d)
        self.s0 = s0  # (N, d)
        self.powers = _powers(step + np.eye(STATE_DIM), block + 1)  # A^0 .. A^B
        # Block starts s_{jB}, repaired in place by `_walk_item` where doubling overflowed.
        self.starts = (_powers(self.powers[:, block], blocks) @ s0[:, None, :, None])[..., 0]
        self._changes: FloatArray | None = None  # A^0 - I .. A^B - I
        self._moves: FloatArray | None = None  # s_{jB} - s_0

    def states(self, idx: IntArray, k: IntArray) -> FloatArray:
        """u (the error from the optimum) at epochs k of items idx (same shapes): (len, 2)."""
        j, r = np.divmod(k, self.block)
        result: FloatArray = (self.powers[idx, r, :2] @ self.starts[idx, j][..., None])[..., 0]
        return result

    def moved(self, idx: IntArray, k: IntArray) -> FloatArray:
        """The displacement of u from the start at epochs k of items idx: (len, 2)."""
        with np.errstate(over="ignore", invalid="ignore"):  # diverged items of the group
            return self._moved(idx, k)

    def _moved(self, idx: IntArray, k: IntArray) -> FloatArray:
        if self._changes is None or self._moves is None:
            blocks = self.starts.shape[1]
            self._changes = _steps(self.step, self.block + 1)
            self._moves = (
                _steps(self._changes[:, self.block], blocks) @ self.s0[:, None, :, None]
            )[..., 0]
        j, r = np.divmod(k, self.block)
        move = self._moves[idx, j]
        carried = (self._changes[idx, r, :2] @ (self.s0[idx] + move)[..., None])[..., 0]
        result: FloatArray = move[..., :2] + carried
        return result

    def points(
        self, idx: IntArray, k: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(u, m, b, cost) at epochs k of items idx, m and b from the better-conditioned view."""
        with np.errstate(over="ignore", invalid="ignore"):  # diverged items of the group
            return self._points(idx, k)

    def _points(
        self, idx: IntArray, k: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        u = self.states(idx, k)
        m, b, cost = self.batch.observe(idx, u)
        size_m, size_b = self.batch.terms(idx, u)
        lossy = ~((size_m <= DIGITS_KEPT * np.abs(m)) & (size_b <= DIGITS_KEPT * np.abs(b)))
        lossy &= np.isfinite(m) & np.isfinite(b)
        if lossy.any():
            sel = np.flatnonzero(lossy)
            m2, b2, size_m2, size_b2 = self.batch.from_start(idx[sel], self.moved(idx[sel], k[sel]))
            m[sel] = np.where(size_m2 < size_m[sel], m2, m[sel])
            b[sel] = np.where(size_b2 < size_b[sel], b2, b[sel])
        return u, m, b, cost

    def first_below(self, idx: IntArray, tol: FloatArray) -> IntArray:
        """First epoch k <= epochs whose gradient norm is <= tol, or -1, for items idx."""
        b = self.block
        # Gradient at every in-block offset r as one linear map of the block start.
        grad_maps = (
            gradient_matrices(self.batch.w[idx], self.batch.mx_d[idx])[:, None]
            @ self.powers[idx, :b]
        )  # (n, B, 2, d)
        flat = grad_maps.transpose(0, 3, 1, 2).reshape(idx.size, STATE_DIM, b * 2)
        limit = self.batch.epochs[idx]
        first = np.full(idx.size, -1, dtype=np.int64)
        rows = max(1, SCAN_CHUNK // (b * max(1, idx.size)))
        j_total = int(limit.max()) // b + 1
        for j0 in range(0, j_total, rows):
            pending = np.flatnonzero(first < 0)
            if pending.size == 0:
                break
            j1 = min(j_total, j0 + rows)
            g = (self.starts[idx[pending], j0:j1] @ flat[pending]).reshape(
                pending.size, j1 - j0, b, 2
            )
            norm = np.hypot(g[..., 0], g[..., 1]).reshape(pending.size, -1)
            epoch = np.arange(j0 * b, j1 * b)
            hit = (norm <= tol[pending, None]) & (epoch[None, :] <= limit[pending, None])
            found = hit.any(axis=1)
            first[pending[found]] = epoch[hit[found].argmax(axis=1)]
        return first

    def first_nonfinite(self, epochs_run: IntArray) -> IntArray:
        """First epoch <= epochs_run where m, b or the cost is not finite, or -1, per item.

        A block can overflow only if its start times the largest in-block power can:
        only blocks whose bound passes OVERFLOW_GUARD are walked epoch by epoch.
        """
        batch, b = self.batch, self.block
        count = epochs_run.size
        everything = np.arange(count)
        power_norm = np.sqrt((self.powers[:, :, :2, :] ** 2).sum(axis=(2, 3))).max(axis=1)
        reach = np.sqrt((self.starts**2).sum(axis=2)) * power_norm[:, None]  # (N, J)
        big = reach[:, :, None] * batch.scale[:, None, :]
        gap = big[..., 0] + np.abs(batch.slope_gap)[:, None]
        bound = batch.min_cost[:, None] + batch.vx[:, None] * gap * gap + big[..., 1] ** 2
        bound = bound + (np.abs(batch.m_star) + np.abs(batch.b_star))[:, None]
        risky = ~(bound <= OVERFLOW_GUARD)
        j_last = epochs_run // b
        risky &= np.arange(risky.shape[1])[None, :] <= j_last[:, None]
        result = np.full(count, -1, dtype=np.int64)
        for i in everything[risky.any(axis=1)]:
            result[i] = self._walk_item(int(i), int(risky[i].argmax()), int(epochs_run[i]))
        return result

    def _walk_item(self, i: int, j: int, last: int) -> int:
        """Epoch by epoch from block j-1 on; block starts recomputed from their predecessor."""
        b, idx = self.block, np.full(self.block + 1, i, dtype=np.int64)
        j = max(0, j - 1)
        while j * b <= last:
            start = self.starts[i, j]
            u = (self.powers[i] @ start[:, None])[:, :2, 0]  # epochs jB .. jB + B
            m, bb, cost = self.batch.observe(idx, u)
            bad = ~(np.isfinite(m) & np.isfinite(bb) & np.isfinite(cost))
            epochs = np.arange(j * b, j * b + b + 1)
            bad &= epochs <= last
            if bad.any():
                return int(epochs[bad.argmax()])
            if j + 1 < self.starts.shape[1]:
                self.starts[i, j + 1] = self.powers[i, b] @ start
            j += 1
        return -1
