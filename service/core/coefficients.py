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

import numpy as np
from numpy.typing import NDArray

from service.core.iteration import STATE_DIM, iteration_steps, max_stable_learning_rates
from service.core.moments import Moments
from service.core.options import FitOptions

__all__ = ["Coefficients", "prepare"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class Coefficients:
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
    standardized: NDArray[np.bool_]

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
        """m and b as the start plus the accumulated displacements `moved` (..., 2) = (a_m,
        a_b) in descent space, and their terms' sizes.

        Without standardize, b - b_0 = a_b exactly; under standardize b's map back to
        original units, b = mean_y + s_y b_z - m mean_x, is itself part of the definition.
        """
        dm = moved[..., 0] * self.scale[idx, 0]
        db = moved[..., 1] * self.scale[idx, 1]
        m0, b0 = self.m0[idx], self.b0[idx]
        shift = np.where(self.standardized[idx], self.mean_x[idx] * dm, 0.0)
        return (
            m0 + dm,
            b0 + (db - shift),
            np.abs(m0) + np.abs(dm),
            np.abs(b0) + np.abs(db) + np.abs(shift),
        )

    def gradient_norm(self, idx: IntArray, u: FloatArray) -> FloatArray:
        """Euclidean norm of the descended objective's gradient, in descent space."""
        gm = 2 * (self.w[idx] * u[..., 0] + self.mx_d[idx] * u[..., 1])
        result: FloatArray = np.hypot(gm, 2 * u[..., 1])
        return result


def prepare(
    items: Sequence[tuple[Moments, FitOptions]],
) -> tuple[Coefficients, FloatArray, FloatArray]:
    """Descent-space coefficients, the step D = A - I and the initial state of every item."""

    def column(values: Sequence[float]) -> FloatArray:
        return np.asarray(values, dtype=np.float64)

    data = [moments for moments, _ in items]
    opts = [options for _, options in items]
    n = column([d.n for d in data])
    mean_x, mean_y = column([d.mean_x for d in data]), column([d.mean_y for d in data])
    sxx, sxy, syy = (
        column([d.sxx for d in data]),
        column([d.sxy for d in data]),
        column([d.syy for d in data]),
    )
    l2 = column([o.l2 for o in opts])
    standardize = np.array([o.standardize for o in opts])
    m0, b0 = column([o.initial_m for o in opts]), column([o.initial_b for o in opts])

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

    sequential = np.array([o.update == "sequential" for o in opts])
    heavy_ball = np.array([o.optimizer == "momentum" for o in opts])
    nesterov = np.array([o.optimizer == "nesterov" for o in opts])
    mu = column([o.momentum if o.optimizer != "gd" else 0.0 for o in opts])
    lr = column([o.learning_rate for o in opts])
    coefficients = Coefficients(
        lr=lr,
        epochs=np.array([o.epochs for o in opts], dtype=np.int64),
        w=w,
        mx_d=mx_d,
        m_star=m_star,
        b_star=b_star,
        slope_gap=m_star - m_ls,
        mean_x=mean_x,
        vx=vx,
        min_cost=column([d.min_cost for d in data]),
        scale=np.stack((scale_m, scale_c), axis=1),
        m0=m0,
        b0=b0,
        bound=max_stable_learning_rates(w, mx_d, mu, sequential, heavy_ball, nesterov),
        standardized=standardize,
    )
    step = iteration_steps(w, mx_d, lr, mu, sequential, heavy_ball, nesterov)
    return coefficients, step, u0
