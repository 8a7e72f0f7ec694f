"""The article's own code, kept verbatim in spirit: plain Python loops over the points.

Used only to check the service on the article's 100-point example.
"""

from __future__ import annotations

from collections.abc import Sequence


def m_grad(m: float, b: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    return sum(-2 * x * (ys[i] - (m * x + b)) for i, x in enumerate(xs)) / float(len(xs))


def b_grad(m: float, b: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    return sum(-2 * (ys[i] - (m * x + b)) for i, x in enumerate(xs)) / float(len(xs))


def gradient_descent(
    xs: Sequence[float], ys: Sequence[float], epochs: int, lr: float
) -> list[tuple[float, float]]:
    """The article's loop (m first, then b at the new m); (m, b) after every epoch, 0 first."""
    m, b = 0.0, 0.0
    path = [(m, b)]
    for _ in range(epochs):
        m = m - lr * m_grad(m, b, xs, ys)
        b = b - lr * b_grad(m, b, xs, ys)
        path.append((m, b))
    return path
