"""Each update rule as a linear map on the error from the optimum, and its stability bound.

Notation (in the space where the descent runs, i.e. z-space under `standardize`):
vx = sxx / n, mx = mean of x, w = vx + l2, and the descended objective
f(m, b) = MSE(m, b) + l2 * m^2 with minimizer (m*, b*). Measure the error in the
coordinates u = (m - m*, c - c*) with c = b + m * mx (the line's height at mean x;
c* = mean y). Then, with no cancellation even when mx is huge,

    gradient   g = G u,   G = 2 [[w, mx], [0, 1]]          (d/dm, d/db of f)
    f - f*       = w u_m^2 + u_c^2

and a step theta -> theta - lr * g moves u by -lr * T g, T = [[1, 0], [mx, 1]], so
K = T G = 2 [[w, mx], [mx w, 1 + mx^2]] plays the role of the Hessian. The rules:

    simultaneous gd   u' = (I - lr K) u
    sequential gd     u' = L2 L1 u  (m first, then b at the new m):
                      L1 = [[1 - 2 lr w, -2 lr mx], [-2 lr mx w, 1 - 2 lr mx^2]],
                      L2 = [[1, 0], [0, 1 - 2 lr]]
    momentum          v' = mu v - lr K u,             u' = u + v'
    nesterov          v' = mu v - lr K (u + mu v),     u' = u + v'

Data far from float64's comfortable range (x around 1e-200, say) is descended in units
scaled by exact powers of two, x = 2^ex x', y = 2^ey y' (`service.core.moments`): then
m = 2^(ey-ex) m', b = 2^ey b', and a step of the original descent is, in those units, a
step of size lam = lr 4^ex on m' and lr on b'. Every formula below holds with lr K
replaced by M = 2 [[lam w', lam mx'], [mx' lam w', lr + lam mx'^2]] (lam w' = lam vx' +
lr l2, computed as such); with ex = ey = 0 (and always under standardize) M = lr K.

So every rule is s' = A s on the state s = (u, v) in R^4 (v = 0 for gd), and
s_k = A^k s_0 exactly. Two more kinds of coordinate ride along in the same linear map:

    v_b     the velocity of b itself (v_c - mx v_m cancels when mx is large):
            v_b' = mu v_b - lr g_b, with g_b = 2 u_c (nesterov: 2 (u_c + mu v_c));
    a_m, a_b  the displacements m_k - m_0 and b_k - b_0, accumulated from the steps
            themselves: a' = a + (the epoch's change of m and b), which for b is
            -lr g_b (sequential: at the new m), never a difference of two large numbers.

The full state z = (u_m, u_c, v_m, v_c, v_b, a_m, a_b) starts at (u_0, 0, 0, 0, 0, 0).

The rule converges iff the spectral radius of A is < 1; with
lambda the largest eigenvalue of the Hessian H = 2 [[w + mx^2, mx], [mx, 1]] (similar
to K), that holds for

    simultaneous gd   lr < 2 / lambda
    momentum          lr < 2 (1 + mu) / lambda
    nesterov          lr < 2 (1 + mu) / ((1 + 2 mu) lambda)
    sequential gd     lr below the smallest positive root where the 2x2 map's trace T and
                      determinant D leave the Jury region |D| < 1, |T| < 1 + D.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AB",
    "AM",
    "STATE_DIM",
    "gradient_matrices",
    "iteration_steps",
    "max_stable_learning_rates",
]

UM, UC, VM, VC, VB, AM, AB = range(7)
"""Indices of the state (u_m, u_c, v_m, v_c, v_b, a_m, a_b); plain gd keeps the v's at 0."""
STATE_DIM = 7

FloatArray = NDArray[np.float64]
WideArray = NDArray[np.floating[Any]]
"""float64 or extended precision: the step is built in the precision of its inputs."""
BoolArray = NDArray[np.bool_]


def gradient_matrices(g_mm: FloatArray, g_mc: FloatArray, g_cc: FloatArray) -> FloatArray:
    """G with g = G s for each item: shape (N, 2, STATE_DIM), zero beyond u.

    g_m = g_mm u_m + g_mc u_c and g_b = g_cc u_c, in the units where the descent runs.
    """
    g = np.zeros((g_mm.size, 2, STATE_DIM))
    g[:, 0, UM] = g_mm
    g[:, 0, UC] = g_mc
    g[:, 1, UC] = g_cc
    return g


def iteration_steps(
    lam: WideArray,
    lam_w: WideArray,
    mx: WideArray,
    lr: WideArray,
    mu: WideArray,
    sequential: BoolArray,
    momentum: BoolArray,
    nesterov: BoolArray,
) -> WideArray:
    """D = A - I, the change per epoch z' - z = D z, for each item: (N, STATE_DIM, STATE_DIM),
    in the precision of the inputs.

    Built from the formulas, not as A - I, so that a small learning rate keeps its digits
    (1 - lr k rounds lr k away; -lr k does not). A itself is I + D.
    """
    n, dtype = lam.size, lam.dtype
    k = np.empty((n, 2, 2), dtype=dtype)  # M = lr K in scaled units
    k[:, 0, 0] = 2 * lam_w
    k[:, 0, 1] = 2 * lam * mx
    k[:, 1, 0] = 2 * mx * lam_w
    k[:, 1, 1] = 2 * (lr + lam * mx * mx)
    minus_lr_k = -k

    d = np.zeros((n, STATE_DIM, STATE_DIM), dtype=dtype)
    d[:, :2, :2] = minus_lr_k
    d[:, VM, VM] = d[:, VC, VC] = d[:, VB, VB] = -1.0  # gd: the velocity stays 0
    d[:, AB, UC] = -2 * lr  # gd: b moves by -lr g_b = -2 lr u_c

    seq = np.flatnonzero(sequential)
    if seq.size:
        # L1 = I + E1 (m's step), L2 = I + E2 (b's step at the new m): L2 L1 - I = E1 + E2 + E2 E1.
        two_lr, mx_s = 2 * lr[seq], mx[seq]
        e1 = np.empty((seq.size, 2, 2), dtype=dtype)
        e1[:, 0, 0] = -2 * lam_w[seq]
        e1[:, 0, 1] = -2 * lam[seq] * mx_s
        e1[:, 1, 0] = -2 * mx_s * lam_w[seq]
        e1[:, 1, 1] = -2 * lam[seq] * mx_s * mx_s
        step = e1.copy()
        step[:, 1, :] *= (1 - two_lr)[:, None]  # E1 + E2 E1 on the c row
        step[:, 1, 1] -= two_lr  # + E2
        d[seq, :2, :2] = step
        # b's gradient is taken at the new m: 2 times the c row of L1 u.
        d[seq, AB, UM] = -two_lr * e1[:, 1, 0]
        d[seq, AB, UC] = -two_lr * _one_minus_twice(lam[seq], mx_s)

    heavy = np.flatnonzero(momentum | nesterov)
    if heavy.size:
        mu_h = mu[heavy][:, None, None]
        eye = np.broadcast_to(np.eye(2, dtype=dtype), (heavy.size, 2, 2))
        # momentum: v-columns of A are mu I in both rows; nesterov: mu (I - M) in both rows.
        v_cols = np.where(
            nesterov[heavy][:, None, None], mu_h * (eye + minus_lr_k[heavy]), mu_h * eye
        )
        d[heavy, 2:4, :2] = minus_lr_k[heavy]
        d[heavy, :2, 2:4] = v_cols
        d[heavy, 2:4, 2:4] = v_cols - eye
        lr_h, mu_v = lr[heavy], mu[heavy]
        d[heavy, VB, UC] = -2 * lr_h
        d[heavy, VB, VC] = np.where(nesterov[heavy], -2 * lr_h * mu_v, 0.0)
        d[heavy, VB, VB] = mu_v - 1
        # m and b move by their new velocities: the v_m and v_b rows of A = I + D.
        d[heavy, AM] = d[heavy, VM]
        d[heavy, AM, VM] += 1
        d[heavy, AB] = d[heavy, VB]
        d[heavy, AB, VB] += 1
    gd_rows = np.flatnonzero(~(momentum | nesterov))
    d[gd_rows, AM, :2] = d[gd_rows, UM, :2]  # gd: m moves as u_m does
    return d


def _one_minus_twice(lam: WideArray, mx: WideArray) -> WideArray:
    """1 - 2 lam mx^2 rounded once (it cancels when the step nearly levels the c error)."""
    with np.errstate(over="ignore", invalid="ignore"):
        plain = 1 - 2 * lam * mx * mx
        cancels = np.flatnonzero(np.isfinite(plain) & (np.abs(plain) < 0.5))
    if cancels.size == 0:  # no cancellation: the plain value is already rounded well
        return plain
    wide = lam.dtype.type
    out = plain.copy()
    for i in cancels.tolist():  # exactly, then hi + lo carries 106 bits into the sum
        exact = (
            1 - 2 * Fraction(*lam[i].as_integer_ratio()) * Fraction(*mx[i].as_integer_ratio()) ** 2
        )
        hi = float(exact)
        out[i] = wide(hi) + wide(float(exact - Fraction(hi)))
    return out


def max_stable_learning_rates(
    h11: FloatArray,
    h12: FloatArray,
    h11_minus_h22: FloatArray,
    mu: FloatArray,
    sequential: BoolArray,
    momentum: BoolArray,
    nesterov: BoolArray,
) -> FloatArray:
    """The smallest learning rate at which each item's rule stops converging.

    H = [[h11, h12], [h12, 2]] is the descended objective's Hessian (in the units of the
    learning rate); h11 - h22 comes in computed from its terms, so that nearly equal
    curvatures keep their digits.
    """
    h22 = np.full_like(h11, 2.0)
    half_gap = 0.5 * h11_minus_h22
    lam = 0.5 * (h11 + h22) + np.hypot(half_gap, h12)
    bound = 2 / lam
    bound = np.where(momentum, 2 * (1 + mu) / lam, bound)
    bound = np.where(nesterov, 2 * (1 + mu) / ((1 + 2 * mu) * lam), bound)
    seq = np.flatnonzero(sequential)
    if seq.size:
        bound[seq] = _sequential_bound(h11[seq], h22[seq], h12[seq], h11_minus_h22[seq])
    return bound


def _sequential_bound(
    h11: FloatArray, h22: FloatArray, h12: FloatArray, gap: FloatArray
) -> FloatArray:
    """Smallest lr > 0 where the spectral radius of L2 L1 (in theta coordinates) reaches 1.

    With s = h11 + h22, q = h11 h22: det D = (1 - lr h11)(1 - lr h22) and trace
    T = 2 - lr s + lr^2 h12^2. The radius reaches 1 where D = 1 (complex pair on the unit
    circle: lr = 1/h11 + 1/h22) or an eigenvalue reaches -1, T = -(1 + D):
    (h12^2 + q) lr^2 - 2 s lr + 4 = 0, whose smaller root is 4 / (s + sqrt(disc)) with
    disc = (h11 - h22)^2 - 4 h12^2, formed as a product of a difference and a sum so that
    nearly equal curvatures (a double root) keep their digits. (T = 1 + D only at lr = 0.)
    """
    s = h11 + h22
    candidates = [1 / h11 + 1 / h22]
    size, cross = np.abs(gap), 2 * np.abs(h12)
    difference, total = size - cross, size + cross
    disc = difference * total
    # Beyond float64's range (curvatures above 1e154) the product overflows: the square
    # root of each factor instead.
    root_disc = np.where(
        np.isfinite(disc),
        np.sqrt(np.maximum(disc, 0.0)),
        np.sqrt(np.maximum(difference, 0.0)) * np.sqrt(total),
    )
    root = np.where(difference >= 0, 4 / (s + root_disc), np.inf)
    candidates.append(root)
    result: FloatArray = np.min(np.stack(candidates), axis=0)
    return result
