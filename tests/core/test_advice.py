"""The far-from-optimum warning's numbers against the rules' matrices, built independently
(tests/core/reference.py) and, on timestamps, against exact arithmetic."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

from service.core import FitOptions, fit
from tests.core import reference

RULES = [
    ("simultaneous", "gd"),
    ("sequential", "gd"),
    ("simultaneous", "momentum"),
    ("simultaneous", "nesterov"),
]

NOTE = re.compile(
    r"at learning_rate \S+ \(spectral radius (?P<now>[^)]+)\) it needs about (?P<epochs>\S+) "
    r"more epochs; the fastest-converging learning_rate for this rule is about (?P<best>\S+) "
    r"\(spectral radius (?P<best_radius>[^,]+),"
)


FASTEST = re.compile(
    r"the fastest-converging learning_rate for this rule is about (?P<best>\S+) "
    r"\(spectral radius (?P<best_radius>[^,]+),"
)


def far_note(warnings: tuple[str, ...]) -> re.Match[str]:
    (note,) = [w for w in warnings if "far from the optimum" in w]
    match = NOTE.search(note)
    assert match is not None, note
    return match


def radius(text: str) -> float:
    """A radius as the note writes it: '0.999317' or, within 1e-6 of 1, '1 - 3.2e-19'."""
    return 1 - float(text[4:]) if text.startswith("1 - ") else float(text)


@pytest.mark.parametrize(("update", "optimizer"), RULES)
@pytest.mark.parametrize("seed", [1, 2])
def test_far_note_gives_the_rules_spectral_radius_and_fastest_rate(
    update: str, optimizer: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(seed, 1.5, 40)
    y = 2 * x + rng.normal(size=40)
    base = FitOptions(update=update, optimizer=optimizer, momentum=0.6, l2=0.1, epochs=3)  # type: ignore[arg-type]
    bound = fit(x, y, base).max_stable_learning_rate
    options = replace(base, learning_rate=0.01 * bound)
    note = far_note(fit(x, y, options).warnings)

    def rho(rate: float) -> float:
        return reference.spectral_radius(
            reference.iteration_matrix(x, y, replace(options, learning_rate=rate))
        )

    assert radius(note["now"]) == pytest.approx(rho(options.learning_rate), abs=2e-6)
    slowest = np.log(1e-3) / np.log(rho(options.learning_rate))
    assert float(note["epochs"]) == pytest.approx(slowest, rel=0.2)
    reference_best = min(rho(rate) for rate in bound * np.linspace(0.001, 0.999, 999))
    best, best_radius = float(note["best"]), radius(note["best_radius"])
    # A refined grid (or a closed form): at least as good as 999 evenly spaced rates ...
    assert best_radius <= reference_best + 1e-4
    # ... and no better than the rule allows near the rate it names (written to 3 digits).
    near = min(rho(rate) for rate in best * np.linspace(0.99, 1.01, 201))
    assert best_radius >= near - 1e-4  # the kink between 201 rates
    assert rho(best) == pytest.approx(best_radius, abs=2e-2)


def test_far_note_on_timestamps_gives_the_radius_beyond_float64s_one() -> None:
    """x = Unix timestamps: 1 - rho is ~1e-19, below float64's resolution near 1; the note
    states it (as 1 - gap) instead of rounding the radius to 1."""
    x = 1.7e9 + np.arange(50.0)
    y = 3e-6 * x + np.sin(np.arange(50.0))
    bound = fit(x, y, FitOptions(epochs=1)).max_stable_learning_rate
    options = FitOptions(learning_rate=bound / 2, epochs=10)
    note = far_note(fit(x, y, options).warnings)
    # Exact: the Hessian 2 [[E x^2, E x], [E x, 1]] of the float64 x, its lowest eigenvalue,
    # and 1 - rho = lr * lowest (at lr = bound / 2, lr * highest is 1: that mode vanishes).
    n = len(x)
    mean = sum((Fraction(v) for v in x), Fraction(0)) / n
    second = sum((Fraction(v) ** 2 for v in x), Fraction(0)) / n
    trace, det = 2 * (second + 1), 4 * (second - mean * mean)
    with localcontext() as context:
        context.prec = 60
        root = (Decimal(trace.numerator) / trace.denominator) ** 2 - 4 * (
            Decimal(det.numerator) / det.denominator
        )
        highest = (Decimal(trace.numerator) / trace.denominator + root.sqrt()) / 2
        lowest = Decimal(det.numerator) / det.denominator / highest
        gap = float(Decimal(options.learning_rate) * lowest)
    assert note["now"].startswith("1 - ")
    assert gap < 1e-15
    assert radius(note["now"]) == 1.0  # as a float; the text keeps the gap
    assert float(note["now"][4:]) == pytest.approx(gap, rel=1e-2)
    # The fastest rate 2 / (lowest + highest) shrinks the error by 1 - 2 lowest / (sum).
    with localcontext() as context:
        context.prec = 60
        best_gap = float(2 * lowest / (lowest + highest))
    assert note["best_radius"].startswith("1 - ")
    assert float(note["best_radius"][4:]) == pytest.approx(best_gap, rel=1e-2)
    assert float(note["epochs"]) == pytest.approx(
        np.log(note_distance(x, y, options)) / gap, rel=0.5
    )


def note_distance(x: np.ndarray, y: np.ndarray, options: FitOptions) -> float:
    """The larger relative gap (m or b) of the run, over the 1e-3 the note aims for."""
    result = fit(x, y, options)
    gap_m = abs(result.m - result.optimum.m) / abs(result.optimum.m)
    gap_b = abs(result.b - result.optimum.b) / abs(result.optimum.b)
    return max(gap_m, gap_b) / 1e-3


@pytest.mark.parametrize(
    ("scale", "options"),
    [
        (1.0, {"l2": 6e307, "learning_rate": 1e-310}),  # 4 w overflows float64
        (1.0, {"l2": 6e307, "learning_rate": 1e-310, "optimizer": "momentum"}),
        (1.0, {"update": "sequential", "learning_rate": 1e-200}),  # lr^2 det H underflows
        (1.0, {"update": "sequential", "learning_rate": 1e-300, "standardize": True}),
        (1e-200, {"optimizer": "nesterov"}),  # the lowest curvature underflows: nothing converges
        (1e-200, {"update": "sequential"}),
        (1e100, {"update": "sequential", "learning_rate": 1e-203}),  # curvature above 1e154
    ],
)
def test_far_note_on_extreme_data_states_finite_figures(
    scale: float, options: dict[str, object]
) -> None:
    """No inf or nan in the note and no NumPy warning (pytest turns warnings into errors);
    where 1 - rho is representable it is stated, else the note says nothing converges."""
    x = scale * np.arange(10.0)
    y = 2 * np.arange(10.0) + np.sin(np.arange(10.0))
    result = fit(x, y, FitOptions(**{"epochs": 3, **options}))  # type: ignore[arg-type]
    assert 0 < result.max_stable_learning_rate < float("inf")
    (note,) = [w for w in result.warnings if "far from the optimum" in w]
    assert "nan" not in note and "inf" not in note, note
    match = FASTEST.search(note)
    if match is not None:  # a fastest rate was found: its radius is below 1
        assert match["best_radius"].startswith("1 - ") or radius(match["best_radius"]) < 1
        assert 0 < float(match["best"]) <= 1.005 * result.max_stable_learning_rate  # 3 digits
    else:
        assert "no learning rate makes this rule converge" in note, note
    now = re.search(r"\(spectral radius (?P<now>[^)]+)\) it needs (?P<needs>[^;]+);", note)
    assert now is not None, note
    if "count" not in now["needs"]:  # an estimate: from a radius below 1
        assert radius(now["now"]) < 1 or now["now"].startswith("1 - "), note


def _random_hessians(
    count: int, seed: int
) -> list[tuple[tuple[float, float, float, float], float]]:
    """Hessians of plain gd as `advice._hessian` builds them (variance 1e-6..1e6, mean of x
    0 or up to 1e8 either side), each with its stable bound for the sequential rule."""
    from service.core.scalar import GD, _stable_bound

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        w = 10 ** rng.uniform(-6, 6)
        mx = float(rng.choice([0.0, 1.0, -1.0])) * 10 ** rng.uniform(-6, 8)
        h11, h12 = 2 * (w + mx * mx), 2 * mx
        highest = 0.5 * (h11 + 2) + float(np.hypot(w + mx * mx - 1, h12))
        bound = _stable_bound(h11, h12, 2 * ((w - 1) + mx * mx), True, 0.0, GD)
        out.append(((h11, h12, 4 * (w / highest), highest), bound))
    return out


@pytest.mark.parametrize("update", ["simultaneous", "sequential"])
def test_scalar_gaps_are_the_vectorized_ones_bit_for_bit(update: str) -> None:
    """`_plain_gd_gap` (Python floats, for the few closed-form rates) repeats
    `_convergence_gaps`' operations in order: the same bits wherever it answers."""
    from service.core import advice

    options = FitOptions(update=update)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    answered = 0
    for hessian, bound in _random_hessians(400, 5):
        rates = bound * 10 ** rng.uniform(-9, 0, 8)
        with np.errstate(all="ignore"):
            vector = advice._convergence_gaps(hessian, options, rates)
        for rate, expected in zip(rates.tolist(), vector.tolist(), strict=True):
            got = advice._plain_gd_gap(hessian, update == "sequential", rate)
            if got is not None:
                answered += 1
                assert got == expected or (np.isnan(got) and np.isnan(expected))
    assert answered > 3000


def test_sequential_fastest_rate_is_the_closed_form_optimum() -> None:
    """The sequential rule's closed-form candidates (the double root, the smallest complex
    modulus, the balanced real roots) contain the smallest spectral radius: on well-conditioned
    Hessians none of 20,001 geometrically spaced rates does better by more than rounding."""
    from service.core import advice

    options = FitOptions(update="sequential")
    checked = 0
    for hessian, bound in _random_hessians(300, 7):
        with np.errstate(all="ignore"):
            now, fastest, best_gap = advice._gaps_now_and_fastest(hessian, options, bound)
            fine = advice._convergence_gaps(
                hessian, options, bound * np.geomspace(1e-9, 1 - 1e-12, 20001)
            )
        if best_gap > 1e-6:
            checked += 1
            assert 0 < fastest < bound
            assert float(np.max(fine)) <= best_gap * (1 + 1e-9)
    assert checked > 100
