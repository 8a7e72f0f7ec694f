"""The trajectory s_k = A^k s_0 of every item of a group, at any epoch, in O(sqrt(epochs)).

Epochs are cut into blocks of B ~ sqrt(epochs): the powers A^0..A^B (by doubling) and
the block starts s_{jB} = (A^B)^j s_0 (by doubling too) take O(log epochs) NumPy calls
and O(sqrt(epochs)) flops; any epoch k = jB + r is then one 4x4 product A^r s_{jB}.
A tolerance stop scans gradient norms block by block as one matrix product per chunk;
divergence (an iterate or the cost overflowing) is located exactly by evaluating only the
blocks whose entrywise bound allows overflow, in rounds of 1, 2, 4, ... blocks per item
(O(log epochs) vector operations). Powers and states are kept in extended precision
(`service.core.coefficients`) and rounded to float64 where they are observed.

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

OVERFLOW_MARGIN = float(np.finfo(np.float64).max) * (1 - 2.0**-30)
"""A bound on m, b or the cost at or above this may overflow inside its block: that block is
evaluated epoch by epoch. (The bound's own rounding is a few ulps; 2^-30 is far above it.)"""
WALK_CHUNK = 1 << 20
"""Epoch evaluations per vectorized step of the divergence walk (bounds temporary memory)."""
SCAN_CHUNK = 1 << 21
"""Epoch evaluations per vectorized tolerance-scan step (bounds temporary memory)."""
SCREEN_SLACK = 64 * float(np.finfo(np.float64).eps)
"""Relative error bound of the tolerance scan's float64 screen against the powers' own
precision: the start and the map each rounded to float64 (2 eps), a 7-term sum (7 eps),
the bound's own rounding, with room to spare."""
SCREEN_FLOOR = 64 * float(np.finfo(np.float64).smallest_subnormal)
"""Absolute slack of the screen: map entries and products that float64 rounds to 0 or to
its subnormal spacing (block starts are scaled to at most 1)."""
UNDERFLOW_MARGIN = 1100
"""Block starts within 2^this of the powers' smallest normal exponent are not screened:
there the wide product itself may underflow to 0 (which stops a tolerance-0 scan)."""
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
        # Block starts s_{jB}, in extended precision: they overflow (2^16384) long after the
        # float64 quantities computed from them do.
        self.starts: WideArray = (
            matrix_powers(self.powers[:, block], blocks) @ s0[:, None, :, None]
        )[..., 0]
        self._changes: WideArray | None = None  # A^0 - I .. A^B - I
        self._moves: WideArray | None = None  # s_{jB} - s_0
        self.walked = 0  # epochs the divergence walk evaluated one by one

    def states(self, idx: IntArray, k: IntArray) -> WideArray:
        """u (the error from the optimum) at epochs k of items idx (same shapes): (len, 2), in
        the extended precision of the powers (in scaled units u_m' may be far below float64's
        normal range while m in original units is not)."""
        j, r = np.divmod(k, self.block)
        wide: WideArray = (self.powers[idx, r, :2] @ self.starts[idx, j][..., None])[..., 0]
        return wide

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
        # Kept wide: a displacement in scaled units may be subnormal in float64 (x around
        # 1e-150 takes steps of lr 4^ex on m'), and only its value in original units is
        # rounded to float64 (`_points`).
        result: FloatArray = move[..., [AM, AB]] + carried
        return result

    def points(
        self, idx: IntArray, k: IntArray
    ) -> tuple[WideArray, FloatArray, FloatArray, FloatArray]:
        """(u, m, b, cost) at epochs k of items idx, m and b from the better-conditioned view
        (u in extended precision, the others float64)."""
        with np.errstate(over="ignore", invalid="ignore"):  # diverged items of the group
            return self._points(idx, k)

    def _points(
        self, idx: IntArray, k: IntArray
    ) -> tuple[WideArray, FloatArray, FloatArray, FloatArray]:
        u = self.states(idx, k)
        coefficients = self.coefficients
        # Rounded to float64 only in original units (inf where float64 overflows).
        m, b, cost = (v.astype(np.float64) for v in coefficients.observe(idx, u))
        size_m, size_b = (v.astype(np.float64) for v in coefficients.terms(idx, u))
        lossy = ~((size_m <= DIGITS_KEPT * np.abs(m)) & (size_b <= DIGITS_KEPT * np.abs(b)))
        lossy &= np.isfinite(m) & np.isfinite(b)
        start = k == 0  # the start itself, as given: no view to consult (and no tables)
        if start.any():
            m[start], b[start] = coefficients.m0[idx[start]], coefficients.b0[idx[start]]
            lossy &= ~start
        if lossy.any():
            sel = np.flatnonzero(lossy)
            m2, b2, size_m2, size_b2 = (
                v.astype(np.float64)
                for v in coefficients.from_start(idx[sel], self.moved(idx[sel], k[sel]))
            )
            m[sel] = np.where(size_m2 < size_m[sel], m2, m[sel])
            b[sel] = np.where(size_b2 < size_b[sel], b2, b[sel])
        return u, m, b, cost

    def first_below(self, idx: IntArray, tol: FloatArray, last: IntArray) -> IntArray:
        """First epoch k <= last (each item's; -1 scans nothing) whose gradient norm is
        <= tol, or -1, for items idx.

        The gradient at every in-block offset r is one linear map of the block start,
        g_(jB+r) = (G A^r) s_(jB). Each chunk of blocks is screened in float64 (BLAS) with
        each block start scaled by a power of two to its own size, and a bound on the
        screen's error, SCREEN_SLACK * (|s| @ |G A^r|), from which a lower bound of the norm
        follows; only the blocks where that bound reaches the tolerance are evaluated in the
        powers' own precision, which decides. (The extended-precision product alone cost
        about 150 ns per epoch: a batch's 1e8 scanned epochs of momentum fits took 15 s.)
        """
        block = self.block
        grad_maps = (
            gradient_matrices(
                self.coefficients.g_mm[idx],
                self.coefficients.g_mc[idx],
                self.coefficients.g_cc[idx],
            )[:, None]
            @ self.powers[idx, :block]
        )  # (n, B, 2, d)
        flat = grad_maps.transpose(0, 3, 1, 2).reshape(idx.size, STATE_DIM, block * 2)
        tol = np.ldexp(tol, -self.coefficients.g_exponent[idx])  # the maps omit 2^g_exponent
        first = np.full(idx.size, -1, dtype=np.int64)
        if idx.size == 0 or int(last.max()) < 0:
            return first
        wide = self.starts.dtype != np.float64
        if wide:
            # The screen's maps, (n, 2, d, B) in float64, and its error per unit of
            # |2^-e s|_1 (see `_screen`).
            maps = grad_maps.transpose(0, 2, 3, 1).astype(np.float64)
            largest = np.abs(maps).max(axis=(1, 2))  # (n, B): at each offset r
            slack_per_size = SCREEN_SLACK * largest + SCREEN_FLOOR
        rows = max(1, SCAN_CHUNK // (block * max(1, idx.size)))
        j_total = int(last.max()) // block + 1
        for j0 in range(0, j_total, rows):
            pending = np.flatnonzero(first < 0)
            if pending.size == 0:
                break
            j1 = min(j_total, j0 + rows)
            epoch = np.arange(j0 * block, j1 * block).reshape(j1 - j0, block)
            starts = self.starts[idx[pending], j0:j1]  # (p, rows, d), the powers' precision
            if not wide:  # already BLAS: the whole chunk at once
                g = (starts @ flat[pending]).reshape(pending.size, j1 - j0, block, 2)
                norm = np.hypot(g[..., 0], g[..., 1]).reshape(pending.size, -1)
                flat_epoch = epoch.reshape(-1)
                hit = (norm <= tol[pending, None]) & (flat_epoch[None, :] <= last[pending, None])
                found = hit.any(axis=1)
                first[pending[found]] = flat_epoch[hit[found].argmax(axis=1)]
                continue
            maybe = self._screen(starts, maps[pending], slack_per_size[pending], tol[pending])
            maybe &= (epoch[None] <= last[pending, None, None]).any(axis=2)
            pair_item, pair_row = np.nonzero(maybe)  # by item, then block: epoch order
            if pair_item.size == 0:
                continue
            # Each item's candidate blocks in rounds of 1, 2, 4, ...: the scan ends at the
            # first hit, and candidates after it (a state near the wide underflow makes
            # every later block one) are not evaluated.
            rank = np.arange(pair_item.size) - np.searchsorted(pair_item, pair_item)
            low, width = 0, 1
            while ((rank >= low) & (first[pending[pair_item]] < 0)).any():
                chosen = np.flatnonzero(
                    (rank >= low) & (rank < low + width) & (first[pending[pair_item]] < 0)
                )
                self._evaluate(
                    starts, flat, pending, pair_item[chosen], pair_row[chosen],
                    epoch, tol, last, first,
                )  # fmt: skip
                low += width
                width *= 2
        return first

    @staticmethod
    def _evaluate(
        starts: WideArray,
        flat: WideArray,
        pending: IntArray,
        items: IntArray,
        rows: IntArray,
        epoch: IntArray,
        tol: FloatArray,
        limit: IntArray,
        first: IntArray,
    ) -> None:
        """The gradient norms of blocks (items, rows) in the powers' own precision, item by
        item (each item's maps are used in place, not copied per block); each item's first
        epoch at or below its tolerance goes into `first` (pairs come in epoch order per
        item)."""
        block = epoch.shape[1]
        for group in np.split(np.arange(items.size), np.flatnonzero(np.diff(items)) + 1):
            i, chosen = int(items[group[0]]), rows[group]
            item = int(pending[i])
            g = (starts[i, chosen] @ flat[item]).reshape(chosen.size, block, 2)
            norm = np.hypot(g[..., 0], g[..., 1])
            epochs = epoch[chosen]
            hit = (norm <= tol[item]) & (epochs <= limit[item])
            if hit.any():
                first[item] = int(epochs[hit].min())

    @staticmethod
    def _screen(
        starts: WideArray, maps: FloatArray, slack_per_size: FloatArray, tol: FloatArray
    ) -> NDArray[np.bool_]:
        """Which blocks (p, rows) may hold an epoch whose gradient norm is <= tol.

        `maps` (p, 2, d, B) are G A^r in float64, one (d, B) matrix per gradient component.
        With e the exponent of the block start's largest component that the maps read (the
        displacements a_m, a_b feed no gradient: their columns are 0, and they would dwarf
        a converged u), the float64 gradient (2^-e s) (G A^r) differs from the wide one
        (times 2^-e), in each component, by at most |2^-e s|_1 times `slack_per_size` (r)
        (SCREEN_SLACK times the largest entry of |G A^r|, plus what float64 underflow may
        drop). A block is skipped only where at every epoch the larger component (a lower
        bound of the norm) exceeds 2^-e tol by more; blocks near the wide precision's own
        underflow (which may round a product to 0 where the screen does not) and anything
        not finite are candidates.
        """
        read = np.any(maps != 0, axis=(1, 3))  # (p, d): the components the maps read
        live = np.where(read[:, None, :], starts, 0)
        _, exponent = np.frexp(np.abs(live).max(axis=2))  # (p, rows)
        scaled = np.ldexp(live, -exponent[..., None]).astype(np.float64)
        g_m, g_b = scaled @ maps[:, 0], scaled @ maps[:, 1]  # (p, rows, B) each
        # The larger component's size stands for the norm (a lower bound of it, with no
        # squares to underflow into float64's slow subnormal range).
        np.abs(g_m, out=g_m)
        np.maximum(g_m, np.abs(g_b, out=g_b), out=g_m)
        with np.errstate(over="ignore"):
            reach = np.ldexp(tol[:, None], -exponent)  # (p, rows)
        size = np.abs(scaled).sum(axis=2)  # (p, rows)
        threshold = reach[..., None] + size[..., None] * slack_per_size[:, None, :]
        above = (g_m > threshold).all(axis=2)
        maybe: NDArray[np.bool_] = ~above  # nan compares False: a candidate
        maybe |= exponent < np.finfo(starts.dtype).minexp + UNDERFLOW_MARGIN
        return maybe

    def first_nonfinite(self, epochs_run: IntArray) -> IntArray:
        """First epoch <= epochs_run where m, b or the cost is not finite (or -1), per item.

        Per block, |u_{jB+r}| <= R |s_{jB}| entrywise, with R the entrywise largest
        |A^r| over the block's offsets (rows of u); m, b and the cost are then bounded by
        the same sums `Coefficients.observe` forms, taken in absolute value. Only blocks
        whose bound reaches OVERFLOW_MARGIN can overflow, and only those are evaluated,
        epoch by epoch, exactly: in rounds that take each item's next 1, 2, 4, ... such
        blocks, all items at once, until each item's first non-finite epoch is found. So a
        descent that diverges costs O(log epochs) vector operations wherever it starts; the
        epochs evaluated are counted in `walked`.
        """
        coefficients, block = self.coefficients, self.block
        count, blocks = epochs_run.size, self.starts.shape[1]
        reach = np.abs(self.powers[:, :, :2, :]).max(axis=1).astype(np.float64)  # (N, 2, d)
        size = np.abs(self.starts).astype(np.float64)  # (N, J, d); inf where doubling overflowed
        u_bound = size @ reach.transpose(0, 2, 1)  # (N, J, 2)
        risky = ~(coefficients.magnitude_bound(u_bound) < OVERFLOW_MARGIN)
        risky &= np.arange(blocks)[None, :] <= (epochs_run // block)[:, None]
        result = np.full(count, -1, dtype=np.int64)
        items, starts_at = np.nonzero(risky)  # ordered by item, then block
        if items.size == 0:
            return result
        first_of_item = np.searchsorted(items, items, side="left")
        rank = np.arange(items.size) - first_of_item  # position among the item's risky blocks
        per_round = max(1, WALK_CHUNK // block)
        low, width = 0, 1
        while True:
            remaining = (rank >= low) & (result[items] < 0)
            if not remaining.any():
                break
            chosen = np.flatnonzero(remaining & (rank < low + width))
            for lo in range(0, chosen.size, per_round):
                part = chosen[lo : lo + per_round]
                self._walk(items[part], starts_at[part], epochs_run, result)
            low += width
            width *= 2
        return result

    def _walk(self, items: IntArray, blocks: IntArray, last: IntArray, result: IntArray) -> None:
        """Evaluate every epoch of the given (item, block) pairs; record each item's first
        non-finite one in `result` where none is recorded yet (pairs come in block order)."""
        block = self.block
        u = (self.powers[items, :block, :2, :] @ self.starts[items, blocks][:, None, :, None])[
            ..., 0
        ].astype(np.float64)  # (P, B, 2)
        idx = np.broadcast_to(items[:, None], u.shape[:2])
        m, b, cost = self.coefficients.observe(idx, u)
        epochs = blocks[:, None] * block + np.arange(block)[None, :]
        bad = ~(np.isfinite(m) & np.isfinite(b) & np.isfinite(cost)) & (epochs <= last[items, None])
        self.walked += bad.size
        hit = bad.any(axis=1)
        if not hit.any():
            return
        found = np.full(result.size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(found, items[hit], epochs[hit, bad[hit].argmax(axis=1)])
        fresh = (found < np.iinfo(np.int64).max) & (result < 0)
        result[fresh] = found[fresh]
