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
rate whose rho is smallest (in closed form where there is one, else found on a grid below
the stable bound, then refined).

The numbers for plain gd (`far_numbers`, `hessian_numbers`, `plain_gd_gaps`) are compiled
functions: the small path's compiled code (`service.core.scalar`) calls them directly, and
the Python functions here call the same ones, so each item's warning is the same whichever
path fitted it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from service.core.kernels import compiled
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
LN_TEN = math.log(10.0)
"""A run already within FAR is told the epochs for one more digit."""
TINY = 1e-290
"""Below this, lr^2 det H is taken as underflowed (`_convergence_gaps`)."""


Far = tuple[float, float, float]
"""(relative gap of m, of b, excess cost relative to the optimum's) of a run stopped far."""
Gaps = tuple[float, float, float]
"""(1 - rho at the run's learning rate, the fastest-converging learning rate, its 1 - rho)."""
Hessian = tuple[float, float, float, float]
"""(h11, h12, lowest, highest eigenvalue) of `_hessian`."""


@compiled
def far_numbers(
    sum_w: float, sxx: float, syy: float, mean_y: float, x_exponent: int, y_exponent: int,
    m: float, b: float, cost: float, optimum_m: float, optimum_b: float, optimum_cost: float,
) -> tuple[bool, float, float, float]:  # fmt: skip
    """`far_from_optimum` on the moments' numbers, compiled (the small path calls it from its
    own compiled code): (far, gap of m, gap of b, excess relative to the optimum's)."""
    vy = math.ldexp(syy / sum_w, 2 * y_exponent)  # (inf where it overflows)
    sy = math.sqrt(vy)
    # The slopes in scaled units m' = 2^(ex-ey) m (`service.core.moments`), where the spread
    # ratio sy' / sx' is moderate even when sy / sx is beyond float64.
    to_scaled = x_exponent - y_exponent
    sy_s = math.sqrt(syy / sum_w)
    sx_s = math.sqrt(sxx / sum_w)
    m_s, optimum_s = math.ldexp(m, to_scaled), math.ldexp(optimum_m, to_scaled)
    if optimum_s != 0:
        scale_m = abs(optimum_s)
    else:
        scale_m = sy_s / sx_s if sy_s > 0 else 1.0 / sx_s
    scale_b = abs(optimum_b)
    if optimum_b == 0:
        scale_b = abs(mean_y) + sy
        if scale_b == 0:
            scale_b = 1.0
    gap_m = abs(m_s - optimum_s) / scale_m
    gap_b = abs(b - optimum_b) / scale_b
    difference = cost - optimum_cost
    excess = difference if difference > 0.0 else 0.0
    far_cost = excess > FAR * optimum_cost + EXCESS_FLOOR * vy
    if gap_m > FAR or gap_b > FAR or far_cost:
        relative = excess / optimum_cost if optimum_cost > 0 else math.inf
        return True, gap_m, gap_b, relative if excess > 0 else 0.0
    return False, gap_m, gap_b, 0.0


def far_from_optimum(
    moments: Moments, m: float, b: float, cost: float, optimum: Optimum
) -> Far | None:
    """(relative gap of m, of b, excess cost relative to the optimum's) when far, else None."""
    far, gap_m, gap_b, excess = far_numbers(
        moments.sum_w, moments.sxx, moments.syy, moments.mean_y, moments.x_exponent,
        moments.y_exponent, m, b, cost, optimum.m, optimum.b, optimum.cost,
    )  # fmt: skip
    return (gap_m, gap_b, excess) if far else None


@compiled
def hessian_numbers(
    sum_w: float, sxx: float, x_exponent: int, mean_x: float, l2: float, standardize: bool
) -> Hessian:
    """`_hessian` on the moments' numbers, compiled."""
    if standardize:
        w, mx = 1.0 + l2, 0.0
    else:
        vx = math.ldexp(sxx / sum_w, 2 * x_exponent)
        w, mx = vx + l2, mean_x
    h11, h12 = 2 * (w + mx * mx), 2 * mx
    highest = 0.5 * (h11 + 2) + math.hypot(w + mx * mx - 1, h12)
    return h11, h12, 4 * (w / highest), highest


def _hessian(moments: Moments, options: FitOptions) -> Hessian:
    """(h11, h12, lowest, highest eigenvalue) of the descended objective's Hessian
    H = 2 [[w + mx^2, mx], [mx, 1]] (w = vx + l2) in the units the learning rate applies to
    (z-space under standardize, where vx = 1 and mx = 0); h22 = 2. The lowest eigenvalue is
    det H / highest = 4 (w / highest), which keeps its digits when mx^2 dwarfs w (and does
    not overflow where w is near float64's largest)."""
    return hessian_numbers(
        moments.sum_w, moments.sxx, moments.x_exponent, moments.mean_x, options.l2,
        options.standardize,
    )  # fmt: skip


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


def _gaps_now_and_fastest(hessian: Hessian, options: FitOptions, bound: float) -> Gaps:
    """(1 - rho at the run's learning rate, the learning rate below the bound whose spectral
    radius is smallest, its 1 - rho).

    Closed forms where they exist (simultaneous gd: 2 / (lowest + highest eigenvalue);
    heavy-ball momentum: 2 (1 + mu) / (lowest + highest), which balances the two modes or
    lies where both are a complex pair of modulus sqrt(mu); the sequential rule's candidates,
    `_sequential_candidates`), compiled for plain gd (`plain_gd_gaps`); otherwise a geometric
    grid below the bound, refined twice around its best point.
    """
    _, _, lowest, highest = hessian
    lr = options.learning_rate
    heavy_ball = options.optimizer == "momentum"
    plain = options.optimizer == "gd"
    sequential = plain and options.update == "sequential"
    if plain:
        done, now_gap, fastest, best_gap = plain_gd_gaps(*hessian, sequential, lr, bound)
        if done:
            return now_gap, fastest, best_gap
    if heavy_ball or (plain and not sequential):
        best = 2 * (1 + (options.momentum if heavy_ball else 0.0)) / (lowest + highest)
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


@compiled
def plain_gd_gaps(
    h11: float, h12: float, lowest: float, highest: float, sequential: bool, lr: float,
    bound: float,
) -> tuple[bool, float, float, float]:  # fmt: skip
    """(True, `Gaps`) of plain gd from the closed forms, or (False, ...) where the caller's
    vectorized `_gaps_now_and_fastest` decides: the simultaneous rule's best rate
    2 / (lowest + highest), whose gap is best * lowest; the sequential rule's best candidate
    when every gap is defined and the best is above `CLOSED_FORM_GAP`."""
    if not sequential:
        best = 2.0 / (lowest + highest)
        now_gap = _gap(h11, h12, lowest, highest, False, lr)
        return not math.isnan(now_gap), now_gap, best, best * lowest
    now_gap = _gap(h11, h12, lowest, highest, True, lr)
    count, candidates = _candidates(h11, h12, lowest, highest, bound)
    if count == 0 or math.isnan(now_gap):
        return False, now_gap, math.nan, math.nan
    best_gap, fastest = -math.inf, math.nan
    for i in range(count):
        gap = _gap(h11, h12, lowest, highest, True, candidates[i])
        if math.isnan(gap):
            return False, now_gap, math.nan, math.nan
        if gap > best_gap:  # (the first of equal gaps, as max and list.index take it)
            best_gap, fastest = gap, candidates[i]
    return best_gap > CLOSED_FORM_GAP, now_gap, fastest, best_gap


@compiled
def _gap(
    h11: float, h12: float, lowest: float, highest: float, sequential: bool, rate: float
) -> float:
    """`_convergence_gaps` of plain gd at one learning rate: the same operations in the same
    order (so the same bits), for the few rates the closed forms need; nan where the
    vectorized function takes a branch of its own (lr^2 det H underflowing) or a value is not
    finite."""
    if not sequential:
        low, high = rate * lowest, rate * highest
        if not (math.isfinite(low) and math.isfinite(high)):
            return math.nan
        return _least(_least(low, 2 - low), _least(high, 2 - high))
    q = rate * (0.5 * (h11 + 2 - rate * h12 * h12))
    c = rate * rate * (lowest * highest)
    if not (math.isfinite(q) and math.isfinite(c) and c >= TINY):
        return math.nan
    disc = q * q - c
    if disc >= 0:
        root = math.sqrt(disc)
        return c / (q + root) if q <= 1 else 2 - q - root
    one_minus_det = 2 * q - c
    below = 1 - one_minus_det
    return one_minus_det / (1 + math.sqrt(0.0 if 0.0 > below else below))


@compiled
def _least(a: float, b: float) -> float:
    """min(a, b) as Python takes it (the first of equals)."""
    return b if b < a else a


def _plain_gd_gap(hessian: Hessian, sequential: bool, rate: float) -> float | None:
    """`_gap` at one learning rate, None where it answers nan."""
    gap = float(_gap(*hessian, sequential, rate))
    return None if math.isnan(gap) else gap


@compiled
def _candidates(
    h11: float, h12: float, lowest: float, highest: float, bound: float
) -> tuple[int, tuple[float, float, float, float, float]]:
    """The count and the first `count` entries: `_sequential_candidates`, compiled."""
    s, k, p = h11 + 2.0, h12 * h12, 2.0 * h11
    found = [math.nan] * 0
    if p > 0:  # (p and k underflow to 0 on tiny x)
        found.append(s / (2.0 * p))
    if k > 0:
        low, high = math.sqrt(lowest), math.sqrt(highest)
        found.append((high - low) ** 2 / k)
        found.append((high + low) ** 2 / k)
    if s * s >= 8.0 * k:
        r = math.sqrt(s * s - 8.0 * k)
        found.append(4.0 / (s + r))
        if k > 0:
            found.append((s + r) / (2.0 * k))
    kept = [math.nan] * 5
    count = 0
    for rate in found:
        if math.isfinite(rate) and 0 < rate < bound:
            kept[count] = rate
            count += 1
    return count, (kept[0], kept[1], kept[2], kept[3], kept[4])


def _sequential_candidates(hessian: Hessian, bound: float) -> list[float]:
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
    count, candidates = _candidates(*hessian, bound)
    return list(candidates[:count])


def _radius_text(gap: float) -> str:
    """The spectral radius 1 - gap, written so that a radius within 1e-6 of 1 keeps its digits."""
    return f"1 - {gap:.3g}" if 0 < gap < 1e-6 else f"{1 - gap:.6g}"


def _epochs_needed(gap: float, shrink: float) -> str:
    """About how many more epochs shrink the error by the factor e^shrink when each epoch
    multiplies it by rho = 1 - gap."""
    rate = -math.log1p(-gap) if 0 < gap < 1 else (math.inf if gap >= 1 else 0.0)
    epochs = max(1.0, shrink / rate) if rate > 0 else math.inf
    if not math.isfinite(epochs):  # no gap, or a subnormal one: more than float64 can count
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
    judged: tuple[Far | None, Gaps | None] | None = None,
) -> tuple[str, ...]:
    """The warnings of one fit, in the order docs/api.md lists them.

    `judged`: `far_from_optimum`'s answer and, when far, `_gaps_now_and_fastest`'s (None
    where it is to be computed here), as the small path's compiled code found them."""
    notes: list[str] = []
    if options.learning_rate >= bound:
        notes.append(
            f"learning_rate {options.learning_rate:g} is at or above the largest stable learning "
            f"rate {bound:.6g} for this data and update rule: the iterates grow instead of "
            "converging"
        )
    else:
        far, gaps = judged or (far_from_optimum(moments, m, b, cost, optimum), None)
        if far is not None:
            if gaps is None:
                gaps = _gaps_now_and_fastest(_hessian(moments, options), options, bound)
            notes.append(_far_note(options, far, gaps, m, b, optimum))
    if options.tolerance is not None and not stopped:
        notes.append(
            f"the gradient norm did not reach the tolerance {options.tolerance:g} within "
            f"{options.epochs} epochs"
        )
    return tuple(notes)


def _far_note(
    options: FitOptions, far: Far, gaps: Gaps, m: float, b: float, optimum: Optimum
) -> str:
    gap_m, gap_b, excess = far
    gap, fastest, best_gap = gaps
    gap = gap if math.isfinite(gap) else 0.0
    distance = max(gap_m, gap_b)
    # ln of the factor that brings the larger relative distance below FAR (or one digit)
    shrink = math.log(distance / FAR) if distance > FAR else LN_TEN
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
        f"{_epochs_needed(gap, shrink)}; "
        + (
            f"the fastest-converging learning_rate for this rule is about {fastest:.3g} "
            f"(spectral radius {_radius_text(best_gap)}, {_epochs_needed(best_gap, shrink)})"
            if math.isfinite(best_gap) and best_gap > 0 and math.isfinite(fastest)
            else "no learning rate makes this rule converge measurably within float64 on this data"
        )
        + ("" if options.standardize else "; standardize usually converges much faster")
    )
