"""The small path's one compiled call (`scalar.fit_points`, behind `core.fit_points`):
the same bits as the moments, the descent and the statistics computed one after another,
and a clean hand-over of everything it does not take (errors included)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from service import core
from service.core import FitOptions, compute_moments, fit_moments, scalar, with_statistics
from service.core.errors import DataError, DivergedError, ParameterError
from service.examples import ARTICLE_X, ARTICLE_Y
from tests.core.paths import using


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and arrays as nested lists, for an exact comparison."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _one_after_another(
    x: np.ndarray, y: np.ndarray, options: FitOptions, level: float
) -> tuple[core.Moments, core.FitResult]:
    moments = compute_moments(x, y)
    result = fit_moments(moments, options)
    return moments, with_statistics([result], [moments], [level], [(x, y, None)])[0]


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, FitOptions, float]:
    """Data the small path takes (2 to 256 points, offsets up to timestamps, exact and noisy
    lines), at a learning rate from far below to just below the stable bound, either rule,
    with or without tolerance, history, standardize, l2 and a start far from the optimum."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([2, 3, 5, 100, 256]))
    offset = float(rng.choice([0.0, 2024.0, 1.7e9]))
    x = offset + max(1.0, 1e3 * math.ulp(offset)) * rng.normal(size=n)
    noise = float(rng.choice([0.0, 1e-9, 1.0]))
    y = float(rng.normal()) * (x - offset) + float(rng.normal()) * 1e3 + noise * rng.normal(size=n)
    shape: dict[str, Any] = {
        "update": "sequential" if seed % 2 else "simultaneous",
        "standardize": seed % 5 == 0 and noise > 0,
        "l2": float(rng.choice([0.0, 0.0, 0.5])),
    }
    probe = scalar._Item(compute_moments(x, y), FitOptions(learning_rate=1e-300, **shape))
    options = FitOptions(
        learning_rate=float(rng.choice([1e-6, 1e-3, 0.3, 0.99])) * probe.bound,
        epochs=int(rng.choice([1, 10, 10_000, 1_000_000])),
        tolerance=None if seed % 3 else float(rng.choice([0.0, 1e-6, 1.0])),
        history_points=int(rng.choice([0, 0, 5, 300])),
        history_spacing="log" if seed % 7 == 0 else "linear",
        initial_m=0.0 if seed % 4 else 1e3,
        initial_b=0.0 if seed % 4 else -1e6,
        **shape,
    )
    return x, y, options, float(rng.choice([0.5, 0.95, 0.999]))


@pytest.mark.parametrize("seed", range(160))
def test_one_call_gives_the_bits_of_the_steps_one_after_another(seed: int) -> None:
    x, y, options, level = _case(seed)
    if seed % 8 == 1:  # some unstable rates: handed over, and the steps' DivergedError
        options = dataclasses.replace(options, learning_rate=3 * options.learning_rate)
    fused = scalar.fit_points(x, y, options, level)
    with using("vectorized"):  # the steps on their own paths, not through the one call
        separate_moments = compute_moments(x, y)
    with using("small"):
        try:
            separate = _one_after_another(x, y, options, level)
        except DivergedError as error:
            assert fused is None
            with pytest.raises(DivergedError) as raised:
                core.fit_points(x, y, None, options, level)
            assert str(raised.value) == str(error)
            return
    if fused is None:  # handed over (e.g. 1 - 2 lr mean_x^2 near 0, rounded from fractions)
        assert _plain(core.fit_points(x, y, None, options, level)) == _plain(separate)
        return
    assert _plain(fused) == _plain(separate)
    assert fused[0].sxx == pytest.approx(separate_moments.sxx, rel=1e-12)
    assert _plain(core.fit_points(x, y, None, options, level)) == _plain(fused)


def test_most_cases_take_the_one_call() -> None:
    """(So that the comparison above is not vacuous.)"""
    taken = [seed for seed in range(160) if scalar.fit_points(*_case(seed)) is not None]
    assert len(taken) >= 120, taken


def test_the_article_fit_takes_the_one_call() -> None:
    """The request almost everyone sends (100 points, the article's rule) is this path's."""
    x, y = np.array(ARTICLE_X), np.array(ARTICLE_Y)
    options = FitOptions(learning_rate=1e-3, epochs=10_000, update="sequential")
    fused = scalar.fit_points(x, y, options, 0.95)
    assert fused is not None
    assert fused[1].statistics is not None and fused[1].statistics.ols.p_m is not None
    assert fused[1].warnings and "far from the optimum" in fused[1].warnings[0]


@pytest.mark.parametrize(
    ("x", "y", "options", "error"),
    [
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], FitOptions(), DataError),  # constant x
        ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], FitOptions(standardize=True), DataError),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], FitOptions(learning_rate=-1.0), ParameterError),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], FitOptions(learning_rate=10.0), DivergedError),
        ([1.0, 2.0, math.inf], [1.0, 2.0, 4.0], FitOptions(), DataError),
    ],
)
def test_what_it_does_not_take_is_the_steps_own_error(
    x: list[float], y: list[float], options: FitOptions, error: type[Exception]
) -> None:
    xs, ys = np.array(x), np.array(y)
    assert scalar.fit_points(xs, ys, options, 0.95) is None
    with pytest.raises(error):
        core.fit_points(xs, ys, None, options)


def test_larger_or_weighted_data_goes_the_steps_way_with_the_same_answer() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = 2 * x + rng.normal(size=300)
    options = FitOptions(learning_rate=0.01, epochs=500)
    assert scalar.fit_points(x, y, options, 0.95) is None  # beyond SMALL_POINTS
    assert _plain(core.fit_points(x, y, None, options)) == _plain(
        _one_after_another(x, y, options, 0.95)
    )
    weights = np.ones(300)
    weights[:10] = 2.0
    moments = compute_moments(x, y, weights)
    result = fit_moments(moments, options)
    want = with_statistics([result], [moments], [0.95], [(x, y, weights)])[0]
    assert _plain(core.fit_points(x, y, weights, options)[1]) == _plain(want)
    assert scalar.fit_points(x[:10].astype(np.float32), y[:10], options, 0.95) is None


def test_warm_up_compiles_what_requests_call() -> None:
    """After `core.warm_up`, JSON's writable arrays and pyarrow's read-only ones compile
    nothing new in the one call, the descent's or the statistics'."""
    core.warm_up()
    functions = (scalar._fit_points, scalar._small_fit, scalar.item_coefficients)
    before = [len(function.signatures) for function in functions]
    assert all(before)
    x, y = np.array([0.0, 1.0, 3.0, 4.0]), np.array([1.0, 2.0, 2.0, 5.0])
    x.setflags(write=False)
    y.setflags(write=False)
    for update in ("simultaneous", "sequential"):
        options = FitOptions(learning_rate=0.01, update=update, tolerance=1e-4)  # type: ignore[arg-type]
        assert scalar.fit_points(x, y, options, 0.9) is not None
        assert scalar.descend_small(compute_moments(x, y), options) is not None
    assert [len(function.signatures) for function in functions] == before
