"""The article's gradient descent in plain Python: the peer that the speed targets of
docs/performance.md are measured against (benchmarks/core.py in-process, benchmarks/load.py
over HTTP)."""

from __future__ import annotations


def article_fit(xs: list[float], ys: list[float], epochs: int, lr: float) -> tuple[float, float]:
    """The article's gradient_descent_LR, verbatim in substance (plain Python loops; the
    sequential rule: m first, then b at the new m)."""
    m = b = 0.0
    n = float(len(xs))
    for _ in range(epochs):
        m = m - lr * sum(-2 * x * (ys[i] - (m * x + b)) for i, x in enumerate(xs)) / n
        b = b - lr * sum(-2 * (ys[i] - (m * x + b)) for i, x in enumerate(xs)) / n
    return m, b
