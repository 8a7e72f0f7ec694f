"""A plain per-epoch reference of every update rule, straight from the contract's formulas
(docs/algorithm.md).

Slow on purpose: one vectorized pass over the data per epoch, nothing clever, so the
core's closed forms can be checked against it. Never used by the service.

It runs in NumPy's extended precision (80-bit long double on x86-64, 3 more digits than
float64) unless told otherwise: a float64 reference on z-scores or raw sums rounds by
eps * offset / spread per point, which at offset / spread ~ 1e7 is itself near 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

Array = NDArray[np.float64]


@dataclass
class Path:
    m: Array  # m_k for k = 0 .. epochs
    b: Array
    cost: Array  # plain MSE at (m_k, b_k), original units
    grad_norm: Array  # norm of the descended objective's gradient, descent space
    gradient_noise: float  # rounding of a float64 gradient: eps |H| (sizes of what it subtracts)


def gradient(m: Any, b: Any, x: Array, y: Array, l2: float) -> tuple[Any, Any]:
    """(dcost/dm + 2 l2 m, dcost/db) at (m, b): the contract's sums over the points
    (NumPy scalars of the reference's precision)."""
    residual = y - (m * x + b)
    return np.mean(-2 * x * residual) + 2 * l2 * m, np.mean(-2 * residual)


def descend(
    x: Array,
    y: Array,
    *,
    learning_rate: float,
    epochs: int,
    initial_m: float = 0.0,
    initial_b: float = 0.0,
    update: str = "simultaneous",
    optimizer: str = "gd",
    momentum: float = 0.9,
    l2: float = 0.0,
    standardize: bool = False,
    dtype: DTypeLike = np.longdouble,
) -> Path:
    """Every epoch's (m, b), cost and gradient norm, in original units."""
    x, y = np.asarray(x, dtype=dtype), np.asarray(y, dtype=dtype)
    one = np.asarray(1, dtype=dtype)
    mx, my = np.mean(x), np.mean(y)
    sx, sy = np.sqrt(np.mean((x - mx) ** 2)), np.sqrt(np.mean((y - my) ** 2))
    m, b = one * initial_m, one * initial_b
    if standardize:
        xd, yd = (x - mx) / sx, (y - my) / sy
        m, b = m * sx / sy, (m * mx + b - my) / sy
    else:
        xd, yd = x, y
    lr, mu = one * learning_rate, one * momentum
    vm = vb = 0 * one
    ms, bs, gs = [m], [b], [np.hypot(*gradient(m, b, xd, yd, l2))]
    for _ in range(epochs):
        if optimizer == "gd" and update == "sequential":
            m = m - lr * gradient(m, b, xd, yd, l2)[0]
            b = b - lr * gradient(m, b, xd, yd, l2)[1]
        elif optimizer == "gd":
            gm, gb = gradient(m, b, xd, yd, l2)
            m, b = m - lr * gm, b - lr * gb
        else:
            at_m, at_b = (m + mu * vm, b + mu * vb) if optimizer == "nesterov" else (m, b)
            gm, gb = gradient(at_m, at_b, xd, yd, l2)
            vm, vb = mu * vm - lr * gm, mu * vb - lr * gb
            m, b = m + vm, b + vb
        ms.append(m)
        bs.append(b)
        gs.append(np.hypot(*gradient(m, b, xd, yd, l2)))
    hessian = 2 * np.array(
        [[np.mean(xd * xd) + l2, np.mean(xd)], [np.mean(xd), 1.0]], dtype=np.float64
    )
    try:
        optimum = np.linalg.solve(
            hessian, 2 * np.array([np.mean(xd * yd), np.mean(yd)], dtype=np.float64)
        )
    except np.linalg.LinAlgError:  # tiny or huge data: the noise estimate is not needed there
        optimum = np.full(2, np.nan)
    start = np.array([ms[0], bs[0]], dtype=np.float64)
    # theta* rounds, and so does the start's move into descent space: b + m mean_x - mean_y
    # is as exact as its largest term (divided by y's spread under standardize).
    scale_m, scale_b = (float(sx / sy), float(1 / sy)) if standardize else (1.0, 1.0)
    start_terms = np.hypot(
        scale_m * abs(initial_m), scale_b * (abs(initial_b) + abs(initial_m * mx) + abs(my))
    )
    distance = np.linalg.norm(start - optimum) + np.linalg.norm(optimum) + start_terms
    if np.all(np.isfinite(hessian)):
        noise = np.finfo(np.float64).eps * np.linalg.norm(hessian, 2) * distance
    else:  # overflowed data: the noise estimate is not needed there
        noise = np.nan
    m_arr, b_arr = np.array(ms, dtype=dtype), np.array(bs, dtype=dtype)
    if standardize:
        m_arr, b_arr = m_arr * sy / sx, my + sy * b_arr - (m_arr * sy / sx) * mx
    cost = np.array(
        [np.mean((y - (mm * x + bb)) ** 2) for mm, bb in zip(m_arr, b_arr, strict=True)]
    )
    as64 = np.float64
    return Path(
        m=m_arr.astype(as64),
        b=b_arr.astype(as64),
        cost=cost.astype(as64),
        grad_norm=np.array(gs, dtype=dtype).astype(as64),
        gradient_noise=float(noise),
    )


HYPERPARAMETERS = (
    "learning_rate",
    "epochs",
    "initial_m",
    "initial_b",
    "update",
    "optimizer",
    "momentum",
    "l2",
    "standardize",
)
"""The fields of a `FitOptions` that `descend` takes."""


def descend_options(x: Array, y: Array, options: Any, **overrides: Any) -> Path:
    """`descend` with the hyperparameters of `options` (a `FitOptions`), `overrides` (e.g.
    ``epochs``, ``dtype``) replacing them."""
    fields = {name: getattr(options, name) for name in HYPERPARAMETERS}
    return descend(x, y, **{**fields, **overrides})


# --- the rules as matrices --------------------------------------------------------------


def spectral_radius(matrix: Array) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def iteration_matrix(x: Array, y: Array, options: Any) -> Array:
    """The rule's matrix on (m, b) or (m, b, v_m, v_b), independently of the core.

    For gd, the columns are one reference step from each unit vector minus the step from 0
    (the step is affine); for the momentum rules, the contract's formulas written as a block matrix.
    """
    if options.optimizer != "gd":
        return _heavy_matrix(x, options)

    def step(m0: float, b0: float) -> Array:
        path = descend(
            x,
            y,
            learning_rate=options.learning_rate,
            epochs=1,
            initial_m=m0,
            initial_b=b0,
            update=options.update,
            l2=options.l2,
        )
        return np.array([path.m[1], path.b[1]])

    offset = step(0.0, 0.0)
    return np.column_stack([step(1.0, 0.0) - offset, step(0.0, 1.0) - offset])


def _heavy_matrix(x: Array, options: Any) -> Array:
    hessian = 2 * np.array([[np.mean(x * x) + options.l2, x.mean()], [x.mean(), 1.0]])
    lr, mu, eye = options.learning_rate, options.momentum, np.eye(2)
    step = eye - lr * hessian
    v_cols = mu * step if options.optimizer == "nesterov" else mu * eye
    return np.block([[step, v_cols], [-lr * hessian, v_cols]])
