"""The momentum optimizers' small path (`service.core.momentum`): what it takes, what it
hands to the vectorized path, its tolerance screen against every epoch evaluated, and its
double-double powers where extended precision drifts (the contract's yardstick itself is
`test_yardstick.py`, whose `fit` on the small path now runs here for these optimizers)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from service import examples
from service.core import (
    DivergedError,
    FitOptions,
    FitResult,
    Moments,
    compute_moments,
    fit_batch,
    fit_moments,
    kernels,
    momentum,
    warm_up,
)
from tests.core import exact
from tests.core.paths import using

OPTIMIZERS = ["momentum", "nesterov"]


def _article() -> Moments:
    return compute_moments(np.array(examples.ARTICLE_X), np.array(examples.ARTICLE_Y))


def _gradient(moments: Moments, options: FitOptions) -> tuple[float, float, float]:
    """G of g = (g_mm u_m + g_mc u_c, g_cc u_c), the descended objective's gradient in the
    units the descent runs in (z-space under standardize)."""
    if options.standardize:
        return 2 * (1 + options.l2), 0.0, 2.0
    return 2 * (moments.sxx / moments.sum_w + options.l2), 2 * moments.mean_x, 2.0


def _random_problem(seed: int) -> tuple[Moments, FitOptions]:
    """A fit of the kind the service sees: 2 to 200 points around an offset, either
    optimizer, momentum up to 0.99, a rate up to 0.99 of the bound, l2, standardize,
    tolerance and a history."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    offset = float(rng.choice([0.0, 2024.0, 1.7e9]))
    spread = 10.0 ** rng.uniform(-2, 3)
    x = offset + spread * rng.normal(size=n)
    y = float(rng.normal()) * 5 * (x - offset) / spread + 10.0 ** rng.uniform(-3, 1) * rng.normal(
        size=n
    )
    moments = compute_moments(x, y)
    optimizer = OPTIMIZERS[seed % 2]
    mu = float(rng.choice([0.0, 0.5, 0.9, 0.99]))
    standardize = bool(rng.integers(2))
    l2 = float(rng.choice([0.0, 0.1])) * (1.0 if standardize else moments.vx)
    probe = FitOptions(
        learning_rate=1e-300, epochs=1, optimizer=optimizer, momentum=mu, l2=l2,
        standardize=standardize,
    )  # fmt: skip
    bound = fit_moments(moments, probe).max_stable_learning_rate
    options = FitOptions(
        learning_rate=bound * float(rng.uniform(0.01, 0.99)),
        epochs=int(rng.integers(1, 5000)),
        optimizer=optimizer,
        momentum=mu,
        l2=l2,
        standardize=standardize,
        initial_m=float(rng.choice([0.0, 3.0])),
        initial_b=float(rng.choice([0.0, -2.0])),
        tolerance=None if seed % 3 == 0 else float(10.0 ** rng.uniform(-8, 0)),
        history_points=int(rng.choice([0, 2, 7, 300])),
        history_spacing="log" if seed % 5 == 0 else "linear",
    )
    return moments, options


@pytest.mark.parametrize("seed", range(80))
def test_the_small_path_agrees_with_the_vectorized_one(seed: int) -> None:
    """Both within the contract of the exact descent, so within twice it of each other: the
    same stop, the same bound, m, b, cost and history to 1e-9 of their scale."""
    moments, options = _random_problem(seed)
    small = momentum.descend_momentum(moments, options)
    assert small is not None, "the small path hands over an ordinary fit"
    with using("vectorized"):
        wide = fit_moments(moments, options)
    assert small.max_stable_learning_rate == wide.max_stable_learning_rate
    assert (small.epochs_run, small.stop_reason) == (wide.epochs_run, wide.stop_reason)
    scale_m = abs(wide.optimum.m) + abs(options.initial_m) + 1e-300
    scale_b = abs(wide.optimum.b) + abs(options.initial_b) + abs(moments.mean_x) * scale_m
    assert abs(small.m - wide.m) <= 1e-9 * scale_m
    assert abs(small.b - wide.b) <= 1e-9 * scale_b
    assert small.cost == pytest.approx(wide.cost, rel=1e-9)
    if options.history_points:
        assert small.history is not None and wide.history is not None
        np.testing.assert_array_equal(small.history.epoch, wide.history.epoch)
        np.testing.assert_allclose(small.history.m, wide.history.m, rtol=0, atol=1e-9 * scale_m)
        np.testing.assert_allclose(small.history.b, wide.history.b, rtol=0, atol=1e-9 * scale_b)
        assert (small.history.m[-1], small.history.b[-1]) == (small.m, small.b)
    assert len(small.warnings) == len(wide.warnings)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_fit_and_batch_take_the_small_path_bit_for_bit(optimizer: str) -> None:
    moments = _article()
    options = FitOptions(
        learning_rate=1e-3,
        optimizer=optimizer,
        tolerance=1e-3,
        history_points=20,  # type: ignore[arg-type]
    )
    assert momentum.trajectory(moments, options) is not None
    single = fit_moments(moments, options)
    (batched,) = fit_batch([(moments, options)])
    direct = momentum.descend_momentum(moments, options)
    assert isinstance(batched, FitResult) and direct is not None
    for other in (batched, direct):
        assert dataclasses.replace(other, history=None) == dataclasses.replace(single, history=None)
        assert other.history is not None and single.history is not None
        for field in ("epoch", "m", "b", "cost"):
            assert (
                getattr(other.history, field).tobytes() == getattr(single.history, field).tobytes()
            )


def test_what_it_does_not_take_goes_to_the_vectorized_path() -> None:
    moments = _article()
    bound = fit_moments(moments, FitOptions(optimizer="momentum")).max_stable_learning_rate
    # An unstable rate: the vectorized path locates the divergence.
    unstable = FitOptions(learning_rate=1.01 * bound, optimizer="momentum", epochs=5000)
    assert momentum.trajectory(moments, unstable) is None
    with pytest.raises(DivergedError) as small_error:
        fit_moments(moments, unstable)
    with using("vectorized"), pytest.raises(DivergedError) as wide_error:
        fit_moments(moments, unstable)
    assert small_error.value.epoch == wide_error.value.epoch
    # Data in scaled units (x around 1e-200) and starts far beyond the data.
    tiny = compute_moments(np.array([1e-200, 3e-200, 4e-200]), np.array([1.0, 2.0, 2.5]))
    assert momentum.trajectory(tiny, FitOptions(optimizer="nesterov")) is None
    far = FitOptions(optimizer="momentum", initial_m=1e152, learning_rate=1e-3)
    assert momentum.trajectory(moments, far) is None
    # m far below its terms and tiny in itself (constant y near 1e-280 over x near 1e-44):
    # its displacement's products leave float64's normal range.
    x = np.array([1.2e-44, -2.1e-44, -4.1e-44, 2.8e-44, 3.7e-44, -4.5e-44])
    flat = compute_moments(x, np.full(6, 1.6246253070904034e-280))
    options = FitOptions(learning_rate=1.4985, epochs=41, optimizer="momentum", momentum=0.5)
    assert momentum.trajectory(flat, options) is None
    with using("vectorized"):
        wide = fit_moments(flat, options)
    assert fit_moments(flat, options) == wide


def _norms_every_epoch(
    tables: momentum.Tables, g: tuple[float, float, float], last: int
) -> list[float]:
    rows_hi, rows_lo, starts_hi, starts_lo = tables[2], tables[3], tables[4], tables[5]
    block = rows_hi.shape[0]
    norms = []
    for k in range(last + 1):
        state = momentum._state(rows_hi, rows_lo, starts_hi, starts_lo, k // block, k % block)
        norms.append(momentum._norm(*g, *state))
    return norms


@pytest.mark.parametrize("seed", range(24))
def test_the_tolerance_screen_never_skips_the_first_epoch_at_or_below_it(seed: int) -> None:
    """The tolerance set to an epoch's own norm (a tie, the screen's hardest case) or just
    above or below it: the scan answers the first epoch whose norm, evaluated in
    double-double at every epoch, is at most the tolerance."""
    moments, options = _random_problem(seed)
    rng = np.random.default_rng(seed)
    epochs = int(rng.integers(50, 1500))
    options = FitOptions(
        learning_rate=options.learning_rate, epochs=epochs, optimizer=options.optimizer,
        momentum=options.momentum, l2=options.l2, standardize=options.standardize,
    )  # fmt: skip
    found = momentum.trajectory(moments, options)
    assert found is not None
    _, _, tables = found
    g = _gradient(moments, options)
    norms = _norms_every_epoch(tables, g, epochs)
    # (norms that underflow toward float64's subnormals are extended precision's to decide)
    reachable = [k for k, norm in enumerate(norms) if norm >= 2.0**-800]
    target = norms[reachable[int(rng.integers(0, len(reachable)))]]
    for tolerance in (target, math.nextafter(target, 0.0), target * (1 + 1e-12)):
        expected = next((k for k, norm in enumerate(norms) if norm <= tolerance), -1)
        assert momentum._first_below(tables, *g, tolerance, epochs) == expected


def test_a_norm_that_underflows_is_extended_precisions_to_judge() -> None:
    """Tolerance 0 on a descent whose state underflows float64 within its epochs: double-
    double would meet it (a norm of exactly 0) where the exact descent never does; the item
    goes to the vectorized path, whose extended precision answers as before."""
    moments = compute_moments(np.arange(5.0), np.array([1.0, 3.0, 2.0, 5.0, 4.0]))
    options = FitOptions(
        learning_rate=0.4, epochs=5000, optimizer="momentum", momentum=0.5, standardize=True,
        tolerance=0.0,
    )  # fmt: skip
    assert momentum.trajectory(moments, options) is None
    with using("vectorized"):
        wide = fit_moments(moments, options)
    assert fit_moments(moments, options) == wide
    assert (wide.epochs_run, wide.stop_reason) == (5000, "epochs")
    # The same descent with a tolerance its norms reach while still normal stays here.
    reached = dataclasses.replace(options, tolerance=1e-200)
    small = momentum.descend_momentum(moments, reached)
    assert small is not None and small.stop_reason == "tolerance"
    assert small.gradient_norm <= 1e-200


def test_near_the_double_root_the_powers_keep_the_yardstick() -> None:
    """Momentum 0.999 at 0.999999 of the stable bound on two points (A's eigenvalues a
    complex pair just off the double root, where A^k is most sensitive to A): on the moments
    as sent, the double-double powers stay within the yardstick at every recorded epoch,
    where the vectorized path's extended precision drifts past it within 5,000 epochs."""
    raw = compute_moments(
        np.array([1.0956934985716344, -1.8417062898890375]),
        np.array([0.6404226504432821, 0.10490011715303971]),
    )
    sent = Moments.from_sums(raw.n, raw.mean_x, raw.mean_y, raw.sxx, raw.sxy, raw.syy)
    probe = FitOptions(learning_rate=1e-300, epochs=1, optimizer="momentum", momentum=0.999)
    bound = fit_moments(sent, probe).max_stable_learning_rate
    options = FitOptions(
        learning_rate=0.999999 * bound, epochs=5000, optimizer="momentum", momentum=0.999,
        history_points=40,
    )  # fmt: skip
    truth = exact.moments_as_sent(sent)
    worst = {}
    for path in ("small", "vectorized"):
        with using(path):
            result = fit_moments(sent, options)
        assert result.history is not None
        epochs = result.history.epoch.tolist()
        walk = exact.descend(truth, options, result.epochs_run)
        worst[path] = max(
            exact.worst_excess(result.history.m, walk.m, None, epochs),
            exact.worst_excess(result.history.b, walk.b, None, epochs),
        )
    assert worst["small"] <= 0.01, worst
    assert worst["vectorized"] > worst["small"]


def test_near_the_double_root_raw_data_keep_the_yardstick_with_sxx_remainder() -> None:
    """The same two points as raw data: the exact descent is on the data's exact moments,
    and the small path's map reads sxx with its remainder (`Moments.sxx_lo`), so it stays
    within the yardstick where the rounded sxx alone drifts past it (the vectorized path,
    whose NumPy moments of larger data sets do not carry the remainder, is 1.5 times it)."""
    x = np.array([1.0956934985716344, -1.8417062898890375])
    y = np.array([0.6404226504432821, 0.10490011715303971])
    options = FitOptions(
        learning_rate=0.8343381052872474, epochs=1534, optimizer="momentum", momentum=0.999,
        history_points=40,
    )  # fmt: skip
    moments = compute_moments(x, y)
    assert moments.sxx_lo != 0.0
    result = fit_moments(moments, options)
    assert result.history is not None
    epochs = result.history.epoch.tolist()
    walk = exact.descend(exact.exact_moments(x, y), options, result.epochs_run)
    loop = exact.float_loop(x, y, options, result.epochs_run)
    worst = max(
        exact.worst_excess(result.history.m, walk.m, loop.m, epochs),
        exact.worst_excess(result.history.b, walk.b, loop.b, epochs),
    )
    assert worst <= 0.01
    rounded = dataclasses.replace(moments, sxx_lo=0.0)
    drifted = fit_moments(rounded, options)
    assert drifted.history is not None
    assert exact.worst_excess(drifted.history.b, walk.b, loop.b, epochs) > 1


def test_warm_up_compiles_what_momentum_requests_call() -> None:
    """After `core.warm_up`, a momentum request compiles nothing new, with JSON's writable
    arrays or pyarrow's read-only ones (whose moments' remainder is their own call)."""
    warm_up()
    functions = (momentum._momentum_fit, momentum._points, kernels.square_remainder)
    before = [len(function.signatures) for function in functions]
    assert all(before)
    x, y = np.array(examples.ARTICLE_X), np.array(examples.ARTICLE_Y)
    frozen_x, frozen_y = x.copy(), y.copy()
    frozen_x.setflags(write=False)
    frozen_y.setflags(write=False)
    for points in ((x, y), (frozen_x, frozen_y)):
        for optimizer in OPTIMIZERS:
            options = FitOptions(
                optimizer=optimizer,
                tolerance=1e-4,
                history_points=50,
                history_spacing="log",  # type: ignore[arg-type]
            )
            assert momentum.descend_momentum(compute_moments(*points), options) is not None
    assert [len(function.signatures) for function in functions] == before


def test_a_coordinate_that_stays_exactly_zero_stays_on_the_small_path() -> None:
    """Centred x and y from b_0 = 0: b is exactly 0 at every epoch (its gradient is 0), far
    below its terms but exact; the small path keeps the item and answers 0."""
    x = np.array([-1.5, -0.5, 0.5, 1.5])
    y = np.array([-2.0, -1.5, 1.0, 2.5])
    options = FitOptions(learning_rate=0.05, epochs=300, optimizer="nesterov", history_points=30)
    result = momentum.descend_momentum(compute_moments(x, y), options)
    assert result is not None and result.history is not None
    assert result.b == 0.0 and not result.history.b.any()
    with using("vectorized"):
        wide = fit_moments(compute_moments(x, y), options)
    assert abs(result.m - wide.m) <= 1e-12 * abs(wide.m)
