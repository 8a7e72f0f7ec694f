"""The trajectory s_k = A^k s_0 of every item of a group, at any epoch, in O(sqrt(epochs)).

Epochs are cut into blocks of B ~ sqrt(epochs): the powers A^0..A^B (by doubling) and
the block starts s_{jB} = (A^B)^j s_0 (by doubling too) take O(log epochs) NumPy calls
and O(sqrt(epochs)) flops; any epoch k = jB + r is then one 4x4 product A^r s_{jB}.
A tolerance stop scans gradient norms block by block as one matrix product per chunk;
divergence (an iterate or the cost overflowing) is located exactly by walking only the
blocks whose bound allows overflow.

The doubling helpers:

    matrix_powers(A, K)        A^0, A^1, ..., A^(K-1)
    power_differences(D, K)    (I + D)^k - I for k = 0 .. K-1, from the differences alone:
                               (I + D_f)(I + D_i) - I = D_f + D_i + D_f D_i keeps the digits of
                               a small change that (I + D)^k - I, computed after the fact,
                               would cancel away.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from service.core.coefficients import Coefficients
from service.core.iteration import AB, AM, STATE_DIM, WideArray, gradient_matrices

__all__ = ["Trajectory", "matrix_powers", "power_differences"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

OVERFLOW_GUARD = 1e300
"""A cost bound above this may overflow inside a block: walk that block epoch by epoch."""
SCAN_CHUNK = 1 << 21
"""Epoch evaluations per vectorized tolerance-scan step (bounds temporary memory)."""
DIGITS_KEPT = 1e3
"""m or b from the optimum's view may lose this factor to cancellation before the start's
view is consulted (eps * 1e3 is still far below the contract's 1e-9)."""


def matrix_powers(a: WideArray, count: int) -> WideArray:
    """a^0 .. a^(count-1) for each item, by doubling: shape (N, count, d, d)."""
    n, d, _ = a.shape
    out = np.empty((n, count, d, d), dtype=a.dtype)
    out[:, 0] = np.eye(d)
    filled, doubled = 1, a
    while filled < count:
        take = min(filled, count - filled)
        out[:, filled : filled + take] = doubled[:, None] @ out[:, :take]
        filled += take
        if filled < count:
            doubled = doubled @ doubled
    return out


def power_differences(step: WideArray, count: int) -> WideArray:
    """(I + step)^k - I for k = 0 .. count-1, by doubling on the differences themselves.

    (I + D_f)(I + D_i) - I = D_f + D_i + D_f D_i keeps the digits of a small change, which
    (I + step)^k - I, computed after the fact, would cancel away.
    """
    n, d, _ = step.shape
    out = np.empty((n, count, d, d), dtype=step.dtype)
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


class Trajectory:
    """Evaluates epochs k = jB + r of any item of a group from its block start jB.

    The state is s_k = A^r s_{jB}, the error from the optimum. Where m or b is much smaller
    than the optimum plus that error (a slow descent still near a start far from the
    optimum), they are recovered instead from the displacement from the start,
    s_k - s_0 = D_r s_0 + M_j + D_r M_j with D_r = A^r - I and M_j = s_{jB} - s_0, which
    keeps their relative digits; those differences are computed only when needed.
    """

    def __init__(
        self, coefficients: Coefficients, step: WideArray, s0: WideArray, block: int, blocks: int
    ) -> None:
        self.coefficients = coefficients
        self.block = block
        self.step = step  # A - I: (N, d, d)
        self.s0 = s0  # (N, d)
        self.powers = matrix_powers(step + np.eye(STATE_DIM), block + 1)  # A^0 .. A^B
        # Block starts s_{jB}; `first_nonfinite` returns them carried block by block where
        # doubling overflowed, and the caller installs them with `replace_starts`.
        self.starts: WideArray = (
            matrix_powers(self.powers[:, block], blocks) @ s0[:, None, :, None]
        )[..., 0]
        self._changes: WideArray | None = None  # A^0 - I .. A^B - I
        self._moves: WideArray | None = None  # s_{jB} - s_0

    def replace_starts(self, starts: WideArray) -> None:
        """Use these block starts from now on (see `first_nonfinite`)."""
        self.starts = starts

    def states(self, idx: IntArray, k: IntArray) -> FloatArray:
        """u (the error from the optimum) at epochs k of items idx (same shapes): (len, 2)."""
        j, r = np.divmod(k, self.block)
        wide = (self.powers[idx, r, :2] @ self.starts[idx, j][..., None])[..., 0]
        result: FloatArray = wide.astype(np.float64)  # overflows to inf where float64 would
        return result

    def moved(self, idx: IntArray, k: IntArray) -> FloatArray:
        """The displacements (a_m, a_b) of m and b from the start at epochs k of items idx."""
        with np.errstate(over="ignore", invalid="ignore"):  # diverged items of the group
            return self._moved(idx, k)

    def _moved(self, idx: IntArray, k: IntArray) -> FloatArray:
        if self._changes is None or self._moves is None:
            blocks = self.starts.shape[1]
            self._changes = power_differences(self.step, self.block + 1)
            self._moves = (
                power_differences(self._changes[:, self.block], blocks) @ self.s0[:, None, :, None]
            )[..., 0]
        j, r = np.divmod(k, self.block)
        move = self._moves[idx, j]
        rows = self._changes[idx, r][:, [AM, AB]]
        carried = (rows @ (self.s0[idx] + move)[..., None])[..., 0]
        result: FloatArray = (move[..., [AM, AB]] + carried).astype(np.float64)
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
        coefficients = self.coefficients
        m, b, cost = coefficients.observe(idx, u)
        size_m, size_b = coefficients.terms(idx, u)
        lossy = ~((size_m <= DIGITS_KEPT * np.abs(m)) & (size_b <= DIGITS_KEPT * np.abs(b)))
        lossy &= np.isfinite(m) & np.isfinite(b)
        if lossy.any():
            sel = np.flatnonzero(lossy)
            m2, b2, size_m2, size_b2 = coefficients.from_start(
                idx[sel], self.moved(idx[sel], k[sel])
            )
            m[sel] = np.where(size_m2 < size_m[sel], m2, m[sel])
            b[sel] = np.where(size_b2 < size_b[sel], b2, b[sel])
        return u, m, b, cost

    def first_below(self, idx: IntArray, tol: FloatArray) -> IntArray:
        """First epoch k <= epochs whose gradient norm is <= tol, or -1, for items idx."""
        block = self.block
        # Gradient at every in-block offset r as one linear map of the block start.
        grad_maps = (
            gradient_matrices(
                self.coefficients.g_mm[idx],
                self.coefficients.g_mc[idx],
                self.coefficients.g_cc[idx],
            )[:, None]
            @ self.powers[idx, :block]
        )  # (n, B, 2, d)
        flat = grad_maps.transpose(0, 3, 1, 2).reshape(idx.size, STATE_DIM, block * 2)
        limit = self.coefficients.epochs[idx]
        first = np.full(idx.size, -1, dtype=np.int64)
        rows = max(1, SCAN_CHUNK // (block * max(1, idx.size)))
        j_total = int(limit.max()) // block + 1
        for j0 in range(0, j_total, rows):
            pending = np.flatnonzero(first < 0)
            if pending.size == 0:
                break
            j1 = min(j_total, j0 + rows)
            g = (self.starts[idx[pending], j0:j1] @ flat[pending]).reshape(
                pending.size, j1 - j0, block, 2
            )
            norm = np.hypot(g[..., 0], g[..., 1]).reshape(pending.size, -1)
            epoch = np.arange(j0 * block, j1 * block)
            hit = (norm <= tol[pending, None]) & (epoch[None, :] <= limit[pending, None])
            found = hit.any(axis=1)
            first[pending[found]] = epoch[hit[found].argmax(axis=1)]
        return first

    def first_nonfinite(self, epochs_run: IntArray) -> tuple[IntArray, WideArray]:
        """First epoch <= epochs_run where m, b or the cost is not finite (or -1), per item,
        and the block starts carried block by block where the walk went.

        A block can overflow only if its start times the largest in-block power can:
        only blocks whose bound passes OVERFLOW_GUARD are walked epoch by epoch. Doubling
        can overflow where the block-by-block product does not, so the walked items' block
        starts are recomputed from their predecessors; the returned starts (a copy) are
        the ones to use afterwards (`replace_starts`).
        """
        coefficients, block = self.coefficients, self.block
        count = epochs_run.size
        everything = np.arange(count)
        power_norm = np.sqrt((self.powers[:, :, :2, :] ** 2).sum(axis=(2, 3))).max(axis=1)
        reach = np.sqrt((self.starts**2).sum(axis=2)) * power_norm[:, None]  # (N, J)
        big = reach[:, :, None] * coefficients.scale[:, None, :]
        gap = big[..., 0] + np.abs(coefficients.slope_gap)[:, None]
        bound = (
            coefficients.min_cost[:, None]
            + (coefficients.root_vx[:, None] * gap) ** 2
            + big[..., 1] ** 2
        )
        bound = bound + (np.abs(coefficients.m_star) + np.abs(coefficients.b_star))[:, None]
        risky = ~(bound <= OVERFLOW_GUARD)
        j_last = epochs_run // block
        risky &= np.arange(risky.shape[1])[None, :] <= j_last[:, None]
        result = np.full(count, -1, dtype=np.int64)
        starts = self.starts.copy()
        for i in everything[risky.any(axis=1)]:
            result[i] = self._walk_item(int(i), int(risky[i].argmax()), int(epochs_run[i]), starts)
        return result, starts

    def _walk_item(self, i: int, j: int, last: int, starts: WideArray) -> int:
        """Epoch by epoch from block j-1 on, writing each next block start into `starts`."""
        block, idx = self.block, np.full(self.block + 1, i, dtype=np.int64)
        j = max(0, j - 1)
        while j * block <= last:
            start = starts[i, j]
            u = (self.powers[i] @ start[:, None])[:, :2, 0].astype(np.float64)  # jB .. jB + B
            m, b, cost = self.coefficients.observe(idx, u)
            bad = ~(np.isfinite(m) & np.isfinite(b) & np.isfinite(cost))
            epochs = np.arange(j * block, j * block + block + 1)
            bad &= epochs <= last
            if bad.any():
                return int(epochs[bad.argmax()])
            if j + 1 < starts.shape[1]:
                starts[i, j + 1] = self.powers[i, block] @ start
            j += 1
        return -1
