"""The compiled loops of `service.core.kernels` against what they replace: `math.fsum` bit
for bit and the remainders against exact fractions, the NumPy moments and residual sums to
rounding, and the 2 x 2 power of repeated squaring bit for bit."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from service.core import kernels
from service.core.moments import compute_moments
from tests.core.paths import using


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of every scale the small path takes: offsets (timestamps), tiny and huge
    magnitudes, means that cancel, 2 to 256 points."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 257))
    scale = 10.0 ** rng.uniform(-150, 150)
    offset = float(rng.choice([0.0, 1.7e9, -1.7e12, 1e18])) * scale
    spread = max(scale, 1e3 * math.ulp(offset))  # distinct x on any offset
    x = offset + spread * rng.normal(size=n)
    y = 3 * x + spread * rng.normal(size=n)
    if seed % 5 == 0:  # y whose mean cancels
        y[-1] = -math.fsum(y[:-1].tolist())
    return x, y


@pytest.mark.parametrize("seed", range(300))
def test_means_and_remainders_are_fsums_bit_for_bit(seed: int) -> None:
    x, y = _data(seed)
    ok, mean_x, mean_y, *_, lo_x, lo_y = kernels.small_moments(x, y)
    if not ok:  # spreads beyond the comfortable range: the NumPy path's
        return
    for values, mean, lo in ((x, mean_x, lo_x), (y, mean_y, lo_y)):
        listed = values.tolist()
        expected = math.fsum(listed) / len(listed)
        expected = min(max(expected, min(listed)), max(listed))
        assert mean == expected
        assert kernels.exact_mean(values) == (True, mean, lo)
        # (float() of a fraction is exactly rounded)
        n = len(listed)
        assert lo == float((sum(map(Fraction, listed)) - n * Fraction(mean)) / n)


@pytest.mark.parametrize("seed", range(300))
def test_centred_sums_agree_with_the_numpy_path(seed: int) -> None:
    x, y = _data(seed)
    small = compute_moments(x, y)
    with using("vectorized"):  # the moments' full NumPy passes
        full = compute_moments(x, y)
    assert (small.mean_x, small.mean_y) == (full.mean_x, full.mean_y)
    for name in ("sxx", "sxy", "syy"):
        assert getattr(small, name) == pytest.approx(getattr(full, name), rel=1e-12)
    assert small.min_cost == pytest.approx(full.min_cost, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1.0, 2.0, math.inf], [1.0, 2.0, 3.0]),
        ([1.0, 2.0, 3.0], [1.0, math.nan, 3.0]),
        ([1e308, 1e308, -1e308], [1.0, 2.0, 3.0]),  # fsum's intermediate overflow
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),  # constant x
        ([1e-200, 2e-200, 3e-200], [1.0, 2.0, 3.0]),  # squares below the comfortable range
        ([1.0, 2.0, 3.0], [1e200, -1e200, 3e200]),  # and above it
    ],
)
def test_anything_unusual_is_left_to_the_numpy_path(x: list[float], y: list[float]) -> None:
    assert kernels.small_moments(np.array(x), np.array(y))[0] is False


def test_constant_y_gives_a_slope_and_a_cost_of_exactly_zero() -> None:
    ok, _, mean_y, _, sxy, syy, min_cost, _, lo_y = kernels.small_moments(
        np.array([0.1, 0.7, 2.3, 5.0]), np.full(4, 1.1)
    )
    assert ok and (mean_y, lo_y, sxy, syy, min_cost) == (1.1, 0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("seed", range(50))
def test_absolute_residual_sum_is_the_numpy_sum_to_rounding(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4097))
    x, y = 1.7e9 + rng.normal(size=n), rng.normal(size=n)
    m, c, mean_x, mean_y = 0.3, 1e-3, float(np.mean(x)), float(np.mean(y))
    expected = float(np.sum(np.abs(((y - mean_y) - m * (x - mean_x)) - c)))
    got = kernels.absolute_residual_sum(x, y, m, c, mean_x, mean_y)
    assert got == pytest.approx(expected, rel=1e-12)


def _squaring(a: tuple[float, float, float, float], k: int) -> tuple[float, ...]:
    """Repeated squaring from the most significant bit, in Python floats."""
    r = a
    for bit in bin(k)[3:]:
        r = (
            r[0] * r[0] + r[1] * r[2],
            r[0] * r[1] + r[1] * r[3],
            r[2] * r[0] + r[3] * r[2],
            r[2] * r[1] + r[3] * r[3],
        )
        if bit == "1":
            r = (
                a[0] * r[0] + a[1] * r[2],
                a[0] * r[1] + a[1] * r[3],
                a[2] * r[0] + a[3] * r[2],
                a[2] * r[1] + a[3] * r[3],
            )
    return r


@pytest.mark.parametrize("k", [1, 2, 3, 7, 64, 1000, 10_000, 123_457, 10**7])
def test_matrix_power_is_repeated_squaring_bit_for_bit(k: int) -> None:
    a = (0.9990001, 1.3e-4, -2.1e-3, 0.998)
    got = kernels.matrix_power(a, k)
    assert got == _squaring(a, k)
    np.testing.assert_allclose(
        np.array(got).reshape(2, 2),
        np.linalg.matrix_power(np.array(a).reshape(2, 2), k),
        rtol=1e-9,
        atol=1e-300,
    )


def test_warm_up_compiles_every_loop_for_what_requests_bring() -> None:
    """Writable arrays (JSON bodies) and read-only ones (pyarrow's CSV and Arrow columns):
    after `warm_up` neither makes a request compile anything."""
    kernels.warm_up()
    functions = (
        kernels._exact_mean,
        kernels._small_moments,
        kernels._absolute_residual_sum,
        kernels._matrix_power,
        kernels.product_error,
    )
    compiled = [len(function.signatures) for function in functions]
    assert all(compiled)
    x, y = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 2.0])
    x.setflags(write=False)
    y.setflags(write=False)
    assert kernels.small_moments(x, y)[0] is True
    kernels.absolute_residual_sum(x, y, 1, 0, 1, 1)  # (ints as a library caller may pass)
    kernels.matrix_power((1, 0, 0, 1), 3)
    assert [len(function.signatures) for function in functions] == compiled


def test_matrix_power_refuses_k_below_one() -> None:
    with pytest.raises(ValueError, match="k >= 1"):
        kernels.matrix_power((1.0, 0.0, 0.0, 1.0), 0)
