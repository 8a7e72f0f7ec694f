"""The momentum optimizers (heavy ball and Nesterov) on the small-problem path: one item in
compiled code (Numba), in double-double arithmetic (`service.core.double_double`).

The rule is the linear map z' = A z of `service.core.iteration` on the state
z = (u_m, u_c, v_m, v_c, v_b, a_m, a_b): the error from the optimum u = (m - m*, c - c*)
(c = b + m mean_x), the velocities, b's own velocity and the displacements of m and b
from the start, z_0 = (u_0, 0, 0, 0, 0, 0). With M = lr K (K the Hessian's role in u
coordinates, `service.core.iteration`), heavy ball v' = mu v - M u, u' = u + v';
Nesterov v' = mu v - M (u + mu v). A is built in double-double from the float64 inputs,
the mean of x with its remainder (mean_x + mean_x_lo) and sxx with its own (sxx + sxx_lo,
where the moments know it), so that a rate near the stable bound with momentum near 1,
where A^k is as sensitive to A's entries as k over the gap of its eigenvalues, sees them to
about 2^-104: an error of A becomes a phase drift that grows with k, and float64's 2^-53,
or even the vectorized path's extended precision (2^-64), drifts past the contract near
the double root within a few thousand epochs.

Epochs are cut into blocks of B ~ sqrt(epochs) (a power of two), as on the other paths:

- the rows of A^r that give u (u_m and u_c read only the first four coordinates), for
  r < B, each from the last (row_(r+1) = row_r A), and the block starts
  z_(jB) = (A^B)^j z_0 with A^B by repeated squaring; O(sqrt(epochs)) double-double
  operations in all;
- any epoch k = jB + r is then two four-term products: u_k = rows(A^r) z_(jB);
- m, b and the cost follow from u rounded to float64, as on the plain-gd path
  (`kernels._observe`): m = m* + s_m u_m, b = b* + (s_c u_c - mean_x s_m u_m),
  cost = min_cost + vx (s_m u_m + m* - m_ls)^2 + (s_c u_c)^2. Where m or b is more than
  `kernels.DIGITS_KEPT` times smaller than those terms (a slow start far from the optimum,
  where the float64 rounding of the optimum and of u_0 would show), the rows of the
  displacements in A^r instead (computed only then): m = m_0 + s_m a_m, b = b_0 + s_c a_b
  (less mean_x s_m a_m under standardize), whichever view has the smaller terms; a value
  found so below `RIDER_FLOOR` (but not 0) goes to the vectorized path;
- `tolerance`: every epoch in turn (the gradient norm of a momentum rule rises and falls),
  screened in float64, g = (G A^r) z_(jB) with the block start rounded, and a bound on the
  screen's error (`SCREEN_SLACK` times the terms' sizes): only epochs the screen cannot
  rule out are evaluated in double-double, which decides. A few nanoseconds an epoch. A
  norm that decides below `RIDER_FLOOR` goes to the vectorized path: in float64's range a
  tolerance of 0 would be met where the state underflows, which the exact descent never
  reaches (extended precision reaches it far later, or not at all);
- no overflow anywhere: the largest |entries| of the rows over a block times the block
  start bound |u| over the block, and so m, b, the cost and the gradient (as
  `service.core.trajectory.Trajectory.first_nonfinite` bounds them); a block whose bound
  reaches `LIMIT` hands the item to the vectorized path, which locates divergence.

It takes the data in float64's comfortable range (no power-of-two scaling), a rate below
the stable bound and a start well inside float64; anything else returns None and the
vectorized path (extended precision) decides. `fit` and `fit_batch` both ask this path
first for every item, so an item's answer does not depend on the company it keeps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core import kernels
from service.core.advice import warnings_for
from service.core.double_double import (
    add,
    divide_double,
    dot,
    dot4,
    inlined,
    multiply,
    scale,
    two_product,
    two_sum,
)
from service.core.history import history_epochs
from service.core.iteration import AB, AM, STATE_DIM, UC, UM, VB, VC, VM
from service.core.kernels import compiled
from service.core.moments import Moments, height_error
from service.core.options import FitOptions
from service.core.result import FitResult, History, Optimum, StopReason
from service.core.scalar import (
    FITTED,
    NEEDS_HEIGHT,
    NESTEROV,
    OPTIMIZERS,
    START_LIMIT,
    VECTORIZED,
    item_coefficients,
    within_reach,
)

__all__ = ["Tables", "descend_momentum", "points", "trajectory"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Tables = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
"""(A_hi, A_lo, rows_hi, rows_lo, starts_hi, starts_lo): A (7, 7); the rows of u in A^r
(B, 2, 4); the block starts (J, 7)."""

CORE = 4
"""u and v: the coordinates that u reads (the others ride along)."""
LIMIT = 1e290
"""A bound of |m|, |b|, the cost or the gradient norm at or above this, in any block, hands
the item to the vectorized path (which locates overflow)."""
RIDER_FLOOR = 2.0**-900
"""m or b below this (but not 0) at an epoch where it is far smaller than its terms, or a
gradient norm below this where the tolerance scan decides, goes to the vectorized path
(`_from_start`, `_first_below`)."""
OUT_OF_REACH = -2
"""`_first_below`'s answer where extended precision is to decide."""
SCREEN_SLACK = 64 * float(np.finfo(np.float64).eps)
"""Relative error bound of the tolerance screen: the rows and the block start each rounded
to float64, the map's two terms and the four-term sum (about 10 eps), with room."""
SCREEN_FLOOR = 64 * float(np.finfo(np.float64).smallest_subnormal)
"""Absolute slack of the screen: products that float64 rounds to its subnormal spacing (per
unit of the block start's size for the maps' own entries)."""


@compiled
def _step(
    lr: float, lam_w: tuple[float, float], mx: tuple[float, float], mu: float,
    nesterov: bool,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """A = I + D of the momentum rule (`service.core.iteration.iteration_steps`) in
    double-double, (hi, lo) each (7, 7), from lam_w = lr (vx + l2) (or lr (1 + l2) in
    z-space) and mx (0 in z-space)."""
    a_hi, a_lo = np.zeros((STATE_DIM, STATE_DIM)), np.zeros((STATE_DIM, STATE_DIM))
    # M = lr K = 2 [[lam_w, lr mx], [mx lam_w, lr + lr mx^2]], as (hi, lo) [row, column]
    m_hi, m_lo = np.empty((2, 2)), np.empty((2, 2))
    m_hi[0, 0], m_lo[0, 0] = 2 * lam_w[0], 2 * lam_w[1]
    m_hi[0, 1], m_lo[0, 1] = scale(mx[0], mx[1], 2 * lr)
    cross = multiply(mx[0], mx[1], lam_w[0], lam_w[1])
    m_hi[1, 0], m_lo[1, 0] = 2 * cross[0], 2 * cross[1]
    square = multiply(mx[0], mx[1], mx[0], mx[1])
    lr_square = scale(square[0], square[1], lr)
    corner = add(lr, 0.0, lr_square[0], lr_square[1])
    m_hi[1, 1], m_lo[1, 1] = 2 * corner[0], 2 * corner[1]
    for i in range(2):
        for c in range(2):
            identity = 1.0 if i == c else 0.0
            keep = add(identity, 0.0, -m_hi[i, c], -m_lo[i, c])  # I - M
            if nesterov:  # the velocity's columns: mu (I - M)
                velocity = scale(keep[0], keep[1], mu)
            else:  # mu I
                velocity = (mu * identity, 0.0)
            a_hi[i, c], a_lo[i, c] = keep
            a_hi[i, 2 + c], a_lo[i, 2 + c] = velocity
            a_hi[2 + i, c], a_lo[2 + i, c] = -m_hi[i, c], -m_lo[i, c]
            a_hi[2 + i, 2 + c], a_lo[2 + i, 2 + c] = velocity
    # b's velocity: v_b' = mu v_b - lr g_b, g_b = 2 u_c (Nesterov: 2 (u_c + mu v_c))
    a_hi[VB, UC] = -2 * lr
    if nesterov:
        a_hi[VB, VC], a_lo[VB, VC] = two_product(-2 * lr, mu)
    a_hi[VB, VB] = mu
    # m and b move by their new velocities
    for c in range(STATE_DIM):
        a_hi[AM, c], a_lo[AM, c] = a_hi[VM, c], a_lo[VM, c]
        a_hi[AB, c], a_lo[AB, c] = a_hi[VB, c], a_lo[VB, c]
    a_hi[AM, AM] = 1.0
    a_hi[AB, AB] = 1.0
    return a_hi, a_lo


@compiled
def _times(
    a_hi: FloatArray, a_lo: FloatArray, b_hi: FloatArray, b_lo: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The matrix product a b in double-double."""
    size = a_hi.shape[0]
    bt_hi, bt_lo = b_hi.T.copy(), b_lo.T.copy()
    out_hi, out_lo = np.empty((size, size)), np.empty((size, size))
    for i in range(size):
        for c in range(size):
            out_hi[i, c], out_lo[i, c] = dot(a_hi[i], a_lo[i], bt_hi[c], bt_lo[c])
    return out_hi, out_lo


@compiled
def _rows(
    a_hi: FloatArray, a_lo: FloatArray, first: int, second: int, width: int, block: int
) -> tuple[FloatArray, FloatArray]:
    """Rows `first` and `second` of A^r for r < block, their first `width` columns (A's
    rows reading only those): (hi, lo) each (block, 2, width), row_(r+1) = row_r A."""
    at_hi, at_lo = a_hi[:width, :width].T.copy(), a_lo[:width, :width].T.copy()
    rows_hi, rows_lo = np.zeros((block, 2, width)), np.zeros((block, 2, width))
    rows_hi[0, 0, first] = 1.0
    rows_hi[0, 1, second] = 1.0
    for r in range(1, block):
        for i in range(2):
            for c in range(width):
                rows_hi[r, i, c], rows_lo[r, i, c] = dot(
                    rows_hi[r - 1, i], rows_lo[r - 1, i], at_hi[c], at_lo[c]
                )
    return rows_hi, rows_lo


@compiled
def _starts(
    a_hi: FloatArray, a_lo: FloatArray, block: int, blocks: int, u_m: float, u_c: float
) -> tuple[FloatArray, FloatArray]:
    """The block starts z_(jB) = (A^B)^j z_0 for j < blocks: (hi, lo) each (blocks, 7)."""
    power_hi, power_lo = a_hi, a_lo
    width = 1
    while width < block:  # A^B by repeated squaring (B a power of two)
        power_hi, power_lo = _times(power_hi, power_lo, power_hi, power_lo)
        width *= 2
    starts_hi, starts_lo = np.zeros((blocks, STATE_DIM)), np.zeros((blocks, STATE_DIM))
    starts_hi[0, UM], starts_hi[0, UC] = u_m, u_c
    for j in range(1, blocks):
        for i in range(STATE_DIM):
            starts_hi[j, i], starts_lo[j, i] = dot(
                power_hi[i], power_lo[i], starts_hi[j - 1], starts_lo[j - 1]
            )
    return starts_hi, starts_lo


@compiled
def _tables(
    lr: float, lam_w: tuple[float, float], mx: tuple[float, float], mu: float,
    nesterov: bool, u_m: float, u_c: float, last: int,
) -> Tables:  # fmt: skip
    """A, the rows of u in A^r and the block starts, for epochs 0 .. last."""
    a_hi, a_lo = _step(lr, lam_w, mx, mu, nesterov)
    block = kernels._block_size(last)
    rows_hi, rows_lo = _rows(a_hi, a_lo, UM, UC, CORE, block)
    starts_hi, starts_lo = _starts(a_hi, a_lo, block, last // block + 1, u_m, u_c)
    return a_hi, a_lo, rows_hi, rows_lo, starts_hi, starts_lo


@inlined
def _state(
    rows_hi: FloatArray, rows_lo: FloatArray, starts_hi: FloatArray, starts_lo: FloatArray,
    j: int, r: int,
) -> tuple[float, float, float, float]:  # fmt: skip
    """u_k = rows(A^r) z_(jB) at k = jB + r: (u_m hi, lo, u_c hi, lo)."""
    u_m = dot4(rows_hi[r], rows_lo[r], 0, starts_hi, starts_lo, j)
    u_c = dot4(rows_hi[r], rows_lo[r], 1, starts_hi, starts_lo, j)
    return u_m[0], u_m[1], u_c[0], u_c[1]


@inlined
def _norm(
    g_mm: float, g_mc: float, g_cc: float, um_hi: float, um_lo: float, uc_hi: float,
    uc_lo: float,
) -> float:  # fmt: skip
    """|G u| = |(g_mm u_m + g_mc u_c, g_cc u_c)|, each component rounded once."""
    first = scale(um_hi, um_lo, g_mm)
    second = scale(uc_hi, uc_lo, g_mc)
    g_m = add(first[0], first[1], second[0], second[1])[0]
    return math.hypot(g_m, scale(uc_hi, uc_lo, g_cc)[0])


@compiled
def _from_start(
    p: FloatArray, tables: Tables, riders: tuple[FloatArray, FloatArray], j: int, r: int,
    um: float, uc: float, m: float, b: float,
) -> tuple[float, float, bool]:  # fmt: skip
    """m and b from the start plus the displacements (a_m, a_b) = rows(A^r) z_(jB), each
    where its terms are smaller than those of the optimum's view (`kernels.start_view`),
    and whether both are within this path's reach: not where either is below `RIDER_FLOOR`
    but not 0 (m or b far smaller than its terms and tiny in itself: the products that form
    it fall below float64's normal range, where they are no longer exact; extended precision
    reaches much further down; a value that stays exactly 0, such as b on centred data from
    b_0 = 0, is exact)."""
    starts_hi, starts_lo = tables[4], tables[5]
    rows_hi, rows_lo = riders
    a_m = dot(rows_hi[r, 0], rows_lo[r, 0], starts_hi[j], starts_lo[j])
    a_b = dot(rows_hi[r, 1], rows_lo[r, 1], starts_hi[j], starts_lo[j])
    dm = scale(a_m[0], a_m[1], p[12])
    db = scale(a_b[0], a_b[1], p[13])
    shift = scale(dm[0], dm[1], p[16]) if p[22] else (0.0, 0.0)
    take_m, take_b = kernels.start_view(p, um, uc, dm[0], db[0], shift[0])
    if take_m:
        m = add(p[20], 0.0, dm[0], dm[1])[0]
    if take_b:
        moved = add(db[0], db[1], -shift[0], -shift[1])
        b = add(p[21], 0.0, moved[0], moved[1])[0]
    return m, b, not (0 < abs(m) < RIDER_FLOOR or 0 < abs(b) < RIDER_FLOOR)


@compiled
def _riders(tables: Tables) -> tuple[FloatArray, FloatArray]:
    """Rows a_m and a_b of A^r for r < B (all seven columns)."""
    return _rows(tables[0], tables[1], AM, AB, STATE_DIM, tables[2].shape[0])


@compiled
def _points(p: FloatArray, tables: Tables, epochs: IntArray, out: FloatArray) -> bool:
    """(m, b, cost) at each of the epochs (each within the tables) into out (3, count); the
    displacements' rows only where some point needs them. False where a point is beyond
    this path's reach (`_from_start`)."""
    rows_hi, rows_lo, starts_hi, starts_lo = tables[2], tables[3], tables[4], tables[5]
    block = rows_hi.shape[0]
    shift, mask = _block_bits(block), block - 1  # (k // block, k % block without dividing)
    count = epochs.size
    lossy = np.zeros(count, dtype=np.bool_)
    states = np.empty((count, 2))
    for i in range(count):
        k = epochs[i]
        um_hi, um_lo, uc_hi, uc_lo = _state(
            rows_hi, rows_lo, starts_hi, starts_lo, k >> shift, k & mask
        )
        out[0, i], out[1, i], out[2, i], lossy[i] = kernels._observe(p, k, um_hi, uc_hi)
        states[i, 0], states[i, 1] = um_hi, uc_hi
    if not lossy.any():
        return True
    riders = _riders(tables)
    for i in range(count):
        if lossy[i]:
            k = epochs[i]
            out[0, i], out[1, i], reached = _from_start(
                p, tables, riders, k >> shift, k & mask, states[i, 0], states[i, 1],
                out[0, i], out[1, i],
            )  # fmt: skip
            if not reached:
                return False
    return True


@compiled
def _block_bits(block: int) -> int:
    """log2 of the block (a power of two)."""
    shift = 0
    while (1 << shift) < block:
        shift += 1
    return shift


@compiled
def _bounded(
    p: FloatArray, tables: Tables, last: int, g_mm: float, g_mc: float, g_cc: float
) -> bool:
    """Whether |m|, |b|, the cost and the gradient norm stay below LIMIT at every epoch
    0 .. last: per block, |u| <= R |z_(jB)| with R the largest |rows(A^r)| over the block's
    offsets, and the sums `_observe` forms taken in absolute value."""
    rows_hi, starts_hi = tables[2], tables[4]
    block = rows_hi.shape[0]
    reach = np.zeros((2, CORE))
    for r in range(block):
        for i in range(2):
            for c in range(CORE):
                reach[i, c] = max(reach[i, c], abs(rows_hi[r, i, c]))
    scale_m, scale_c, m_star, b_star, mean_x, root_vx, slope_gap, min_cost = p[12:20]
    margin = 1 + 1e-6  # the rounding of the rows and starts to their float64 parts
    for j in range(last // block + 1):
        bound_m, bound_c = 0.0, 0.0
        for c in range(CORE):
            size = abs(starts_hi[j, c])
            bound_m += reach[0, c] * size
            bound_c += reach[1, c] * size
        bound_m, bound_c = margin * bound_m, margin * bound_c
        um, uc = bound_m * abs(scale_m), bound_c * abs(scale_c)
        spread = root_vx * (um + abs(slope_gap))
        largest = max(
            abs(m_star) + um,
            abs(b_star) + uc + abs(mean_x) * um,
            min_cost + spread * spread + uc * uc,
            abs(g_mm) * bound_m + (abs(g_mc) + abs(g_cc)) * bound_c,
        )
        if not largest < LIMIT:  # (nan too)
            return False
    return True


@compiled
def _first_below(
    tables: Tables, g_mm: float, g_mc: float, g_cc: float, tol: float, last: int
) -> int:
    """The first epoch k <= last whose gradient norm (`_norm` of the double-double u_k) is
    at most tol, -1 for none, or `OUT_OF_REACH` where a norm that decides is below
    `RIDER_FLOOR` (the products that form it leave float64's normal range, and a norm that
    underflows to 0 would meet a tolerance of 0 that the exact descent never meets: extended
    precision decides). Every epoch is screened in float64, g = (G A^r) z_(jB), and skipped
    where a component exceeds tol by more than the screen's error bound: relative to the
    terms' sizes, plus what float64 loses absolutely where the rows of A^r or their maps are
    subnormal (`SCREEN_FLOOR` for each, times the block start's size)."""
    rows_hi, rows_lo, starts_hi, starts_lo = tables[2], tables[3], tables[4], tables[5]
    block = int(rows_hi.shape[0])
    maps = np.empty((block, 2, CORE))  # G A^r's rows, in float64
    slack = np.empty(block)
    floor = SCREEN_FLOOR * (1 + abs(g_mm) + abs(g_mc) + abs(g_cc))
    for r in range(block):
        largest = 0.0
        for c in range(CORE):
            a_m, a_c = rows_hi[r, 0, c], rows_hi[r, 1, c]
            maps[r, 0, c] = g_mm * a_m + g_mc * a_c
            maps[r, 1, c] = g_cc * a_c
            largest = max(largest, abs(g_mm * a_m) + abs(g_mc * a_c), abs(g_cc * a_c))
        slack[r] = SCREEN_SLACK * largest + floor
    for j in range(last // block + 1):
        s0, s1, s2, s3 = starts_hi[j, 0], starts_hi[j, 1], starts_hi[j, 2], starts_hi[j, 3]
        size = abs(s0) + abs(s1) + abs(s2) + abs(s3)
        for r in range(block):
            k = j * block + r
            if k > last:
                return -1
            g_m = maps[r, 0, 0] * s0 + maps[r, 0, 1] * s1 + maps[r, 0, 2] * s2 + maps[r, 0, 3] * s3
            g_b = maps[r, 1, 0] * s0 + maps[r, 1, 1] * s1 + maps[r, 1, 2] * s2 + maps[r, 1, 3] * s3
            reach = tol + slack[r] * size + SCREEN_FLOOR
            if abs(g_m) > reach or abs(g_b) > reach:
                continue
            um_hi, um_lo, uc_hi, uc_lo = _state(rows_hi, rows_lo, starts_hi, starts_lo, j, r)
            norm = _norm(g_mm, g_mc, g_cc, um_hi, um_lo, uc_hi, uc_lo)
            if not norm >= RIDER_FLOOR:  # (nan too)
                return OUT_OF_REACH
            if norm <= tol:
                return k
    return -1


@compiled
def _momentum_fit(
    sum_w: float, mean_x: float, mean_y: float, lo_x: float, lo_y: float, sxx: float,
    sxx_lo: float, sxy: float, syy: float, min_cost: float, height: float, l2: float,
    lr: float, standardize: bool, m0: float, b0: float, mu: float, optimizer: int,
    epochs: int, tolerance: float, p: FloatArray,
) -> tuple[tuple[int, float, int, bool, float, float, float, float], Tables]:  # fmt: skip
    """The descent of one item: ((status, stable bound, epochs run, stopped by the
    tolerance, m, b, cost, gradient norm), the tables), the packed start and view into `p`
    (`scalar.item_coefficients`). status `FITTED`; `VECTORIZED` (the vectorized path decides:
    an unstable rate, or a start or a path beyond what this path takes); `NEEDS_HEIGHT`
    (`height` nan, and the start's height needs fractions: call again with
    `height_error`'s)."""
    nan = math.nan
    none = np.empty((0, 0))
    empty: Tables = (none, none, np.empty((0, 2, CORE)), np.empty((0, 2, CORE)), none, none)
    if math.isnan(height):
        exact, height = kernels.line_height(m0, b0, mean_x, mean_y, lo_x, lo_y)
        if not exact:
            return (NEEDS_HEIGHT, nan, 0, False, nan, nan, nan, nan), empty
    g_mm, g_mc, g_cc, bound = item_coefficients(
        sum_w, mean_x, mean_y, sxx, sxy, syy, min_cost, height, l2, lr, standardize, m0, b0,
        False, 0.0, mu, optimizer, p,
    )  # fmt: skip
    start_cost = kernels._trajectory_point(p, 0)[4]
    if not (math.isfinite(start_cost) and start_cost <= START_LIMIT and lr < bound):
        return (VECTORIZED, bound, 0, False, nan, nan, nan, nan), empty
    if standardize:  # lr (1 + l2), with 1 + l2 itself exact
        one_plus = add(1.0, 0.0, l2, 0.0)
        lam_w, mx = scale(one_plus[0], one_plus[1], lr), (0.0, 0.0)
    else:
        exact_sxx = two_sum(sxx, sxx_lo)
        vx = divide_double(exact_sxx[0], exact_sxx[1], sum_w)
        lr_vx = scale(vx[0], vx[1], lr)
        lr_l2 = two_product(lr, l2)
        lam_w, mx = add(lr_vx[0], lr_vx[1], lr_l2[0], lr_l2[1]), (mean_x, lo_x)
    tables = _tables(lr, lam_w, mx, mu, optimizer == NESTEROV, p[10], p[11], epochs)
    if not _bounded(p, tables, epochs, g_mm, g_mc, g_cc):
        return (VECTORIZED, bound, 0, False, nan, nan, nan, nan), empty
    epochs_run, stopped = epochs, False
    if not math.isnan(tolerance):
        first = _first_below(tables, g_mm, g_mc, g_cc, tolerance, epochs)
        if first == OUT_OF_REACH:
            return (VECTORIZED, bound, 0, False, nan, nan, nan, nan), empty
        if first >= 0:
            epochs_run, stopped = first, True
    final = np.empty((3, 1))
    reached = _points(p, tables, np.array([epochs_run]), final)
    block = tables[2].shape[0]
    um_hi, um_lo, uc_hi, uc_lo = _state(
        tables[2], tables[3], tables[4], tables[5], epochs_run // block, epochs_run % block
    )
    grad = _norm(g_mm, g_mc, g_cc, um_hi, um_lo, uc_hi, uc_lo)
    m, b, cost = final[0, 0], final[1, 0], final[2, 0]
    finite = math.isfinite(m) and math.isfinite(b) and math.isfinite(cost) and math.isfinite(grad)
    if not (reached and finite):
        return (VECTORIZED, bound, 0, False, nan, nan, nan, nan), empty
    return (FITTED, bound, epochs_run, stopped, m, b, cost, grad), tables


Arguments = tuple[
    float, float, float, float, float, float, float, float, float, float, float, float, float,
    bool, float, float, float, int, int, float,
]  # fmt: skip
"""`_momentum_fit`'s arguments but the last (the parameters' array)."""


def _arguments(moments: Moments, options: FitOptions, height: float) -> Arguments:
    """`_momentum_fit`'s arguments for the item (`height` nan: computed there), as float64s
    and ints whatever numbers the options hold (other types would compile another
    specialization, seconds on first use)."""
    return (
        moments.sum_w, moments.mean_x, moments.mean_y, moments.mean_x_lo, moments.mean_y_lo,
        moments.sxx, moments.sxx_lo, moments.sxy, moments.syy, moments.min_cost, height,
        float(options.l2),
        float(options.learning_rate), bool(options.standardize), float(options.initial_m),
        float(options.initial_b), float(options.momentum), OPTIMIZERS[options.optimizer],
        int(options.epochs), math.nan if options.tolerance is None else float(options.tolerance),
    )  # fmt: skip


def trajectory(
    moments: Moments, options: FitOptions
) -> tuple[tuple[Any, ...], FloatArray, Tables] | None:
    """`_momentum_fit`'s answer, the packed parameters and the tables for one item, or None
    where the vectorized path decides (the item's options are valid and its data
    representable)."""
    if options.optimizer == "gd" or not within_reach(moments, options):
        return None
    parameters = np.empty(kernels.PARAMETERS)
    answer, tables = _momentum_fit(*_arguments(moments, options, math.nan), parameters)
    if answer[0] == NEEDS_HEIGHT:
        height = height_error(moments, options.initial_m, options.initial_b)
        answer, tables = _momentum_fit(*_arguments(moments, options, height), parameters)
    if answer[0] != FITTED:
        return None
    return answer, parameters, tables


def points(parameters: FloatArray, tables: Tables, epochs: IntArray) -> FloatArray | None:
    """(m, b, cost) at each of the epochs (int64, within the tables): shape (3, count); None
    where a point is beyond this path's reach (the vectorized path is to decide)."""
    out = np.empty((3, epochs.size))
    if not _points(parameters, tables, np.ascontiguousarray(epochs, dtype=np.int64), out):
        return None
    return out


def descend_momentum(moments: Moments, options: FitOptions) -> FitResult | None:
    """The fit of one item with a momentum optimizer by this path, or None when the item
    is for the vectorized path (the item's options are valid and its data representable)."""
    found = trajectory(moments, options)
    if found is None:
        return None
    answer, parameters, tables = found
    _, bound, epochs_run, stopped, m, b, cost, grad = answer
    history = None
    if options.history_points:
        recorded = history_epochs(epochs_run, options.history_points, options.history_spacing)
        table = points(parameters, tables, recorded)
        if table is None:
            return None
        # (the same function as the final point's: the last entry is the answer's bits)
        history = History(epoch=recorded, m=table[0], b=table[1], cost=table[2])
    optimum = Optimum(*kernels.optimum(parameters))
    warnings = warnings_for(
        moments, options, bound, stopped=stopped, m=m, b=b, cost=cost, optimum=optimum
    )
    stop_reason: StopReason = "tolerance" if stopped else "epochs"
    return FitResult(
        m, b, cost, epochs_run, stop_reason, grad, moments.n, optimum, bound, warnings, history
    )
