"""The plain-English warnings of a fit: an unstable rate, a run that stopped far from the optimum.

"Far" (the `warnings` field of docs/api.md) is judged on each reported quantity on its own, so that
ill-conditioned data (a slope that has converged while the intercept has barely moved) is
not hidden behind a cost that looks converged:

    |m - m*| > 0.1 % of |m*|   (of the data's scale s_y / s_x where m* = 0),
    |b - b*| > 0.1 % of |b*|   (of |mean_y| + s_y where b* = 0),
    cost - cost* > 0.1 % of cost* + 1e-9 var(y).

A run within 1e-6 relative of the optimum never trips these. The warning says how far,
estimates the epochs this learning rate still needs from the spectral radius rho of the
rule's iteration matrix (the error shrinks by about rho per epoch), and names the learning
rate whose rho is smallest (found on a grid below the stable bound, then refined).
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
from numpy.typing import NDArray

from service.core.moments import Moments
from service.core.options import FitOptions
from service.core.result import Optimum

__all__ = ["FAR", "far_from_optimum", "warnings_for"]

FloatArray = NDArray[np.float64]

FAR = 1e-3
"""Relative distance from the optimum above which a run "stopped far from the optimum"."""
EXCESS_FLOOR = 1e-9
"""Excess cost below this fraction of var(y) is never "far"."""
GRID = np.geomspace(1e-8, 1 - 1e-9, 241)
"""Learning rates tried for the fastest-converging one, as fractions of the stable bound."""
REFINE = np.linspace(0.0, 1.0, 61)
"""Then, between the best grid point's neighbours."""
CLOSED_FORM_GAP = 1e-6
"""The sequential rule's closed-form candidates (`_sequential_candidates`) are taken without
the grid when the best of them has 1 - rho above this: its rounding is then far below its
size. On data conditioned so badly that 1 - rho nears float64's resolution, the grid (with
the candidates in it) decides."""
TINY = 1e-290
"""Below this, lr^2 det H is taken as underflowed (`_convergence_gaps`)."""


def _ldexp(value: float, exponent: int) -> float:
    """value * 2**exponent, inf where that overflows (math.ldexp raises instead)."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def far_from_optimum(
    moments: Moments, m: float, b: float, cost: float, optimum: Optimum
) -> tuple[float, float, float] | None:
    """(relative gap of m, of b, excess cost relative to the optimum's) when far, else None."""
    vy = _ldexp(moments.syy / moments.sum_w, 2 * moments.y_exponent)
    sy = math.sqrt(vy)
    # The slopes in scaled units m' = 2^(ex-ey) m (`service.core.moments`), where the spread
    # ratio sy' / sx' is moderate even when sy / sx is beyond float64.
    to_scaled = moments.x_exponent - moments.y_exponent
    sy_s = math.sqrt(moments.syy / moments.sum_w)
    sx_s = math.sqrt(moments.sxx / moments.sum_w)
    m_s, optimum_s = _ldexp(m, to_scaled), _ldexp(optimum.m, to_scaled)
    scale_m = abs(optimum_s) if optimum_s != 0 else (sy_s / sx_s if sy_s > 0 else 1.0 / sx_s)
    scale_b = abs(optimum.b) if optimum.b != 0 else (abs(moments.mean_y) + sy or 1.0)
    gap_m = abs(m_s - optimum_s) / scale_m
    gap_b = abs(b - optimum.b) / scale_b
    excess = max(0.0, cost - optimum.cost)
    far_cost = excess > FAR * optimum.cost + EXCESS_FLOOR * vy
    if gap_m > FAR or gap_b > FAR or far_cost:
        relative = excess / optimum.cost if optimum.cost > 0 else math.inf
        return gap_m, gap_b, relative if excess > 0 else 0.0
    return None


def _hessian(moments: Moments, options: FitOptions) -> tuple[float, float, float, float]:
    """(h11, h12, lowest, highest eigenvalue) of the descended objective's Hessian
    H = 2 [[w + mx^2, mx], [mx, 1]] (w = vx + l2) in the units the learning rate applies to
    (z-space under standardize, where vx = 1 and mx = 0); h22 = 2. The lowest eigenvalue is
    det H / highest = 4 (w / highest), which keeps its digits when mx^2 dwarfs w (and does
    not overflow where w is near float64's largest)."""
    if options.standardize:
        w, mx = 1.0 + options.l2, 0.0
    else:
        vx = _ldexp(moments.sxx / moments.sum_w, 2 * moments.x_exponent)
        w, mx = vx + options.l2, moments.mean_x
    h11, h12 = 2 * (w + mx * mx), 2 * mx
    highest = 0.5 * (h11 + 2) + math.hypot(w + mx * mx - 1, h12)
    return h11, h12, 4 * (w / highest), highest


def _quadratic_gaps(q: FloatArray, c: FloatArray) -> FloatArray:
    """1 - rho for the roots z1, z2 of z^2 - T z + D, given q = 1 - T/2 and
    c = 1 - T + D = (1 - z1)(1 - z2).

    The roots are 1 - q +- sqrt(q^2 - c). A dominant root near +1 is 1 - c / (q + sqrt(q^2 - c)),
    so its distance from 1 is formed as a quotient, without cancelling; a complex pair has
    modulus sqrt(D), with 1 - D = 2 q - c.
    """
    disc = q * q - c
    root = np.sqrt(np.maximum(disc, 0.0))
    positive = c / (q + root)  # the dominant root is 1 - q + root >= 0 (0 / 0 only at lr 0)
    negative = 2 - q - root  # the dominant root is 1 - q - root < 0: its modulus is q + root - 1
    real = np.where(q <= 1, positive, negative)
    one_minus_det = 2 * q - c
    complex_pair = one_minus_det / (1 + np.sqrt(np.maximum(1 - one_minus_det, 0.0)))
    gaps: FloatArray = np.where(disc >= 0, real, complex_pair)
    return gaps


@np.errstate(all="ignore")  # extreme data: inf and nan are handled by the callers
def _convergence_gaps(
    hessian: tuple[float, float, float, float], options: FitOptions, rates: FloatArray
) -> FloatArray:
    """1 - rho, rho the spectral radius of the rule's iteration matrix, at each learning rate.

    Each rule's matrix decouples along the Hessian's eigenvalues h (or, for the sequential
    rule, is one 2 x 2 map), so rho is a root of a quadratic z^2 - T z + D:

        simultaneous gd   z = 1 - lr h                          (per eigenvalue)
        momentum          T = 1 + mu - lr h,  D = mu              (per eigenvalue)
        nesterov          T = (1 + mu)(1 - lr h),  D = mu (1 - lr h)
        sequential gd     T = 2 - lr (h11 + h22) + lr^2 h12^2,  D = (1 - lr h11)(1 - lr h22)

    (`service.core.iteration`). The gap 1 - rho is what sets the epochs a run needs, and is
    formed without rounding rho to 1 on ill-conditioned data (timestamps as x). Extreme data
    gives inf or nan here, quietly (NumPy's warnings are off inside).
    """
    h11, h12, lowest, highest = hessian
    mu = options.momentum
    if options.optimizer == "gd" and options.update == "simultaneous":
        low, high = rates * lowest, rates * highest
        result: FloatArray = np.minimum(np.minimum(low, 2 - low), np.minimum(high, 2 - high))
        return result
    if options.optimizer == "gd":
        q_per_rate = 0.5 * (h11 + 2 - rates * h12 * h12)  # q / lr
        c_per_rate = lowest * highest  # c / lr^2 = det H, without det's cancellation
        gaps = _quadratic_gaps(rates * q_per_rate, rates * rates * c_per_rate)
        # Where lr^2 det H underflows (tiny rates), the dominant root's gap is
        # lr det H / (q/lr + sqrt((q/lr)^2 - det H)): the same quotient with lr taken out,
        # written with ratio = det H / (q/lr) so that no square overflows.
        tiny = (rates * rates * c_per_rate < TINY) & (rates * q_per_rate <= 1)
        if tiny.any():
            ratio = c_per_rate / q_per_rate
            root = np.sqrt(np.maximum(1 - ratio / q_per_rate, 0.0))
            slow = rates * ratio / (1 + root)  # 1 - z1
            twice_q = 2 * (rates * q_per_rate)
            # z2 = T - z1 = 1 - 2 q + (1 - z1); 1 - |z2| formed without rounding it to 1.
            fast = np.where(twice_q - slow <= 1, twice_q - slow, 2 - twice_q + slow)
            gaps = np.where(tiny, np.minimum(slow, fast), gaps)
        return gaps
    modes = []
    for h in (lowest, highest):
        a = rates * h
        if options.optimizer == "nesterov":
            q = 0.5 * (1 - mu + (1 + mu) * a)
        else:
            q = 0.5 * (1 - mu + a)
        modes.append(_quadratic_gaps(q, a))
    result = np.minimum(modes[0], modes[1])
    return result


def _gaps_now_and_fastest(
    hessian: tuple[float, float, float, float], options: FitOptions, bound: float
) -> tuple[float, float, float]:
    """(1 - rho at the run's learning rate, the learning rate below the bound whose spectral
    radius is smallest, its 1 - rho).

    Closed forms where they exist (simultaneous gd: 2 / (lowest + highest eigenvalue);
    heavy-ball momentum: 2 (1 + mu) / (lowest + highest), which balances the two modes or
    lies where both are a complex pair of modulus sqrt(mu)); otherwise a geometric grid
    below the bound, refined twice around its best point.
    """
    _, _, lowest, highest = hessian
    lr = options.learning_rate
    heavy_ball = options.optimizer == "momentum"
    plain = options.optimizer == "gd"
    sequential = plain and options.update == "sequential"
    if heavy_ball or (plain and not sequential):
        best = 2 * (1 + (options.momentum if heavy_ball else 0.0)) / (lowest + highest)
        now_gap = None if heavy_ball else _plain_gd_gap(hessian, False, lr)
        if now_gap is not None:
            return now_gap, best, best * lowest
        rates = np.array([lr, best])
        now = float(_convergence_gaps(hessian, options, rates)[0])
        # At `best` both modes have the same radius in exact arithmetic; the lowest
        # eigenvalue's mode gives it without the cancellation of 2 (1 + mu) - best h_max
        # (for plain gd that mode's gap is best * lowest itself, below 1).
        if not heavy_ball:
            return now, best, best * lowest
        low_mode = (hessian[0], hessian[1], lowest, lowest)
        at_best = float(_convergence_gaps(low_mode, options, rates)[1])
        return now, best, at_best
    candidates = _sequential_candidates(hessian, bound) if sequential else []
    if candidates:
        scalar = [_plain_gd_gap(hessian, True, rate) for rate in (lr, *candidates)]
        if None not in scalar:
            now_gap, *gaps_at = cast(list[float], scalar)
            best_gap = max(gaps_at)
            if best_gap > CLOSED_FORM_GAP:
                return now_gap, candidates[gaps_at.index(best_gap)], best_gap
    tried = np.concatenate(([lr], candidates, bound * GRID))
    gaps = _convergence_gaps(hessian, options, tried)
    at = int(np.argmax(gaps[1:])) + 1
    if at <= len(candidates):  # a closed-form candidate beats every grid point
        return float(gaps[0]), float(tried[at]), float(gaps[at])
    rates, at = bound * GRID, at - 1 - len(candidates)
    for _ in range(2):  # each refinement narrows the bracket about 30-fold
        low, high = rates[max(0, at - 1)], rates[min(rates.size - 1, at + 1)]
        rates = low + (high - low) * REFINE
        fine_gaps = _convergence_gaps(hessian, options, rates)
        at = int(np.argmax(fine_gaps))
    return float(gaps[0]), float(rates[at]), float(fine_gaps[at])


def _plain_gd_gap(
    hessian: tuple[float, float, float, float], sequential: bool, rate: float
) -> float | None:
    """`_convergence_gaps` of plain gd at one learning rate, on Python floats: the same
    operations in the same order (so the same bits), for the few rates the closed forms
    need, where NumPy's fixed cost per call would dominate. None where the vectorized
    function takes a branch of its own (lr^2 det H underflowing) or a value is not finite."""
    h11, h12, lowest, highest = hessian
    if not sequential:
        low, high = rate * lowest, rate * highest
        if not (math.isfinite(low) and math.isfinite(high)):
            return None
        return min(min(low, 2 - low), min(high, 2 - high))
    q = rate * (0.5 * (h11 + 2 - rate * h12 * h12))
    c = rate * rate * (lowest * highest)
    if not (math.isfinite(q) and math.isfinite(c) and c >= TINY):
        return None
    disc = q * q - c
    if disc >= 0:
        root = math.sqrt(disc)
        return c / (q + root) if q <= 1 else 2 - q - root
    one_minus_det = 2 * q - c
    return one_minus_det / (1 + math.sqrt(max(1 - one_minus_det, 0.0)))


def _sequential_candidates(hessian: tuple[float, float, float, float], bound: float) -> list[float]:
    """The learning rates below `bound` where the sequential rule's spectral radius can be
    smallest, in closed form.

    With lr = a, s = h11 + h22, k = h12^2, p = h11 h22 and det H = p - k, the iteration
    matrix's eigenvalues are the roots of z^2 - T z + D, T = 2 - a s + a^2 k,
    D = 1 - a s + a^2 p, whose discriminant is a^2 ((s - a k)^2 / 4 - det H). So the roots
    are a complex pair of modulus sqrt(D) between a = (sqrt(h_max) -+ sqrt(h_min))^2 / k
    (where they meet: the double root of successive over-relaxation's optimum), D is smallest
    at a = s / (2 p), and two real roots have equal moduli where T = 0, a^2 k - a s + 2 = 0
    (roots 4 / (s + r) and (s + r) / (2 k), r = sqrt(s^2 - 8 k)). Each is formed without
    cancellation; those that are not finite or not below `bound` are dropped, and the
    caller's grid covers whatever lies elsewhere.
    """
    h11, h12, lowest, highest = hessian
    s, k, p = h11 + 2.0, h12 * h12, 2.0 * h11
    rates = [s / (2.0 * p)] if p > 0 else []  # (p and k underflow to 0 on tiny x)
    if k > 0:
        low, high = math.sqrt(lowest), math.sqrt(highest)
        rates += [(high - low) ** 2 / k, (high + low) ** 2 / k]
    if s * s >= 8.0 * k:
        r = math.sqrt(s * s - 8.0 * k)
        rates.append(4.0 / (s + r))
        if k > 0:
            rates.append((s + r) / (2.0 * k))
    return [rate for rate in rates if math.isfinite(rate) and 0 < rate < bound]


def _radius_text(gap: float) -> str:
    """The spectral radius 1 - gap, written so that a radius within 1e-6 of 1 keeps its digits."""
    return f"1 - {gap:.3g}" if 0 < gap < 1e-6 else f"{1 - gap:.6g}"


def _epochs_needed(gap: float, distance: float) -> str:
    """About how many more epochs shrink a relative distance below FAR when each epoch
    multiplies the error by rho = 1 - gap."""
    if not gap > 0:
        return "many more epochs than float64 can count"
    shrink = math.log(distance / FAR) if distance > FAR else math.log(10.0)
    rate = -math.log1p(-gap) if gap < 1 else math.inf
    epochs = max(1.0, shrink / rate) if rate > 0 else math.inf
    if not math.isfinite(epochs):  # a subnormal gap: more than float64 can count
        return "many more epochs than float64 can count"
    return f"about {epochs:.3g} more epochs"


def warnings_for(
    moments: Moments,
    options: FitOptions,
    bound: float,
    *,
    stopped: bool,
    m: float,
    b: float,
    cost: float,
    optimum: Optimum,
) -> tuple[str, ...]:
    """The warnings of one fit, in the order docs/api.md lists them."""
    notes: list[str] = []
    if options.learning_rate >= bound:
        notes.append(
            f"learning_rate {options.learning_rate:g} is at or above the largest stable learning "
            f"rate {bound:.6g} for this data and update rule: the iterates grow instead of "
            "converging"
        )
    else:
        far = far_from_optimum(moments, m, b, cost, optimum)
        if far is not None:
            notes.append(_far_note(moments, options, bound, far, m, b, optimum))
    if options.tolerance is not None and not stopped:
        notes.append(
            f"the gradient norm did not reach the tolerance {options.tolerance:g} within "
            f"{options.epochs} epochs"
        )
    return tuple(notes)


def _far_note(
    moments: Moments,
    options: FitOptions,
    bound: float,
    far: tuple[float, float, float],
    m: float,
    b: float,
    optimum: Optimum,
) -> str:
    gap_m, gap_b, excess = far
    gap, fastest, best_gap = _gaps_now_and_fastest(_hessian(moments, options), options, bound)
    gap = gap if math.isfinite(gap) else 0.0
    excess_text = (
        ""
        if excess == 0
        else (
            f", and the cost exceeds the optimum's by {excess:.3g}x"
            if math.isfinite(excess)
            else ", and the cost exceeds the optimum's (0)"
        )
    )
    return (
        f"the run stopped far from the optimum: m is {m:.6g} against the optimum's "
        f"{optimum.m:.6g} (off by {gap_m:.3g} relative), b is {b:.6g} against {optimum.b:.6g} "
        f"(off by {gap_b:.3g} relative){excess_text}; at learning_rate "
        f"{options.learning_rate:g} (spectral radius {_radius_text(gap)}) it needs "
        f"{_epochs_needed(gap, max(gap_m, gap_b))}; "
        + (
            f"the fastest-converging learning_rate for this rule is about {fastest:.3g} "
            f"(spectral radius {_radius_text(best_gap)}, "
            f"{_epochs_needed(best_gap, max(gap_m, gap_b))})"
            if math.isfinite(best_gap) and best_gap > 0 and math.isfinite(fastest)
            else "no learning rate makes this rule converge measurably within float64 on this data"
        )
        + ("" if options.standardize else "; standardize usually converges much faster")
    )
