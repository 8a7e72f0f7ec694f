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

import numpy as np
from numpy.typing import NDArray

from service.core.coefficients import steps_at_rates
from service.core.moments import Moments
from service.core.options import FitOptions
from service.core.result import Optimum

__all__ = ["FAR", "far_from_optimum", "warnings_for"]

FloatArray = NDArray[np.float64]

FAR = 1e-3
"""Relative distance from the optimum above which a run "stopped far from the optimum"."""
EXCESS_FLOOR = 1e-9
"""Excess cost below this fraction of var(y) is never "far"."""
GRID = 241
"""Learning rates tried (geometrically, below the bound) for the fastest-converging one."""


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


def _spectral_radii(moments: Moments, options: FitOptions, rates: FloatArray) -> FloatArray:
    """rho of the rule's iteration matrix at each learning rate (the u and v block)."""
    step = steps_at_rates(moments, options, rates)
    dynamic = (step[:, :4, :4] + np.eye(4)).astype(np.float64)
    with np.errstate(all="ignore"):
        if options.optimizer == "gd":
            # 2 x 2: the eigenvalues t/2 +- sqrt(t^2/4 - det) in closed form, for every rate
            # at once (np.linalg.eigvals costs a LAPACK call per matrix).
            a, b = dynamic[:, 0, 0], dynamic[:, 0, 1]
            c, d = dynamic[:, 1, 0], dynamic[:, 1, 1]
            half_trace = (a + d) / 2
            det = a * d - b * c
            disc = half_trace * half_trace - det
            real = np.abs(half_trace) + np.sqrt(np.maximum(disc, 0.0))
            radii: FloatArray = np.where(disc >= 0, real, np.sqrt(np.maximum(det, 0.0)))
        else:
            radii = np.abs(np.linalg.eigvals(dynamic)).max(axis=1)
    return radii


def _fastest_rate(moments: Moments, options: FitOptions, bound: float) -> tuple[float, float]:
    """The learning rate below the bound with the smallest spectral radius, and that radius."""
    rates = bound * np.geomspace(1e-8, 1 - 1e-9, GRID)
    radii = _spectral_radii(moments, options, rates)
    best = int(np.argmin(radii))
    lo, hi = rates[max(0, best - 1)], rates[min(GRID - 1, best + 1)]
    fine = np.linspace(lo, hi, 61)
    fine_radii = _spectral_radii(moments, options, fine)
    pick = int(np.argmin(fine_radii))
    return float(fine[pick]), float(fine_radii[pick])


def _epochs_needed(radius: float, gap: float) -> str:
    """About how many more epochs shrink a relative gap `gap` below FAR at this radius."""
    if not radius < 1:
        return "many more epochs than float64 can count"
    shrink = math.log(gap / FAR) if gap > FAR else math.log(10.0)
    rate = -math.log(radius) if radius < 0.5 else -math.log1p(radius - 1)
    if rate <= 0:
        return "more than 1e15 more epochs"
    return f"about {max(1.0, shrink / rate):.3g} more epochs"


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
    radius = float(_spectral_radii(moments, options, np.array([options.learning_rate]))[0])
    fastest, best_radius = _fastest_rate(moments, options, bound)
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
        f"{options.learning_rate:g} (spectral radius {radius:.12g}) it needs "
        f"{_epochs_needed(radius, max(gap_m, gap_b))}; the fastest-converging learning_rate "
        f"for this rule is about {fastest:.3g} (spectral radius {best_radius:.6g}, "
        f"{_epochs_needed(best_radius, max(gap_m, gap_b))})"
        + ("" if options.standardize else "; standardize usually converges much faster")
    )
