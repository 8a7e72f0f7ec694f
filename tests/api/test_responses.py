"""The wire models built from the core's results (`FitResponse.from_core`, which reads the
core's dataclasses in pydantic-core where there is no history): every kind of answer must be
what validating its plain form gives, with JSON-native types (no NumPy scalars) and no NaN or
Infinity."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import orjson
import pytest

from service import core
from service.schemas import FitResponse

RNG = np.random.default_rng(5)
X = RNG.normal(3.0, 2.0, 30)
Y = 1.5 * X - 2 + RNG.normal(size=30)

KINDS: dict[str, tuple[Any, Any, Any, core.FitOptions, bool]] = {
    "plain": (X, Y, None, core.FitOptions(), True),
    "linear history": (X, Y, None, core.FitOptions(history_points=7), True),
    "log history, momentum": (
        X,
        Y,
        None,
        core.FitOptions(optimizer="momentum", history_points=9, history_spacing="log"),
        True,
    ),
    "tolerance, standardize": (
        X,
        Y,
        None,
        core.FitOptions(standardize=True, learning_rate=0.5, tolerance=1e-6),
        True,
    ),
    "weights, sequential": (
        X,
        Y,
        RNG.uniform(0, 2, 30),
        core.FitOptions(update="sequential"),
        True,
    ),
    "two points (df 0: nulls)": (
        np.array([0.0, 1.0]),
        np.array([1.0, 3.0]),
        None,
        core.FitOptions(),
        True,
    ),
    "constant y (r null)": (X, np.full(30, 4.0), None, core.FitOptions(), True),
    "moments input (mae null)": (X, Y, None, core.FitOptions(epochs=3), False),
    "far and unstable (warnings)": (
        X,
        Y,
        None,
        core.FitOptions(learning_rate=1e-6, epochs=2),
        True,
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_from_core_equals_the_validated_model(kind: str) -> None:
    x, y, weights, options, with_points = KINDS[kind]
    moments = core.compute_moments(x, y, weights)
    result = core.fit_moments(moments, options)
    points = [(x, y, weights)] if with_points else [None]
    (result,) = core.with_statistics([result], [moments], [0.9], points)

    built = FitResponse.from_core(result)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic warns when it serializes an unexpected type
        text = built.model_dump_json()
    validated = FitResponse.model_validate_json(text)
    assert validated == FitResponse.model_validate(built.model_dump())
    assert validated.model_dump_json() == text
    assert orjson.loads(text) == orjson.loads(validated.model_dump_json())
    assert "NaN" not in text and "Infinity" not in text

    def check(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                check(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                check(item)
        else:
            assert value is None or type(value) in (bool, int, float, str), (kind, value)
            assert not (type(value) is float and not math.isfinite(value))

    check(built.model_dump())
