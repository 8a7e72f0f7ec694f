"""The contract's yardstick (docs/algorithm.md): the per-epoch descent in exact arithmetic
on the float64 inputs.

The moments of the float64 data are computed exactly (fractions.Fraction); the descent
then runs epoch by epoch on them in 80-digit decimal arithmetic (the square roots that
`standardize` needs are irrational, so "exact" means 80 digits, far beyond anything a
float64 result can show). `float_loop` is the plain float64 per-epoch loop (the article's
code, vectorized), whose error the bound also allows 16 times over. `within_bound`
checks the bound at every epoch. Slow on purpose and never used by the service.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from service.core import FitOptions, Moments

Array = NDArray[np.float64]
D = decimal.Decimal
CONTEXT = decimal.Context(prec=80, Emax=10**6, Emin=-(10**6))
EXACT = decimal.Context(prec=10**5, Emax=10**6, Emin=-(10**6), traps=[decimal.Inexact])
"""For sums and products of float64 values and 80-digit iterates, which it holds exactly
(a float64 has at most 767 significant digits; decimal's cost follows the digits a result
needs, not prec). Differences that can cancel to exactly 0 are taken in it: rounding one
operand to 80 digits first would leave a residue of 1e-80 of it where the exact descent
has none (a start on the optimum's height with constant y would move)."""


@dataclass(frozen=True)
class ExactMoments:
    n: D
    mean_x: D
    mean_y: D
    sxx: D
    sxy: D
    syy: D


def _d(value: Fraction | float | int) -> D:
    if isinstance(value, Fraction):
        denominator = value.denominator
        while denominator % 10 == 0:
            denominator //= 10
        for prime in (2, 5):
            while denominator % prime == 0:
                denominator //= prime
        # A finite decimal (e.g. the mean of 2 or 4 floats) exactly, else 80 digits.
        context = EXACT if denominator == 1 else CONTEXT
        return context.divide(D(value.numerator), D(value.denominator))
    return D(value)  # exact for floats and ints


def exact_moments(x: Sequence[float] | Array, y: Sequence[float] | Array) -> ExactMoments:
    """The centred moments of the float64 points, exactly (then rounded to 80 digits)."""
    xs = [Fraction(float(v)) for v in x]
    ys = [Fraction(float(v)) for v in y]
    n = len(xs)
    mx, my = sum(xs, Fraction(0)) / n, sum(ys, Fraction(0)) / n
    dx = [v - mx for v in xs]
    dy = [v - my for v in ys]
    return ExactMoments(
        D(n),
        _d(mx),
        _d(my),
        _d(sum((a * a for a in dx), Fraction(0))),
        _d(sum((a * b for a, b in zip(dx, dy, strict=True)), Fraction(0))),
        _d(sum((b * b for b in dy), Fraction(0))),
    )


def moments_as_sent(moments: Moments) -> ExactMoments:
    """The exact descent of `moments` input is the one on the moments as sent: the stored
    sums (and total weight) times their exact powers of two, back in original units."""
    ex, ey, ew = moments.x_exponent, moments.y_exponent, moments.w_exponent

    def scaled(value: float, exponent: int) -> D:
        return _d(Fraction(value) * Fraction(2) ** exponent)

    return ExactMoments(
        scaled(moments.sum_w, ew),
        D(moments.mean_x),
        D(moments.mean_y),
        scaled(moments.sxx, ew + 2 * ex),
        scaled(moments.sxy, ew + ex + ey),
        scaled(moments.syy, ew + 2 * ey),
    )


@dataclass(frozen=True)
class ExactPath:
    m: list[D]
    b: list[D]

    def floats(self) -> tuple[Array, Array]:
        return np.array([float(v) for v in self.m]), np.array([float(v) for v in self.b])


def descend(moments: ExactMoments, options: FitOptions, epochs: int | None = None) -> ExactPath:
    """(m_k, b_k) for k = 0 .. epochs, in original units, per the contract's update rules.

    The iterates are carried as the start plus displacements, m_k = m_0 + a_k and
    b_k = b_0 + e_k, each step rounded to 80 digits of its own size, and the gradient's
    differences at the start (the height mean_y - m_0 mean_x - b_0 and m_0 vx - cov) are
    exact: a start on the optimum's height stays there exactly, as it does in exact
    arithmetic, instead of moving by the 1e-80 rounding of an 80-digit copy of b_0.
    """
    c = CONTEXT
    epochs = options.epochs if epochs is None else epochs
    n, mx, my = moments.n, moments.mean_x, moments.mean_y
    lr, mu, l2 = D(options.learning_rate), D(options.momentum), D(options.l2)
    m0, b0 = D(options.initial_m), D(options.initial_b)
    two = D(2)
    if options.standardize:
        sx = c.sqrt(c.divide(moments.sxx, n))
        sy = c.sqrt(c.divide(moments.syy, n))
        vx = D(1)
        cov = c.divide(moments.sxy, c.multiply(n, c.multiply(sx, sy)))
        mean_x = mean_y = D(0)
        m_start = c.divide(c.multiply(m0, sx), sy)
        b_start = c.divide(EXACT.subtract(EXACT.add(EXACT.multiply(m0, mx), b0), my), sy)
    else:
        vx, cov = c.divide(moments.sxx, n), c.divide(moments.sxy, n)
        mean_x, mean_y = mx, my
        m_start, b_start = m0, b0
    # mean_y - m mean_x - b and m vx - cov at the start, exactly (they may cancel to 0).
    height0 = EXACT.subtract(EXACT.subtract(mean_y, EXACT.multiply(m_start, mean_x)), b_start)
    tilt0 = EXACT.subtract(EXACT.multiply(m_start, vx), cov)

    def gradient(am: D, ab: D) -> tuple[D, D]:
        # At (m_start + am, b_start + ab): dcost/db = -2 mean(y - m x - b); dcost/dm =
        # 2 (m vx - cov) + mean_x dcost/db, the contract's sums rewritten around the means.
        height = c.subtract(height0, c.add(c.multiply(am, mean_x), ab))
        gb = c.multiply(-two, height)
        gm = c.add(c.multiply(two, c.add(tilt0, c.multiply(am, vx))), c.multiply(mean_x, gb))
        m = c.add(m_start, am)
        return c.add(gm, c.multiply(two, c.multiply(l2, m))), gb

    zero = D(0)
    am, ab, vm, vb = zero, zero, zero, zero
    ams, abs_ = [am], [ab]
    for _ in range(epochs):
        if options.optimizer == "gd" and options.update == "sequential":
            am = c.subtract(am, c.multiply(lr, gradient(am, ab)[0]))
            ab = c.subtract(ab, c.multiply(lr, gradient(am, ab)[1]))
        elif options.optimizer == "gd":
            gm, gb = gradient(am, ab)
            am, ab = c.subtract(am, c.multiply(lr, gm)), c.subtract(ab, c.multiply(lr, gb))
        else:
            at = (am, ab)
            if options.optimizer == "nesterov":
                at = (c.add(am, c.multiply(mu, vm)), c.add(ab, c.multiply(mu, vb)))
            gm, gb = gradient(*at)
            vm = c.subtract(c.multiply(mu, vm), c.multiply(lr, gm))
            vb = c.subtract(c.multiply(mu, vb), c.multiply(lr, gb))
            am, ab = c.add(am, vm), c.add(ab, vb)
        ams.append(am)
        abs_.append(ab)
    if options.standardize:
        # Back to original units as the start plus the z-space displacements: m = m_0 +
        # (sy / sx) a_z, b = b_0 + sy e_z - mean_x (m - m_0). The same line as
        # mean_y + sy b_z - m mean_x, but without the 80-digit rounding of that sum's terms
        # (the start b_0 = 0 would come back as about 1e-80 |mean_y|, not 0).
        ratio = c.divide(sy, sx)
        moved = [c.multiply(ratio, a) for a in ams]
        ms_out = [EXACT.add(m0, a) for a in moved]
        bs_out = [
            EXACT.add(b0, c.subtract(c.multiply(sy, e), c.multiply(mx, a)))
            for e, a in zip(abs_, moved, strict=True)
        ]
        return ExactPath(ms_out, bs_out)
    return ExactPath([EXACT.add(m0, a) for a in ams], [EXACT.add(b0, e) for e in abs_])


FLOAT_MAX = D(float(np.finfo(np.float64).max))


def overflows(moments: ExactMoments, path: ExactPath, epoch: int) -> bool:
    """Whether m_k, b_k or the exact MSE at them is beyond float64 at some k <= epoch (up to
    1e-9 of float64's largest value: a bound computed in float64 may round onto it), the
    only case where the core may refuse a fit (a 422 naming the overflow)."""
    c = CONTEXT
    limit = c.multiply(FLOAT_MAX, D("0.999999999"))
    n, mx, my = moments.n, moments.mean_x, moments.mean_y
    for m, b in zip(path.m[: epoch + 1], path.b[: epoch + 1], strict=True):
        # MSE = (syy - 2 m sxy + m^2 sxx) / n + (mean_y - m mean_x - b)^2
        spread = c.divide(
            c.add(
                c.subtract(moments.syy, c.multiply(c.multiply(D(2), m), moments.sxy)),
                c.multiply(c.multiply(m, m), moments.sxx),
            ),
            n,
        )
        cost = c.add(spread, c.power(c.subtract(c.subtract(my, c.multiply(m, mx)), b), 2))
        if max(c.abs(m), c.abs(b), cost) >= limit:
            return True
    return False


def float_loop(x: Array, y: Array, options: FitOptions, epochs: int | None = None) -> ExactPath:
    """The plain float64 per-epoch loop (the article's code, vectorized), as an ExactPath."""
    from tests.core import reference

    with np.errstate(all="ignore"):
        path = reference.descend_options(
            x, y, options, epochs=options.epochs if epochs is None else epochs, dtype=np.float64
        )
    return ExactPath([D(float(v)) for v in path.m], [D(float(v)) for v in path.b])


SUBNORMAL_SPACING = D(2.0**-1074)
"""The spacing of float64's subnormals: no float64 result can be closer than half of it to
a value that falls between two of them, so the bound never goes below one spacing (an answer
rounded twice there, once in scaled units and once into the subnormal range, is within it).
Only values below about 5e-315 notice: there 1e-9 |exact| is itself below one spacing."""


def allowed_error(exact: list[D], loop: list[D] | None = None) -> list[D]:
    """The contract's bound at each epoch: 1e-9 |exact| + 1e-12 P, or 16x the float64 loop's
    error (at least one subnormal spacing), in decimal arithmetic (a bound on a subnormal
    value must not round to 0)."""
    c = CONTEXT
    out, peak = [], D(0)
    relative, floor, times = D("1e-9"), D("1e-12"), D(16)
    for k, value in enumerate(exact):
        peak = max(peak, abs(value))
        bound = c.add(c.multiply(relative, abs(value)), c.multiply(floor, peak))
        if value != 0:
            bound = max(bound, SUBNORMAL_SPACING)
        if loop is not None:
            lost = loop[k]
            if lost.is_finite():
                bound = max(bound, c.multiply(times, abs(c.subtract(lost, value))))
        out.append(bound)
    return out


def worst_excess(
    got: Array, exact: list[D], loop: list[D] | None = None, epochs: Sequence[int] | None = None
) -> float:
    """max over the epochs of |got - exact| / allowed (<= 1 passes); epochs index `exact`."""
    allowed = allowed_error(exact, loop)
    picks = range(len(got)) if epochs is None else epochs
    worst = 0.0
    for value, k in zip(got, picks, strict=True):
        if not np.isfinite(value):
            return float("inf")
        error = abs(CONTEXT.subtract(D(float(value)), exact[k]))
        limit = allowed[k]
        if limit > 0:
            ratio = float(CONTEXT.divide(error, limit))
        else:
            ratio = 0.0 if error == 0 else float("inf")
        worst = max(worst, ratio)
    return worst
