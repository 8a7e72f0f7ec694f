"""The double-double arithmetic of `service.core.double_double` against exact fractions: the
error-free transformations exactly, the operations within their documented error."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from service.core import double_double as dd

RELATIVE = Fraction(1, 2**100)
"""What every operation keeps, relative to its result (the documented 2^-103 and 2^-104
with room for the inputs' own lower parts)."""


def _numbers(seed: int, count: int) -> np.ndarray:
    """Signed values over many binades, with exact ties and cancellations among them."""
    rng = np.random.default_rng(seed)
    values = rng.choice([-1.0, 1.0], count) * 10.0 ** rng.uniform(-150, 150, count)
    values[::7] = rng.normal(size=values[::7].size)  # same-size neighbours: cancellation
    return values


def _double(hi: float, lo: float) -> Fraction:
    assert abs(lo) <= abs(hi) * 2.0**-52 or hi == 0, (hi, lo)  # normalized
    return Fraction(hi) + Fraction(lo)


def _doubles(seed: int, count: int) -> list[tuple[float, float]]:
    """Double-doubles (hi, lo) with a full lower part."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for hi in _numbers(seed, count):
        lo = float(hi) * 2.0**-54 * rng.uniform(-1, 1)
        out.append(dd.two_sum(float(hi), lo))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_two_sum_and_two_product_are_exact(seed: int) -> None:
    a, b = _numbers(seed, 200), _numbers(seed + 100, 200)
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        s, e = dd.two_sum(x, y)
        assert s == x + y
        assert Fraction(s) + Fraction(e) == Fraction(x) + Fraction(y)
        p, f = dd.two_product(x, y)
        assert p == x * y
        if abs(p) > 1e-290:  # (its error term is not below float64's range)
            assert Fraction(p) + Fraction(f) == Fraction(x) * Fraction(y)


@pytest.mark.parametrize("seed", range(20))
def test_add_multiply_scale_and_divide_keep_their_digits(seed: int) -> None:
    left, right = _doubles(seed, 150), _doubles(seed + 50, 150)
    plain = _numbers(seed + 200, 150).tolist()
    for (a_hi, a_lo), (b_hi, b_lo), c in zip(left, right, plain, strict=True):
        a, b = _double(a_hi, a_lo), _double(b_hi, b_lo)
        total = a + b
        got = _double(*dd.add(a_hi, a_lo, b_hi, b_lo))
        assert abs(got - total) <= RELATIVE * abs(total) + Fraction(1, 2**1060)
        if 1e-280 < abs(a_hi * b_hi) < 1e280:
            product = a * b
            assert abs(_double(*dd.multiply(a_hi, a_lo, b_hi, b_lo)) - product) <= RELATIVE * abs(
                product
            )
        if 1e-280 < abs(a_hi * c) < 1e280:
            scaled = a * Fraction(c)
            assert abs(_double(*dd.scale(a_hi, a_lo, c)) - scaled) <= RELATIVE * abs(scaled)
        if 1e-280 < abs(a_hi / c) < 1e280:
            quotient = Fraction(a_hi) / Fraction(c)
            assert abs(_double(*dd.divide(a_hi, c)) - quotient) <= RELATIVE * abs(quotient)


@pytest.mark.parametrize("seed", range(30))
def test_dot_keeps_its_digits_through_cancellation(seed: int) -> None:
    """Dot2: within about 2^-104 of the sum of |x_i y_i|, however much of it cancels."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 12))
    scale = 10.0 ** rng.uniform(-100, 100)
    x = [
        dd.two_sum(float(v), float(v) * 2.0**-54 * rng.uniform(-1, 1))
        for v in rng.normal(size=size) * scale
    ]
    y = [
        dd.two_sum(float(v), float(v) * 2.0**-54 * rng.uniform(-1, 1))
        for v in rng.normal(size=size)
    ]
    if size > 1 and seed % 3 == 0:  # the last term cancels the others' sum to a few ulps
        head = sum(_double(*a) * _double(*b) for a, b in zip(x[:-1], y[:-1], strict=True))
        x[-1] = dd.two_sum(float(-head / _double(*y[-1])), 0.0)
    x_hi, x_lo = np.array([a[0] for a in x]), np.array([a[1] for a in x])
    y_hi, y_lo = np.array([b[0] for b in y]), np.array([b[1] for b in y])
    exact = sum(_double(*a) * _double(*b) for a, b in zip(x, y, strict=True))
    size_of_terms = sum(abs(_double(*a) * _double(*b)) for a, b in zip(x, y, strict=True))
    got = dd.dot(x_hi, x_lo, y_hi, y_lo)
    assert abs(_double(*got) - exact) <= Fraction(1, 2**102) * size_of_terms + RELATIVE * abs(exact)
    if size >= 4:  # the unrolled four-term form: the same sum
        rows = (x_hi[:4].reshape(1, 4).copy(), x_lo[:4].reshape(1, 4).copy())
        columns = (y_hi[:4].reshape(1, 4).copy(), y_lo[:4].reshape(1, 4).copy())
        four = sum(_double(*a) * _double(*b) for a, b in zip(x[:4], y[:4], strict=True))
        terms = sum(abs(_double(*a) * _double(*b)) for a, b in zip(x[:4], y[:4], strict=True))
        got4 = dd.dot4(rows[0], rows[1], 0, columns[0], columns[1], 0)
        assert abs(_double(*got4) - four) <= Fraction(1, 2**102) * terms + RELATIVE * abs(four)


def test_fma_rounds_once() -> None:
    """a b + c with a b's low bits that a separate product would round away."""
    a = 1.0 + 2.0**-30
    p, e = dd.two_product(a, a)  # a^2 = 1 + 2^-29 + 2^-60: e = 2^-60 exactly
    assert (p, e) == (1.0 + 2.0**-29, 2.0**-60)
