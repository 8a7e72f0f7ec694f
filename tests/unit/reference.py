"""A plain per-epoch reference of every update rule, straight from SPEC's formulas.

Slow on purpose: one vectorized pass over the data per epoch, nothing clever, so the
core's closed forms can be checked against it. Never used by the service.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass
class Path:
    m: Array  # m_k for k = 0 .. epochs
    b: Array
    cost: Array  # plain MSE at (m_k, b_k), original units
    grad_norm: Array  # norm of the descended objective's gradient, descent space


def mse(m: float, b: float, x: Array, y: Array) -> float:
    return float(np.mean((y - (m * x + b)) ** 2))


def gradient(m: float, b: float, x: Array, y: Array, l2: float) -> tuple[float, float]:
    residual = y - (m * x + b)
    return float(np.mean(-2 * x * residual)) + 2 * l2 * m, float(np.mean(-2 * residual))


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
) -> Path:
    """Every epoch's (m, b), cost and gradient norm, in original units."""
    mx, my, sx, sy = x.mean(), y.mean(), x.std(), y.std()
    if standardize:
        xd, yd = (x - mx) / sx, (y - my) / sy
        m, b = initial_m * sx / sy, (initial_m * mx + initial_b - my) / sy
    else:
        xd, yd, m, b = x, y, initial_m, initial_b
    lr, mu = learning_rate, momentum
    ms, bs, gs = [m], [b], [np.hypot(*gradient(m, b, xd, yd, l2))]
    vm = vb = 0.0
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
    m_arr, b_arr = np.array(ms), np.array(bs)
    if standardize:
        m_arr, b_arr = m_arr * sy / sx, my + sy * b_arr - (m_arr * sy / sx) * mx
    cost = np.array([mse(mm, bb, x, y) for mm, bb in zip(m_arr, b_arr, strict=True)])
    return Path(m=m_arr, b=b_arr, cost=cost, grad_norm=np.array(gs))
