"""The three JSON paths of a FitRequest body (service/bodies/json_body.py, json_arrays.py):
plain validation, the array fast path and the chunked parse of large bodies give the same
request, and the same 422s, for every body, ordinary or adversarial."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.exceptions import RequestValidationError

from service.bodies import json_arrays, json_body
from service.bodies.json_arrays import split_arrays
from service.schemas import DEFAULT_LIMITS, FitRequest

Outcome = tuple[str, Any]

LINE = b'"x": [0, 1, 2, 3.5], "y": [1, 3, 5, 7.25]'
WEIGHTS = b'"weights": [1, 0.5, 2, 0]'


def outcome(body: bytes) -> Outcome:
    """What `parse_and_validate` makes of `body`: the request's content, or its 422 items."""
    try:
        request, _ = json_body.parse_and_validate(FitRequest, body, DEFAULT_LIMITS)
    except RequestValidationError as error:
        return "422", error.errors()
    if request is None:
        return "none", None
    assert isinstance(request, FitRequest)
    if request.moments is not None:
        return "moments", request.model_dump()
    x, y = request.data_arrays()
    weights = request.weight_array()
    return "request", (
        request.model_dump(exclude={"x", "y", "weights"}),
        x.tolist(),
        y.tolist(),
        None if weights is None else weights.tolist(),
        request.to_options(),
    )


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Switches for the three paths (their thresholds), and tiny chunks."""

    def set_path(name: str) -> None:
        split, fast = {"plain": (10**12, 10**12), "fast": (10**12, 0), "split": (0, 0)}[name]
        monkeypatch.setattr(json_body, "SPLIT_MIN_BYTES", split)
        monkeypatch.setattr(json_body, "FAST_MIN_POINTS", fast)

    monkeypatch.setattr(json_arrays, "CHUNK_BYTES", 7)
    yield {"set": set_path}


def every_path(paths: dict[str, Any], body: bytes) -> dict[str, Outcome]:
    found = {}
    for name in ("plain", "fast", "split"):
        paths["set"](name)
        found[name] = outcome(body)
    return found


GOOD = [
    b"{" + LINE + b"}",
    b"{" + LINE + b", " + WEIGHTS + b"}",
    b'{"learning_rate": 0.01, ' + LINE + b', "epochs": 7, "weights": null}',
    b'{ "X" :\n[ 0 ,1,\t2 , -3e-2 ] , "Y":[1E2,2.5e+1,-0.0,4] }',
    b'{"x": ['
    + b", ".join(str(v).encode() for v in range(200))
    + b'], "y": ['
    + b", ".join(str(v * v).encode() for v in range(200))
    + b'], "standardize": true, "history_points": 5}',
    b'{"x": [1, 2, 3, 4], "y": [5, 5, 5, 6], "weights": [1, 1, 1, 0], "history_points": 3}',
    b'{"x": [12345678901234567890123, 1, 2], "y": [1, 2, 3]}',
]

ADVERSARIAL = [
    # a key "x" inside strings, with escaped quotes
    b'{"note": "\\"x\\": [5, 6]", ' + LINE + b"}",
    b'{"a\\"x\\": [1": 2, ' + LINE + b"}",
    b'{"note": "x", ' + LINE + b"}",
    # nested objects holding "x"
    b'{"moments": {"x": [1, 2]}, ' + LINE + b"}",
    b'{"extra": {"x": [9, 9, 9], "y": [1, 2, 3]}, ' + LINE + b"}",
    b'{"moments": {"n": 3, "mean_x": 0, "mean_y": 0, "sxx": 1, "sxy": 1, "syy": 1, "x": [1]}}',
    b'[{"x": [1, 2], "y": [3, 4]}]',
    # duplicate keys, aliases
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "x": [1, 2]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "X": [1, 2, 3]}',
    b'{"x": [1, 2], "x": [3, 4], "y": [1, 2]}',
    b'{"weights": [1, 1], "weights": [1, 2], "x": [1, 2], "y": [1, 2]}',
    # array items that are not numbers, or numbers JSON does not have
    b'{"x": [1, true, 3], "y": [1, 2, 3]}',
    b'{"x": [1, false, 0], "y": [1, 2, 3]}',
    b'{"x": [1, null, 3], "y": [1, 2, 3]}',
    b'{"x": [1, "2", 3], "y": [1, 2, 3]}',
    b'{"x": [1, [2], 3], "y": [1, 2, 3]}',
    b'{"x": [1, {"a": 1}, 3], "y": [1, 2, 3]}',
    b'{"x": [1, "]", 3], "y": [1, 2, 3]}',
    b'{"x": [1, 1e400, 3], "y": [1, 2, 3]}',
    b'{"x": [1, 01, 3], "y": [1, 2, 3]}',
    b'{"x": [1, 2., 3], "y": [1, 2, 3]}',
    b'{"x": [1, .5, 3], "y": [1, 2, 3]}',
    b'{"x": [1, +5, 3], "y": [1, 2, 3]}',
    b'{"x": [1, 2, 3,], "y": [1, 2, 3]}',
    b'{"x": [,1, 2, 3], "y": [1, 2, 3]}',
    b'{"x": [1,, 2, 3], "y": [1, 2, 3]}',
    b'{"x": [1 2 3], "y": [1, 2, 3]}',
    b'{"x": [1, -, 3], "y": [1, 2, 3]}',
    b'{"x": [1e5e5, 2, 3], "y": [1, 2, 3]}',
    b'{"x": [NaN, 2, 3], "y": [1, 2, 3]}',
    b'{"x": [], "y": []}',
    b'{"x": [ ], "y": [1]}',
    b'{"x": [1], "y": [1]}',
    b'{"x": [1, 2, 3], "y": [1, 2]}',
    b'{"x": [1, 1, 1], "y": [1, 2, 3]}',
    b'{"x": [1, 2, 3], "y": [4, 4, 4], "standardize": true}',
    # weights
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "weights": [1, -1, 1]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "weights": [0, 0, 0]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "weights": [1, 1]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "weights": [1, 0, 0]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "weights": [1, true, 1]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "weights": "all"}',
    b'{"x": [1, 1, 2], "y": [1, 2, 3], "weights": [1, 1, 0]}',
    b'{"x": [1, 2, 3], "y": [4, 4, 5], "weights": [1, 1, 0], "standardize": true}',
    b'{"moments": {"n": 3, "mean_x": 0, "mean_y": 0, "sxx": 1, "sxy": 1, "syy": 1}, '
    b'"weights": [1, 2]}',
    # the other fields
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "typo": 1}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "lr": 0}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "epochs": true}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "x ": [1, 2]}',
    b'{"y": [1, 2, 3]}',
    b'{"x": [1, 2, 3]}',
    # not JSON, or not all of it
    b'{"x": [1, 2, 3], "y": [1, 2, 3]',
    b'{"x": [1, 2, 3], "y": [1, 2, 3]}}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3]} []',
    b'{"x": [1, 2, 3, "y": [1, 2, 3]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "\xff": 1}',
    b'{"x" [1, 2, 3], "y": [1, 2, 3]}',
    b'{"x": [1, 2, 3], "y": [1, 2, 3], "s": "gds-array-0"}',
    b"null",
    b"[1, 2]",
    b'"x"',
]


@pytest.mark.parametrize("body", GOOD + ADVERSARIAL)
def test_every_path_gives_the_same_request_or_the_same_422(
    paths: dict[str, Any], body: bytes
) -> None:
    found = every_path(paths, body)
    assert found["fast"] == found["plain"]
    assert found["split"] == found["plain"]


@pytest.mark.parametrize("body", GOOD)
def test_good_bodies_are_split(body: bytes) -> None:
    split = split_arrays(body)
    assert split is not None
    parsed = orjson.loads(body)
    for key, values in split.arrays.items():
        assert values.tolist() == [float(v) for v in parsed[key]]
    assert split.fields == {k: v for k, v in parsed.items() if k not in split.arrays}


@pytest.mark.parametrize(
    "body",
    [body for body in ADVERSARIAL if body.startswith(b"{") and b"[" in body],
)
def test_what_the_split_accepts_is_what_orjson_reads(body: bytes) -> None:
    """The split path returns None (the full parse decides) or exactly what orjson reads."""
    split = split_arrays(body)
    if split is None:
        return
    parsed = orjson.loads(body)
    assert set(parsed) == {*split.fields, *split.arrays}
    for key, values in split.arrays.items():
        assert values.tolist() == [float(v) for v in parsed[key]]


def test_a_million_points_split_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=1_000_000) * 10.0 ** rng.integers(-300, 300, 1_000_000)
    y = rng.normal(size=1_000_000)
    w = rng.random(1_000_000)
    body = orjson.dumps({"x": x, "y": y, "weights": w}, option=orjson.OPT_SERIALIZE_NUMPY)
    split = split_arrays(body)
    assert split is not None
    for key, values in (("x", x), ("y", y), ("weights", w)):
        assert split.arrays[key].tobytes() == values.tobytes()


def test_a_body_of_many_quotes_is_parsed_in_full() -> None:
    strings = ", ".join(f'"k{i}": "v"' for i in range(json_arrays.MAX_QUOTES))
    assert split_arrays(b"{" + strings.encode() + b", " + LINE + b"}") is None


def test_large_bodies_take_the_split_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    split = json_body.split_arrays

    def spy(body: bytes) -> Any:
        calls.append(len(body))
        return split(body)

    monkeypatch.setattr(json_body, "split_arrays", spy)
    rng = np.random.default_rng(5)
    x = rng.normal(size=100_000)
    body = orjson.dumps({"x": x, "y": 2 * x, "weights": x * x}, option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(body) >= json_arrays.SPLIT_MIN_BYTES
    request, kept = json_body.parse_and_validate(FitRequest, body, DEFAULT_LIMITS)
    assert calls == [len(body)]
    assert kept is None  # nothing parsed to keep alive
    assert isinstance(request, FitRequest)
    assert request.x is None  # the arrays, not lists
    weights = request.weight_array()
    assert weights is not None and weights.tobytes() == (x * x).tobytes()
