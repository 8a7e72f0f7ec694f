"""Each request of `data/` (real inputs the service once answered wrongly) with its right answer.

The files are copies of the shared failing cases; each stands for a kind of input (see
`data/README.md`). These run the core directly; the HTTP replays live with the API tests.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.core import (
    FitOptions,
    FitResult,
    compute_moments,
    fit,
    fit_batch,
    fit_moments,
    segment_moments,
)
from tests.core import exact

DATA = Path(__file__).parent / "data"
RULES = [("simultaneous", "gd"), ("sequential", "gd"), ("simultaneous", "momentum")]
RULES += [("simultaneous", "nesterov")]


def load(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return case


def expected(case: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = next(v for k, v in case.items() if k.startswith("expected"))
    return value


def request(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, FitOptions]:
    body = dict(case["body"])
    x, y = np.asarray(body.pop("x"), dtype=np.float64), np.asarray(body.pop("y"), dtype=np.float64)
    return x, y, FitOptions(**body)


def close(got: float, want: float, rel: float = 1e-9, floor: float = 0.0) -> bool:
    return abs(got - want) <= rel * abs(want) + floor


def test_case_files_are_all_covered() -> None:
    names = {p.stem for p in DATA.glob("*.json")}
    assert names == {
        "batch-equals-fit",
        "exact-1",
        "exact-2",
        "exact-3",
        "offset-timestamps",
        "silent-far-run",
        "tiny-x",
    }


@pytest.mark.parametrize(
    "name",
    ["exact-1", "exact-2", "exact-3"],
)
def test_exact_cases_match_the_exact_descent(name: str) -> None:
    case = load(name)
    want = expected(case)
    x, y, options = request(case)
    result = fit(x, y, options)
    scale = max(
        abs(options.initial_m),
        abs(options.initial_b),
        abs(want["optimum"]["m"]),
        abs(want["optimum"]["b"]),
    )
    assert close(result.m, want["m"], 1e-9, 1e-12 * scale), (result.m, want["m"])
    assert close(result.b, want["b"], 1e-9, 1e-12 * scale), (result.b, want["b"])
    assert close(result.max_stable_learning_rate, want["max_stable_learning_rate"], 1e-12)
    assert result.epochs_run == want["epochs_run"]
    assert close(result.optimum.m, want["optimum"]["m"], 1e-12)
    assert close(result.optimum.b, want["optimum"]["b"], 1e-12, 1e-15)
    assert close(result.optimum.cost, want["optimum"]["cost"], 1e-12, 1e-15)


def test_a_rate_just_above_the_sequential_bound_is_flagged() -> None:
    # exact-3's kind: the bound is exact, so a rate above the true bound is never "stable".
    case = load("exact-3")
    x, y, options = request(case)
    true_bound = expected(case)["max_stable_learning_rate"]
    result = fit(x, y, replace(options, learning_rate=true_bound * (1 + 1e-11)))
    assert any("at or above the largest stable" in w for w in result.warnings)


@pytest.mark.parametrize(("update", "optimizer"), RULES)
def test_offset_timestamps_keep_the_intercept_for_every_rule(update: str, optimizer: str) -> None:
    case = load("offset-timestamps")
    x, y, options = request(case)
    options = replace(options, update=update, optimizer=optimizer)  # type: ignore[arg-type]
    result = fit(x, y, options)
    assert result.history is not None
    if (update, optimizer) == ("simultaneous", "gd"):
        want = expected(case)["history.b"]
        assert len(result.history.b) == len(want)
        assert all(close(g, w, 1e-9, 5e-12) for g, w in zip(result.history.b, want, strict=True))
        assert close(result.m, expected(case)["m"], 1e-9)
    # Every rule's recorded b and m are the exact descent's (the sequential rule's b is
    # about -1e-17: b's gradient is taken after m has moved).
    path = exact.descend(exact.exact_moments(x, y), options)
    loop = exact.float_loop(x, y, options)
    k = result.history.epoch.tolist()
    assert exact.worst_excess(result.history.b, path.b, loop.b, k) <= 1
    assert exact.worst_excess(result.history.m, path.m, loop.m, k) <= 1
    # /fit/batch of the same body: the same bits.
    moments = segment_moments(x, y, np.array([x.size]))[0]
    assert not isinstance(moments, Exception)
    (item,) = fit_batch([(moments, options)])
    assert isinstance(item, FitResult)
    assert (item.m, item.b) == (result.m, result.b)


def test_batch_equals_fit_bit_for_bit_and_the_exact_optimum_cost_is_zero() -> None:
    case = load("batch-equals-fit")
    x, y, options = request(case)
    single = fit_moments(compute_moments(x, y), options)
    # The same body laid end to end with others in a batch.
    others = np.array([0.0, 1.0, 3.0]), np.array([1e18, 3e18, 2e18])
    xs = np.concatenate((others[0], x, others[0]))
    ys = np.concatenate((others[1], y, others[1]))
    segments = segment_moments(xs, ys, np.array([3, x.size, 3]))
    assert segments[1] == compute_moments(x, y)
    outcome = fit_batch([(m, options) for m in segments if not isinstance(m, Exception)])[1]
    assert isinstance(outcome, FitResult)
    assert outcome.optimum == single.optimum
    assert (outcome.m, outcome.b, outcome.cost, outcome.warnings) == (
        single.m,
        single.b,
        single.cost,
        single.warnings,
    )
    want = expected(case)
    assert single.optimum.cost == want["optimum.cost"] == 0.0
    assert single.optimum.m == want["optimum.m"]
    assert single.optimum.b == want["optimum.b"]


def test_constant_y_gives_a_slope_and_cost_of_exactly_zero() -> None:
    x = np.array([1e9, 1e9 + 1, 1e9 + 3, 1e9 + 7])
    result = fit(x, np.full(4, 0.1), FitOptions(epochs=1))
    assert (result.optimum.m, result.optimum.cost) == (0.0, 0.0)
    assert result.optimum.b == 0.1


@pytest.mark.parametrize("factor", [1.0, 1e-40, 1e-42, 1e-140])
def test_tiny_x_fits_with_the_exact_optimum(factor: float) -> None:
    case = load("tiny-x")
    x, y, options = request(case)
    result = fit(x * factor, y, options)
    want = expected(case)
    assert close(result.optimum.m, want["optimum.m"] / factor, 1e-9)
    assert close(result.optimum.b, want["optimum.b"], 1e-9)
    assert close(result.optimum.cost, want["optimum.cost"], 1e-9)
    # 100 epochs at lr 0.5 in z-space converge: the fit is the optimum.
    assert close(result.m, result.optimum.m, 1e-9)
    assert result.cost >= result.optimum.cost


def test_silent_far_run_warns_how_far_and_how_long() -> None:
    case = load("silent-far-run")
    x, y, options = request(case)
    result = fit(x, y, options)
    assert close(result.b, expected(case)["b"], 1e-9)
    assert result.optimum.b == expected(case)["optimum.b"]
    (note,) = [w for w in result.warnings if "far from the optimum" in w]
    assert "b " in note and "epochs" in note and "learning_rate" in note
