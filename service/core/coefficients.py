"""Per-item coefficients of a group of descents: what one O(1) setup derives from the moments.

For each item (moments plus options) of a group, `prepare` computes, as arrays along a
leading item axis, the descent-space quantities (w = vx + l2 and the mean of x where the
descent runs), the optimum in original units, the map from descent-space errors back to
original units, the iteration step D = A - I of the chosen rule (`service.core.iteration`)
and the initial state s_0 (the error from the optimum; velocity 0).

`Coefficients` then turns a descent-space error u = (m - m*, c - c*) into what a fit
reports:

    m = m* + u_m,  b = b* + u_c - mean_x u_m,
    cost = min_cost + vx (m - m_ls)^2 + u_c^2   (min_cost from `service.core.moments`),

so the cost never cancels and never goes negative; where m or b is far below the terms of
that sum they come instead from the start plus the displacement (`from_start`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core.iteration import (
    STATE_DIM,
    WideArray,
    iteration_steps,
    max_stable_learning_rates,
)
from service.core.moments import Moments, height_error
from service.core.options import FitOptions

__all__ = ["Coefficients", "prepare"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class Coefficients:
    """Per-item quantities of a group, as arrays along the leading axis."""

    lr: FloatArray
    epochs: IntArray
    # descent space: gradient g = 2^g_exponent (g_mm u_m + g_mc u_c, g_cc u_c)
    g_mm: FloatArray
    g_mc: FloatArray
    g_cc: FloatArray
    g_exponent: IntArray
    excess_weight: FloatArray  # f - f* = 4^ey (excess_weight^2 u_m^2 + u_c^2)
    # original units
    m_star: FloatArray
    b_star: FloatArray
    mean_x: FloatArray
    min_cost: FloatArray
    # scaled units (m = 2^(ey-ex) m', y = 2^ey y'): nothing here over- or underflows
    m_star_s: FloatArray  # m*'
    mean_x_s: FloatArray  # mean x' = 2^-ex mean_x
    slope_gap: FloatArray  # m*' - m_ls'
    root_vx: FloatArray  # population standard deviation of x'
    scale: FloatArray  # (N, 2): descent-space u -> scaled units (u_m', u_c')
    exponent: IntArray  # (N, 2): (ey - ex, ey), scaled -> original units
    m0: FloatArray
    b0: FloatArray
    bound: FloatArray
    standardized: NDArray[np.bool_]

    def _original(self, idx: IntArray, u: WideArray) -> tuple[WideArray, WideArray, WideArray]:
        """(u_m', u_m, u_c): u's slope error in scaled and original units, and its height
        error in original units (exact powers of two apart: no early over- or underflow)."""
        um_s = u[..., 0] * self.scale[idx, 0]
        um = np.ldexp(um_s, self.exponent[idx, 0])
        uc = np.ldexp(u[..., 1] * self.scale[idx, 1], self.exponent[idx, 1])
        return um_s, um, uc

    def observe(self, idx: IntArray, u: WideArray) -> tuple[WideArray, WideArray, WideArray]:
        """m, b and MSE at descent-space errors u (..., 2) of items idx (broadcast on ...).

        The spread term sqrt(vx) (m - m_ls) is formed in scaled units, where sqrt(vx') and
        m' - m_ls' are both moderate, and only then brought to original units: its two
        factors may be far beyond float64 (x around 1e-165, y around 1e144) where it is not.
        Likewise m = 2^(ey-ex) (m*' + u_m') and b = b* + 2^ey (u_c' - mean_x' u_m'), each
        rounded once into original units (a subnormal m keeps what digits it can, and
        mean_x u_m does not inherit them). In the precision of u: the caller passes the
        state in extended precision and rounds these to float64 (u_m' itself may be subnormal
        in float64: x around 1e-167, whose steps lr 4^ex on m' are about 1e-336).
        """
        um_s = u[..., 0] * self.scale[idx, 0]
        uc_s = u[..., 1] * self.scale[idx, 1]
        e_m, e_c = self.exponent[idx, 0], self.exponent[idx, 1]
        m = np.ldexp(self.m_star_s[idx] + um_s, e_m)
        b = self.b_star[idx] + np.ldexp(uc_s - self.mean_x_s[idx] * um_s, e_c)
        uc = np.ldexp(uc_s, e_c)
        spread = np.ldexp(self.root_vx[idx] * (um_s + self.slope_gap[idx]), e_c)
        cost = self.min_cost[idx] + spread * spread + uc * uc
        return m, b, cost

    def floors(self, idx: IntArray, dtype: np.dtype[Any]) -> tuple[WideArray, WideArray]:
        """What a state or displacement of `dtype` adds to the terms' sizes (`terms`) of m and
        c by its own absolute rounding: below the normal range its spacing is fixed, and the
        size whose eps-rounding is that spacing is the smallest normal number (u_m ~ 1e-321
        carries 1e-3 of itself, which mean_x u_m ~ 1e-280 passes to b)."""
        tiny = np.finfo(dtype).smallest_normal
        floor_m = np.ldexp(tiny * np.abs(self.scale[idx, 0]).astype(dtype), self.exponent[idx, 0])
        floor_c = np.ldexp(tiny * np.abs(self.scale[idx, 1]).astype(dtype), self.exponent[idx, 1])
        return floor_m, floor_c

    def terms(self, idx: IntArray, u: WideArray) -> tuple[WideArray, WideArray]:
        """Sizes of the terms `observe` adds up for m and b: their rounding is eps times this
        (the state's own rounding included, `floors`)."""
        _, um, uc = self._original(idx, u)
        floor_m, floor_c = self.floors(idx, u.dtype)
        um, uc = np.abs(um) + floor_m, np.abs(uc) + floor_c
        return (
            np.abs(self.m_star[idx]) + um,
            np.abs(self.b_star[idx]) + uc + np.abs(self.mean_x[idx]) * um,
        )

    def from_start(self, idx: IntArray, moved: FloatArray) -> tuple[FloatArray, ...]:
        """m and b as the start plus the accumulated displacements `moved` (..., 2) = (a_m,
        a_b) in descent space, and their terms' sizes.

        Without standardize, b - b_0 = a_b exactly; under standardize b's map back to
        original units, b = mean_y + s_y b_z - m mean_x, is itself part of the definition.
        """
        dm_s = moved[..., 0] * self.scale[idx, 0]
        db_s = moved[..., 1] * self.scale[idx, 1]
        e_m, e_c = self.exponent[idx, 0], self.exponent[idx, 1]
        dm, db = np.ldexp(dm_s, e_m), np.ldexp(db_s, e_c)
        m0, b0 = self.m0[idx], self.b0[idx]
        shift_s = np.where(self.standardized[idx], self.mean_x_s[idx] * dm_s, 0.0)
        shift = np.ldexp(shift_s, e_c)
        floor_m, floor_c = self.floors(idx, moved.dtype)
        return (
            m0 + dm,
            b0 + np.ldexp(db_s - shift_s, e_c),
            np.abs(m0) + np.abs(dm) + floor_m,
            np.abs(b0) + np.abs(db) + np.abs(shift) + floor_c,
        )

    def optimum_cost(self) -> FloatArray:
        """The descended objective's minimizer's MSE: min_cost + vx (m* - m_ls)^2."""
        spread = np.ldexp(self.root_vx * self.slope_gap, self.exponent[:, 1])
        result: FloatArray = self.min_cost + spread * spread
        return result

    def magnitude_bound(self, u_bound: FloatArray) -> FloatArray:
        """An upper bound of max(|m|, |b|, cost) over every error u with |u_m| <= u_bound[..., 0]
        and |u_c| <= u_bound[..., 1] (shape (N, ..., 2), items first): the terms `observe`
        adds, in absolute value.
        """
        extra = (slice(None),) + (None,) * (u_bound.ndim - 2)
        e_m, e_c = self.exponent[:, 0][extra], self.exponent[:, 1][extra]
        um_s = u_bound[..., 0] * np.abs(self.scale[:, 0])[extra]
        um = np.ldexp(um_s, e_m)
        uc = np.ldexp(u_bound[..., 1] * np.abs(self.scale[:, 1])[extra], e_c)
        m = np.abs(self.m_star)[extra] + um
        b = np.abs(self.b_star)[extra] + uc + np.abs(self.mean_x)[extra] * um
        spread = np.ldexp(self.root_vx[extra] * (um_s + np.abs(self.slope_gap)[extra]), e_c)
        cost = self.min_cost[extra] + spread * spread + uc * uc
        result: FloatArray = np.maximum(np.maximum(m, b), cost)
        return result

    def gradient_norm(self, idx: IntArray, u: WideArray) -> FloatArray:
        """Euclidean norm of the descended objective's gradient, in descent space, computed
        in the precision of u and rounded to float64 (inf beyond it)."""
        gm = self.g_mm[idx] * u[..., 0] + self.g_mc[idx] * u[..., 1]
        norm = np.hypot(gm, self.g_cc[idx] * u[..., 1])
        result: FloatArray = np.ldexp(norm, self.g_exponent[idx]).astype(np.float64)
        return result


def prepare(
    items: Sequence[tuple[Moments, FitOptions]], *, extended: bool = True
) -> tuple[Coefficients, WideArray, WideArray]:
    """Descent-space coefficients, the step D = A - I and the initial state of every item
    (these two in extended precision unless `extended` is False).

    Without standardize the descent runs in the moments' scaled units (x = 2^ex x',
    y = 2^ey y'; `service.core.iteration`), under standardize in z-space; both are mapped
    back to original units by exact powers of two or by the standard deviations.
    """

    def column(values: Sequence[float]) -> FloatArray:
        return np.asarray(values, dtype=np.float64)

    data = [moments for moments, _ in items]
    opts = [options for _, options in items]
    # The divisor that turns the sums into means: n, or the total weight of weighted data.
    n = column([d.sum_w for d in data])
    ex = np.array([d.x_exponent for d in data], dtype=np.int64)
    ey = np.array([d.y_exponent for d in data], dtype=np.int64)
    mean_x, mean_y = column([d.mean_x for d in data]), column([d.mean_y for d in data])
    sxx, sxy, syy = (
        column([d.sxx for d in data]),
        column([d.sxy for d in data]),
        column([d.syy for d in data]),
    )
    l2 = column([o.l2 for o in opts])
    lr = column([o.learning_rate for o in opts])
    standardize = np.array([o.standardize for o in opts])
    m0, b0 = column([o.initial_m for o in opts]), column([o.initial_b for o in opts])

    vx_s = sxx / n  # scaled units
    root_vx_s = np.sqrt(vx_s)
    root_vy_s = np.sqrt(syy / n)
    vx = np.ldexp(vx_s, 2 * ex)  # original units (may underflow; used where it does not matter)
    m_ls_s = sxy / sxx  # the least-squares slope in scaled units, m' = 2^(ex-ey) m

    # z-space: mean x 0, vx 1, and the slope there is the correlation r = m_ls sx / sy.
    # Descent space -> scaled units: (root_vy' / root_vx', root_vy') in z-space, else (1, 1);
    # scaled -> original units: the exact powers (2^(ey-ex), 2^ey), applied separately, since
    # either may be beyond float64 where the product is not.
    scale_m = np.where(standardize, root_vy_s / root_vx_s, 1.0)
    scale_c = np.where(standardize, root_vy_s, 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        denominator = vx_s + np.ldexp(l2, -2 * ex)  # w' = vx' + l2 4^-ex
        ridge_s = np.where(
            np.isfinite(denominator),
            (sxy / n) / denominator,
            np.ldexp(np.ldexp(sxy / n, ex + ey) / (vx + l2), ex - ey),
        )
    # Under standardize the ridge optimum is r / (1 + l2) in z-space, i.e. m_ls / (1 + l2);
    # without a penalty both are the least-squares slope itself, to the last bit.
    m_star_s = np.where(standardize, m_ls_s / (1 + l2), np.where(l2 > 0, ridge_s, m_ls_s))
    m_star = np.ldexp(m_star_s, ey - ex)  # inf where the optimum is beyond float64 (checked)
    mean_x_s = np.ldexp(mean_x, -ex)
    b_star = mean_y - np.ldexp(m_star_s * mean_x_s, ey)  # m* mean_x (m* may be subnormal)

    # The gradient in the units where the descent runs (original or z): the tolerance's.
    # Without standardize its factor 2^ey is kept apart: 2 vx' 2^(ex+ey) may overflow where
    # the gradient itself (times u_m', which is then tiny) does not.
    g_mm = np.where(standardize, 2 * (1 + l2), 2 * (np.ldexp(vx_s, ex) + np.ldexp(l2, -ex)))
    g_mc = np.where(standardize, 0.0, 2 * mean_x)
    g_cc = np.full(len(items), 2.0)
    g_exponent = np.where(standardize, 0, ey)
    # f - f* = w u_m^2 + u_c^2 in descent units (times 4^ey): the weight of u_m, rooted.
    with np.errstate(over="ignore"):
        excess_weight = np.where(
            standardize, np.sqrt(1 + l2), np.sqrt(vx_s + np.ldexp(l2, -2 * ex))
        )

    u0 = np.zeros((len(items), STATE_DIM))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # z-space: syy > 0
        # u_m' = m0' - m*' (scaled units), then to z-space; u_c = (c0 - c*) / 2^ey.
        u0[:, 0] = (np.ldexp(m0, ex - ey) - m_star_s) / scale_m
        height = column([height_error(d, o.initial_m, o.initial_b) for d, o in items])
        u0[:, 1] = np.ldexp(height, -ey) / scale_c

    # The Hessian in the units of the learning rate (original or z-space), and h11 - h22
    # from its terms.
    h11 = np.where(standardize, 2 * (1 + l2), 2 * (vx + mean_x * mean_x + l2))
    h12 = np.where(standardize, 0.0, 2 * mean_x)
    h_gap = np.where(standardize, 2 * l2, 2 * ((vx - 1) + mean_x * mean_x + l2))

    sequential = np.array([o.update == "sequential" for o in opts])
    heavy_ball = np.array([o.optimizer == "momentum" for o in opts])
    nesterov = np.array([o.optimizer == "nesterov" for o in opts])
    mu = column([o.momentum if o.optimizer != "gd" else 0.0 for o in opts])
    coefficients = Coefficients(
        lr=lr,
        epochs=np.array([o.epochs for o in opts], dtype=np.int64),
        g_mm=g_mm,
        g_mc=g_mc,
        g_cc=g_cc,
        g_exponent=g_exponent,
        excess_weight=excess_weight,
        m_star=m_star,
        b_star=b_star,
        mean_x=mean_x,
        min_cost=np.ldexp(column([d.min_cost for d in data]), 2 * ey),
        m_star_s=m_star_s,
        mean_x_s=mean_x_s,
        slope_gap=m_star_s - m_ls_s,
        root_vx=root_vx_s,
        scale=np.stack((scale_m, scale_c), axis=1),
        exponent=np.stack((ey - ex, ey), axis=1),
        m0=m0,
        b0=b0,
        bound=max_stable_learning_rates(h11, h12, h_gap, mu, sequential, heavy_ball, nesterov),
        standardized=standardize,
    )
    # For the momentum rules the step is in extended precision (x87 long double where NumPy
    # has it): its entries are products of the float64 inputs rounded once at 64 bits, so
    # that nearly coincident eigenvalues of A (momentum near 1 at a rate near the bound, where
    # A^k is sensitive to A like 1 / (their gap)) see their exact values to within 2^-64.
    # Plain gd's 2x2 map has real eigenvalues and no such sensitivity: float64.
    # The mean's remainder too (where the mean is known to it): x on Unix time in ms has a
    # mean rounded by up to 7e-17 of itself, and a rate near the bound turns that error of
    # mx^2 in the step into a phase drift of the oscillation, k times over (2e-11 of it
    # after 3,500 epochs at momentum 0.999, where the float64 loop's own drift was 5e-13).
    wide: type[np.floating[Any]] = np.longdouble if extended else np.float64
    lo_x = column([d.mean_x_lo for d in data]).astype(wide)
    mx_e = np.where(standardize, 0.0, np.ldexp(mean_x.astype(wide) + lo_x, -ex))
    lr_e, l2_e = lr.astype(wide), l2.astype(wide)
    lam_e = np.where(standardize, lr_e, np.ldexp(lr_e, 2 * ex))
    # (and sxx's remainder, where the moments know it: small raw data sets)
    sxx_lo = column([d.sxx_lo for d in data]).astype(wide)
    vx_e = (sxx.astype(wide) + sxx_lo) / n.astype(wide)
    lam_w_e = np.where(standardize, lr_e * (1 + l2_e), np.ldexp(lr_e * vx_e, 2 * ex) + lr_e * l2_e)
    step = iteration_steps(
        lam_e, lam_w_e, mx_e, lr_e, mu.astype(wide), sequential, heavy_ball, nesterov
    )
    return coefficients, step, u0.astype(wide)
