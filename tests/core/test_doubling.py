"""The power-doubling helpers of `service.core.trajectory`, against their definitions, and its
tolerance scan's float64 screen against the full scan."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from service.core import FitOptions, compute_moments, fit_moments
from service.core.trajectory import Trajectory, matrix_powers, power_differences
from tests.core.paths import using

Array = NDArray[np.float64]
Exact = list[list[Fraction]]


def _random_matrices(seed: int, items: int, d: int, size: float) -> Array:
    rng = np.random.default_rng(seed)
    return size * rng.normal(size=(items, d, d))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 9, 33])
def test_matrix_powers_equal_repeated_multiplication(count: int) -> None:
    a = _random_matrices(count, 3, 4, 0.4)
    powers = matrix_powers(a, count)
    assert powers.shape == (3, count, 4, 4)
    for item in range(3):
        repeated = np.eye(4)
        for k in range(count):
            np.testing.assert_allclose(powers[item, k], repeated, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(
                powers[item, k], np.linalg.matrix_power(a[item], k), rtol=1e-12, atol=1e-14
            )
            repeated = a[item] @ repeated


def _exact(matrix: Array) -> Exact:
    return [[Fraction(float(v)) for v in row] for row in matrix]


def _times(a: Exact, b: Exact) -> Exact:
    return [
        [sum((a[i][t] * b[t][j] for t in range(len(b))), Fraction(0)) for j in range(len(b[0]))]
        for i in range(len(a))
    ]


def _exact_differences(step: Array, count: int) -> list[Exact]:
    """(I + D)^k - I for k < count, in exact rational arithmetic on the float64 D."""
    d = len(step)
    eye = [[Fraction(int(i == j)) for j in range(d)] for i in range(d)]
    a = [[eye[i][j] + v for j, v in enumerate(row)] for i, row in enumerate(_exact(step))]
    power, out = eye, []
    for _ in range(count):
        out.append([[power[i][j] - eye[i][j] for j in range(d)] for i in range(d)])
        power = _times(a, power)
    return out


@pytest.mark.parametrize("size", [1e-1, 1e-9, 1e-30])
def test_power_differences_keep_the_digits_of_small_changes(size: float) -> None:
    # With D ~ 1e-30, (I + D)^k - I computed from the powers would be exactly 0 in float64.
    count = 13
    step = _random_matrices(7, 2, 3, size)
    differences = power_differences(step, count)
    assert differences.shape == (2, count, 3, 3)
    for item in range(2):
        for k, exact in enumerate(_exact_differences(step[item], count)):
            want = np.array([[float(v) for v in row] for row in exact])
            scale = max(1e-300, float(np.max(np.abs(want))))
            assert np.max(np.abs(differences[item, k] - want)) <= 1e-14 * scale, (k, size)
    assert np.all(differences[:, 0] == 0.0)


def test_power_differences_are_the_powers_minus_identity_for_large_steps() -> None:
    step = _random_matrices(3, 4, 4, 0.3)
    np.testing.assert_allclose(
        power_differences(step, 20) + np.eye(4),
        matrix_powers(step + np.eye(4), 20),
        rtol=1e-12,
        atol=1e-13,
    )


def _every_block(starts: Any, maps: Any, slack_per_size: Any, tol: Any) -> NDArray[np.bool_]:
    return np.ones(starts.shape[:2], dtype=bool)


def _counted(evaluated: list[int]) -> Any:
    evaluate = Trajectory._evaluate

    def counted(*args: Any) -> None:
        evaluated.append(args[3].size)  # the (item, block) pairs evaluated in wide precision
        evaluate(*args)

    return counted


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
@pytest.mark.parametrize("seed", range(6))
def test_the_tolerance_screen_finds_the_epochs_the_full_scan_finds(
    optimizer: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The float64 screen of the extended-precision tolerance scan only skips blocks: the
    first epoch at or below the tolerance is the one that evaluating every block in the
    powers' own precision finds, for tolerances from the first norms down to 0 (where only
    the extended precision's own underflow stops the run)."""
    rng = np.random.default_rng(seed)
    offset = 1.7e9 if seed % 2 else 0.0  # timestamps: too ill-conditioned for the screen
    x = rng.uniform(-1, 1, 40) * 10.0 ** rng.integers(-3, 4) + offset
    y = 3 * x + rng.normal(size=40)
    moments = compute_moments(x, y)
    momentum = float(rng.choice([0.5, 0.9, 0.99]))
    probe = fit_moments(
        moments,
        FitOptions(optimizer=optimizer, momentum=momentum, learning_rate=1e-300, epochs=1),
    )
    rate = float(rng.choice([0.3, 0.9, 0.999])) * probe.max_stable_learning_rate
    epochs = 300_000
    with using("vectorized"):
        first = fit_moments(
            moments,
            FitOptions(optimizer=optimizer, momentum=momentum, learning_rate=rate, epochs=1),
        ).gradient_norm
        for fraction in (0.5, 1e-3, 1e-9, 0.0):
            options = FitOptions(
                optimizer=optimizer,
                momentum=momentum,
                learning_rate=rate,
                epochs=epochs,
                tolerance=fraction * first,
            )
            evaluated: list[int] = []
            with monkeypatch.context() as patch:
                patch.setattr(Trajectory, "_evaluate", staticmethod(_counted(evaluated)))
                screened = fit_moments(moments, options)
            every: list[int] = []
            with monkeypatch.context() as patch:
                patch.setattr(Trajectory, "_screen", staticmethod(_every_block))
                patch.setattr(Trajectory, "_evaluate", staticmethod(_counted(every)))
                full = fit_moments(moments, options)
            if offset == 0 and fraction == 0 and sum(every) > 10:  # mostly skipped
                assert sum(evaluated) < sum(every) / 2
            assert (screened.epochs_run, screened.stop_reason) == (
                full.epochs_run,
                full.stop_reason,
            )
            assert (screened.m, screened.b) == (full.m, full.b)
