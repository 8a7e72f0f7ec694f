"""The compiled loops of `service.core.kernels` against what they replace: `math.fsum` bit
for bit and the remainders against exact fractions, the NumPy moments and residual sums to
rounding, and the 2 x 2 power of repeated squaring bit for bit."""

from __future__ import annotations

import decimal
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from service.core import FitOptions, kernels, scalar
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


@pytest.mark.parametrize("seed", range(20))
def test_absolute_residual_block_sums_are_within_their_bound_of_the_exact_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20_000))
    block = int(rng.choice([1, 7, 8, 64, 4096]))
    x, y = 1.7e9 + rng.normal(size=n), rng.normal(size=n) * 10.0 ** rng.integers(-5, 5)
    m, c, mean_x, mean_y = 0.3, 1e-3, float(np.mean(x)), float(np.mean(y))
    sums = kernels.absolute_residual_block_sums(x, y, m, c, mean_x, mean_y, block)
    terms = np.abs(((y - mean_y) - m * (x - mean_x)) - c)  # each rounded as the kernel's
    assert sums.shape == (-(-n // block),)
    eps = np.finfo(np.float64).eps
    for k, got in enumerate(sums.tolist()):
        exact = sum(Fraction(t) for t in terms[k * block : (k + 1) * block].tolist())
        assert abs(Fraction(got) - exact) <= Fraction((block / 8 + 3) * eps) * exact


@pytest.mark.parametrize("seed", range(12))
def test_centred_and_residual_sums_are_within_their_bound_of_the_exact_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3 * kernels.CENTRED_BLOCK))
    offset = float(rng.choice([0.0, 1.7e9, -3e12]))
    x = offset + rng.normal(size=n) * 10.0 ** rng.integers(-3, 4)
    y = rng.normal(size=n) - 2.0 * x
    cx, cy = float(x[n // 2]), float(y[n // 3])
    dx, dy = x - cx, y - cy  # rounded as the kernel rounds them
    slope, height = -2.0 + 1e-3, 0.25
    residual = (dy - slope * dx) - height
    eps = np.finfo(np.float64).eps
    block = kernels.CENTRED_BLOCK
    sums = kernels.centred_sums(x, y, cx, cy)
    assert sums.shape == (5, -(-n // block))
    rows = {
        kernels.TX: dx,
        kernels.TY: dy,
        kernels.QXX: dx * dx,
        kernels.QYY: dy * dy,
        kernels.QXY: dx * dy,
    }
    for row, terms in rows.items():
        for k in range(sums.shape[1]):
            part = terms[k * block : (k + 1) * block]
            exact = sum((Fraction(t) for t in part.tolist()), Fraction(0))
            scale = Fraction(float(np.sum(np.abs(part))))
            assert abs(Fraction(float(sums[row, k])) - exact) <= (16 + 2 + 6) * eps * scale
    total, squares = kernels.residual_sums(x, y, cx, cy, slope, height)
    blocks = -(-n // block)
    for got, terms in ((total, residual), (squares, residual * residual)):
        exact = sum((Fraction(t) for t in terms.tolist()), Fraction(0))
        scale = Fraction(float(np.sum(np.abs(terms))))
        assert abs(Fraction(got) - exact) <= (16 + 2 + 6 + blocks) * eps * scale


def test_absolute_residual_block_sums_keep_non_finite_terms() -> None:
    x = np.array([0.0, 1.0, np.nan, 3.0, 4.0])
    sums = kernels.absolute_residual_block_sums(x, np.zeros(5), 1.0, 0.0, 0.0, 0.0, 2)
    assert sums[0] == 1.0 and np.isnan(sums[1]) and sums[2] == 4.0


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
        kernels._absolute_residual_block_sums,
        kernels._centred_sums,
        kernels._residual_sums,
        kernels._matrix_power,
        kernels.product_error,
        kernels._trajectory_points,
        kernels._trajectory_point,
    )
    compiled = [len(function.signatures) for function in functions]
    assert all(compiled)
    x, y = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 2.0])
    x.setflags(write=False)
    y.setflags(write=False)
    assert kernels.small_moments(x, y)[0] is True
    kernels.absolute_residual_sum(x, y, 1, 0, 1, 1)  # (ints as a library caller may pass)
    kernels.absolute_residual_block_sums(x, y, 1, 0, 1, 1, 2)
    kernels.centred_sums(x, y, 1, 1)
    kernels.residual_sums(x, y, 1, 1, 2, 0)
    kernels.matrix_power((1, 0, 0, 1), 3)
    assert [len(function.signatures) for function in functions] == compiled


def test_matrix_power_refuses_k_below_one() -> None:
    with pytest.raises(ValueError, match="k >= 1"):
        kernels.matrix_power((1.0, 0.0, 0.0, 1.0), 0)


def _item(seed: int) -> tuple[Any, ...]:
    """A plain-gd item of the small path (`scalar._Item`) on data of any offset, at a
    learning rate from far below to just below its stable bound, from the origin or a start
    far from the optimum (whose slow descents consult the displacement from the start)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    offset = float(rng.choice([0.0, 2024.0, 1.7e9, -1.7e12]))
    x = offset + max(1.0, 1e3 * math.ulp(offset)) * rng.normal(size=n)
    y = float(rng.normal()) * (x - x.mean()) + float(rng.choice([0.0, 1e6])) + rng.normal(size=n)
    moments = compute_moments(x, y)
    probe = scalar._Item(moments, FitOptions(learning_rate=1e-300))
    fraction = float(rng.choice([1e-6, 1e-3, 0.3, 0.999]))
    start = (0.0, 0.0) if seed % 2 else (1e3 * moments.slope, -1e3 * moments.mean_y)
    options = FitOptions(
        learning_rate=fraction * probe.bound,
        initial_m=start[0],
        initial_b=start[1],
        update="sequential" if seed % 3 == 0 else "simultaneous",
        standardize=seed % 5 == 0,
    )
    return scalar._Item(moments, options), options


@pytest.mark.parametrize("seed", range(40))
def test_trajectory_tables_agree_with_repeated_squaring(seed: int) -> None:
    """Many epochs at once (the tables) and each epoch alone (repeated squaring, the final
    point's way) give the same points to 1e-10 of their terms, the start's view of m and b
    included. (Not to a few ulps: near the identity, A^k loses about eps / |A - I| of its
    change from I either way; at a millionth of the stable rate and 1e6 epochs the two ways
    differ by a few 1e-12 relative, and each is within the contract of the exact descent.)"""
    item, _ = _item(seed)
    epochs = np.unique(np.concatenate([np.arange(50), np.geomspace(50, 10**6, 300).astype(int)]))
    table = item.points(epochs)
    for column, k in enumerate(epochs.tolist()):
        alone = item.points(np.array([k]))[:, 0]
        assert table[0, column] == pytest.approx(alone[0], rel=1e-10, abs=1e-10 * abs(item.u0[0]))
        assert table[1, column] == pytest.approx(alone[1], rel=1e-10, abs=1e-10 * abs(item.u0[1]))
        scale_m, scale_c, _, _, mean_x, *_ = item.view
        m_terms = abs(item.m_star) + abs(alone[0]) * scale_m
        b_terms = abs(item.b_star) + abs(alone[1]) * scale_c + abs(mean_x * alone[0]) * scale_m
        assert table[kernels.M, column] == pytest.approx(alone[kernels.M], abs=1e-10 * m_terms)
        assert table[kernels.B, column] == pytest.approx(alone[kernels.B], abs=1e-10 * b_terms)
        assert table[kernels.COST, column] == pytest.approx(alone[kernels.COST], rel=1e-9)
    assert (table[:, 0] == item.points(np.array([0]))[:, 0]).all()  # the start itself
    assert table[kernels.M, 0] == item.start[0] and table[kernels.B, 0] == item.start[1]


@pytest.mark.parametrize("seed", range(12))
def test_trajectory_states_are_the_exact_powers(seed: int) -> None:
    """u_k = A^k u_0 from the tables, against the same product carried out in 60 digits
    (A and u_0 as the float64s they are), to 1e-12 of the largest |u| so far."""
    item, _ = _item(seed)
    epochs = np.arange(0, 3001, 7)
    table = item.points(epochs)
    context = decimal.Context(prec=60)
    a = [decimal.Decimal(v) for v in item.a]
    u = [decimal.Decimal(v) for v in item.u0]
    largest = [abs(u[0]), abs(u[1])]
    wanted = set(epochs.tolist())
    column = 0
    for k in range(epochs[-1] + 1):
        if k in wanted:
            for row in (0, 1):
                error = abs(decimal.Decimal(float(table[row, column])) - u[row])
                assert error <= context.multiply(decimal.Decimal("1e-12"), largest[row]), (k, row)
            column += 1
        u = [
            context.add(context.multiply(a[0], u[0]), context.multiply(a[1], u[1])),
            context.add(context.multiply(a[2], u[0]), context.multiply(a[3], u[1])),
        ]
        largest = [max(largest[0], abs(u[0])), max(largest[1], abs(u[1]))]


def test_trajectory_points_takes_what_callers_pass() -> None:
    """Ints, lists and no epochs at all: no error, no new compilation."""
    kernels.warm_up()
    functions = (kernels._trajectory_points, kernels._trajectory_point)
    compiled = [len(function.signatures) for function in functions]
    parameters = kernels.trajectory_parameters(
        (1, 0, 0, 1), (0, 0, 0, 0), (0, 0), (1, 1), (1, 1, 2, 1, 1, 1, 0, 0), (0, 0, 0)
    )
    assert kernels.trajectory_points(parameters, np.array([], dtype=np.int64)).shape == (5, 0)
    out = kernels.trajectory_points(parameters, [0, 5])  # type: ignore[arg-type]
    assert out[kernels.M].tolist() == [0.0, 3.0] and out[kernels.B].tolist() == [0.0, 1.0]
    assert kernels.trajectory_point(parameters, np.int64(5)) == (1.0, 1.0, 3.0, 1.0, 2.0)
    assert [len(function.signatures) for function in functions] == compiled
    with pytest.raises(ValueError, match="epochs >= 0"):
        kernels.trajectory_points(parameters, np.array([-1]))
    for bad in (np.array([[1, 2]]), np.array([1.5, 2.0])):
        with pytest.raises(ValueError, match="1-d array of whole epochs"):
            kernels.trajectory_points(parameters, bad)
    with pytest.raises(ValueError, match="k >= 0"):
        kernels.trajectory_point(parameters, -1)


@pytest.mark.parametrize("seed", range(30))
def test_first_below_is_the_first_epoch_of_the_tables_under_the_tolerance(seed: int) -> None:
    """Every epoch in turn: the first whose gradient norm (from the same tables as a
    history's points, so the same bits) is at most the tolerance, wherever it lies, even
    where the norm grows before it shrinks (the sequential rule)."""
    item, _ = _item(seed)
    last = int(np.random.default_rng(seed).integers(1, 5000))
    table = item.points(np.arange(last + 1))
    g_mm, g_mc, g_cc = item.g
    norms = np.hypot(
        g_mm * table[kernels.U_M] + g_mc * table[kernels.U_C], g_cc * table[kernels.U_C]
    )
    for tolerance in (0.0, *np.quantile(norms, [0.0, 0.1, 0.5, 0.9, 1.0]), 2 * norms.max()):
        below = np.flatnonzero(norms <= tolerance)
        expected = int(below[0]) if below.size else -1
        assert kernels.first_below(item.parameters, item.g, tolerance, last) == expected


def test_first_below_finds_a_norm_that_dips_before_it_grows() -> None:
    """A rotation-like map whose gradient norm dips below the tolerance between epochs where
    it is above: the first dip is the answer, not the last epoch a bisection would see."""
    a = (0.0, 0.1, -5.0, 0.0)  # u -> (0.1 u_c, -5 u_m): norms 1, 5, 0.5, 2.5, 0.25, ...
    parameters = kernels.trajectory_parameters(
        a, (-1.0, 0.1, -5.0, -1.0), (0.0, 0.0), (1.0, 0.0), (1, 1, 0, 0, 0, 1, 0, 0), (0, 0, 0)
    )
    norms = [
        math.hypot(u_m, u_c)
        for u_m, u_c in kernels.trajectory_points(parameters, np.arange(6))[:2].T.tolist()
    ]
    assert norms[2] < 0.6 < norms[3] and norms[4] < 0.6
    assert kernels.first_below(parameters, (1.0, 0.0, 1.0), 0.6, 5) == 2
    assert kernels.first_below(parameters, (1.0, 0.0, 1.0), 0.6, 5, begin=3) == 4
    assert kernels.first_below(parameters, (1.0, 0.0, 1.0), 0.1, 5, begin=3) == -1
    with pytest.raises(ValueError, match="begin <= last"):
        kernels.first_below(parameters, (1.0, 0.0, 1.0), 0.5, -1)
    with pytest.raises(ValueError, match="begin <= last"):
        kernels.first_below(parameters, (1.0, 0.0, 1.0), 0.5, 5, begin=6)


@pytest.mark.parametrize("seed", range(200))
def test_line_height_is_the_exact_sum_rounded_once(seed: int) -> None:
    """b + m mean_x - mean_y from fractions, rounded once, bit for bit, on lines near data
    of any offset (b ~ -m mean_x, where every rounding shows); with the means' remainders,
    the sum of the same six terms as ``math.fsum`` takes it (m lo_x rounded, a term ~eps^2
    of the others)."""
    rng = np.random.default_rng(seed)
    mean_x = float(rng.choice([0.0, 2024.5, 1.7e9, -1.7e12])) + float(rng.normal())
    m = float(rng.normal()) * 10.0 ** rng.uniform(-8, 8)
    mean_y = m * mean_x + float(rng.normal()) * 10.0 ** rng.uniform(-6, 6)
    b = mean_y - m * mean_x + float(rng.normal()) * 10.0 ** rng.uniform(-20, 0)
    exact, got = kernels.line_height(m, b, mean_x, mean_y, 0.0, 0.0)
    assert exact
    assert got == float(Fraction(b) + Fraction(m) * Fraction(mean_x) - Fraction(mean_y))
    lo_x, lo_y = math.ulp(mean_x) * float(rng.uniform(-0.5, 0.5)), math.ulp(mean_y) / 3
    exact, got = kernels.line_height(m, b, mean_x, mean_y, lo_x, lo_y)
    product = Fraction(m) * Fraction(mean_x)
    error = float(product - Fraction(m * mean_x))  # Dekker's two-product: exact here
    assert Fraction(m * mean_x) + Fraction(error) == product
    assert exact
    assert got == math.fsum((b, m * mean_x, error, m * lo_x, -mean_y, -lo_y))


def test_line_height_beyond_the_split_is_left_to_fractions() -> None:
    from service.core.exact_sums import line_height

    exact, got = kernels.line_height(1e300, 1.0, 3e10, 0.0, 0.0, 0.0)
    assert not exact and math.isnan(got)
    assert line_height(1e300, 1.0, 3e-10, 0.5) == float(
        Fraction(1.0) + Fraction(1e300) * Fraction(3e-10) - Fraction(0.5)
    )
    assert line_height(1e300, 1.0, 3e10, 0.0) == math.inf


@pytest.mark.parametrize("seed", range(100))
def test_limb_sum_is_the_exact_sum(seed: int) -> None:
    """The three float64s of `_limb_sum` add up to the values' exact sum (fractions), on
    decimals, timestamps, mixed signs and exponents spread over up to 60 binades."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4097))
    offset = float(rng.choice([0.0, 2024.0, 1.7e9, -3e12]))
    values = offset + np.round(rng.normal(size=n), int(rng.integers(0, 8)))
    values *= 2.0 ** rng.uniform(-17, 17, n) if seed % 3 == 0 else 1.0
    values *= 10.0 ** float(rng.uniform(-250, 250))
    exact, high, middle, low = kernels._limb_sum(values)
    assert exact
    assert Fraction(high) + Fraction(middle) + Fraction(low) == sum(
        map(Fraction, values.tolist()), Fraction(0)
    )


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0**-70],  # exponents too far apart
        [2.0**950, 1.0],  # near overflow
        [5e-324, 1.0],  # subnormal
        [1e-310, 3e-310],
        [0.0, -0.0],  # nothing to sum
        [math.inf, 1.0],
        [math.nan, 1.0],
    ],
)
def test_limb_sum_leaves_the_rest_to_the_partials(values: list[float]) -> None:
    array = np.array(values)
    assert not kernels._limb_sum(array)[0]
    ok, mean, _ = kernels.exact_mean(array)
    if all(map(math.isfinite, values)):
        assert ok
        assert mean == min(max(math.fsum(values) / len(values), min(values)), max(values))
    else:
        assert not ok


def test_a_changed_source_drops_the_cache_beside_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numba checks a cached function against its own file only: any change to a source of
    the package drops the package's whole cache, once; a cache set elsewhere is left alone."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    (tmp_path / "a.py").write_text("x = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    for name in ("a.f-1.py311.nbi", "a.f-1.py311.1.nbc", "a.cpython-311.pyc"):
        (cache / name).write_bytes(b"old")
    assert kernels.drop_stale_cache(tmp_path)
    assert sorted(p.name for p in cache.iterdir()) == ["a.cpython-311.pyc", "numba-sources.sha256"]
    (cache / "a.f-1.py311.nbi").write_bytes(b"new")
    assert not kernels.drop_stale_cache(tmp_path)  # unchanged sources: the cache stays
    assert (cache / "a.f-1.py311.nbi").exists()
    (tmp_path / "a.py").write_text("x = 2\n")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert not kernels.drop_stale_cache(tmp_path)
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert kernels.drop_stale_cache(tmp_path)
    assert not (cache / "a.f-1.py311.nbi").exists()


@pytest.mark.parametrize("seed", range(60))
def test_square_remainder_completes_the_centred_sum_of_squares(seed: int) -> None:
    """sxx + sxx_lo is the exact centred sum of squares around the exact mean, to about
    2^-100 of it plus what the mean's remainder itself misses (its last bit, times the
    remainder, n times over: 1e-25 of sxx where the offset is 1e12 spreads), on data of
    every offset and scale the small path takes; always nearer than sxx alone."""
    x, y = _data(seed)
    if not kernels.small_moments(x, y)[0]:  # (the NumPy path's moments: no remainder)
        return
    moments = compute_moments(x, y)
    values = [Fraction(float(v)) for v in x]
    mean = sum(values, Fraction(0)) / len(values)
    exact = sum(((v - mean) ** 2 for v in values), Fraction(0))
    got = Fraction(moments.sxx) + Fraction(moments.sxx_lo)
    lo = moments.mean_x_lo
    allowed = abs(exact) * Fraction(1, 2**98) + 2 * x.size * Fraction(abs(lo)) * Fraction(
        math.ulp(lo)
    )
    assert abs(got - exact) <= allowed
    assert abs(got - exact) <= abs(Fraction(moments.sxx) - exact)
