"""422s of POST /fit: every field rule, with the whole detail list of the answer, and every
bad field reported at once (the server's limits: tests/ops/test_limits.py).

Each case is (name, request body (JSON, or raw bytes for NaN/Infinity literals), detail);
`one_field` writes the common one (a valid line with one bad field and one error on it),
`json_invalid` a body that is not JSON.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from service.schemas import Moments
from tests.helpers.apps import JSON
from tests.helpers.fits import LINE, error_kinds

pytestmark = pytest.mark.anyio

Case = tuple[str, Any, list[dict[str, Any]]]


def one_field(
    name: str, field: str, value: Any, type_: str, msg: str, ctx: dict[str, Any] | None = None
) -> Case:
    """`LINE` plus one bad field, answered by one error on that field that echoes its value."""
    error: dict[str, Any] = {"type": type_, "loc": ["body", field], "msg": msg, "input": value}
    if ctx is not None:
        error["ctx"] = ctx
    return (name, {**LINE, field: value}, [error])


def json_invalid(name: str, raw: bytes, position: int, error: str) -> Case:
    """Bytes that are not JSON, answered by one json_invalid error at that byte offset."""
    detail = {"type": "json_invalid", "loc": ["body", position], "msg": "JSON decode error"}
    return (name, raw, [{**detail, "input": {}, "ctx": {"error": error}}])


CASES: list[Case] = [
    one_field(
        "string_number", "learning_rate", "0.1", "float_type", "Input should be a valid number"
    ),
    (
        "boolean_number",
        {"x": [True, 1], "y": [0, 1]},
        [
            {
                "type": "float_type",
                "loc": ["body", "x", 0],
                "msg": "Input should be a valid number",
                "input": True,
            }
        ],
    ),
    one_field("int_epochs_float", "epochs", 10.5, "int_type", "Input should be a valid integer"),
    json_invalid(
        "nan_literal",
        b'{"x": [0, NaN], "y": [0, 1]}',
        10,
        "unexpected character, expected a JSON value",
    ),
    json_invalid(
        "infinity_literal",
        b'{"x": [0, 1], "y": [0, 1], "lr": Infinity}',
        33,
        "unexpected character, expected a JSON value",
    ),
    json_invalid(
        "overflowing_number",
        b'{"x": [0, 1e400], "y": [0, 1]}',
        10,
        "number is infinity when parsed as double",
    ),
    json_invalid("truncated_json", b'{"x": [1, 2', 11, "unexpected end of data"),
    one_field(
        "unknown_field", "learning_rte", 0.1, "extra_forbidden", "Extra inputs are not permitted"
    ),
    (
        "alias_and_name",
        {"x": [0, 1, 2, 3], "X": [0, 1, 2, 3], "y": [1, 3, 5, 7]},
        [
            {
                "type": "duplicate_alias",
                "loc": ["body", "X"],
                "msg": "x and X are the same field: send only one of them",
                "input": [0, 1, 2, 3],
                "ctx": {"name": "x", "alias": "X"},
            }
        ],
    ),
    (
        "alias_beside_a_null_name",
        {"x": None, "X": [0, 1, 2, 3], "y": [1, 3, 5, 7], "lr": 0.1, "learning_rate": 0.1},
        [
            {
                "type": "duplicate_alias",
                "loc": ["body", "X"],
                "msg": "x and X are the same field: send only one of them",
                "input": [0, 1, 2, 3],
                "ctx": {"name": "x", "alias": "X"},
            },
            {
                "type": "duplicate_alias",
                "loc": ["body", "lr"],
                "msg": "learning_rate and lr are the same field: send only one of them",
                "input": 0.1,
                "ctx": {"name": "learning_rate", "alias": "lr"},
            },
        ],
    ),
    (
        "length_mismatch",
        {"x": [1, 2, 3], "y": [1, 2, 3, 4]},
        [
            {
                "type": "length_mismatch",
                "loc": ["body", "y"],
                "msg": "x and y must have the same length (got 3 and 4)",
                "input": [1, 2, 3, 4],
                "ctx": {"x_length": 3, "y_length": 4},
            }
        ],
    ),
    (
        "one_point",
        {"x": [1], "y": [1]},
        [
            {
                "type": "too_short",
                "loc": ["body", "x"],
                "msg": "List should have at least 2 items after validation, not 1",
                "input": [1],
                "ctx": {"field_type": "List", "min_length": 2, "actual_length": 1},
            }
        ],
    ),
    (
        "constant_x",
        {"x": [2, 2, 2], "y": [1, 2, 3]},
        [
            {
                "type": "constant_x",
                "loc": ["body", "x"],
                "msg": "x must have at least two distinct values (all 3 are equal to 2.0)",
                "input": [2, 2, 2],
                "ctx": {"n": 3, "value": 2.0},
            }
        ],
    ),
    one_field("lr_zero", "lr", 0, "greater_than", "Input should be greater than 0", {"gt": 0.0}),
    one_field(
        "epochs_zero",
        "epochs",
        0,
        "greater_than_equal",
        "Input should be greater than or equal to 1",
        {"ge": 1},
    ),
    one_field(
        "momentum_one", "momentum", 1, "less_than", "Input should be less than 1", {"lt": 1.0}
    ),
    one_field(
        "l2_negative",
        "l2",
        -0.1,
        "greater_than_equal",
        "Input should be greater than or equal to 0",
        {"ge": 0.0},
    ),
    one_field(
        "tolerance_negative",
        "tolerance",
        -1,
        "greater_than_equal",
        "Input should be greater than or equal to 0",
        {"ge": 0.0},
    ),
    one_field(
        "bad_update",
        "update",
        "parallel",
        "literal_error",
        "Input should be 'simultaneous' or 'sequential'",
        {"expected": "'simultaneous' or 'sequential'"},
    ),
    one_field(
        "bad_optimizer",
        "optimizer",
        "adam",
        "literal_error",
        "Input should be 'gd', 'momentum' or 'nesterov'",
        {"expected": "'gd', 'momentum' or 'nesterov'"},
    ),
    one_field(
        "bad_spacing",
        "history_spacing",
        "cubic",
        "literal_error",
        "Input should be 'linear' or 'log'",
        {"expected": "'linear' or 'log'"},
    ),
    (
        "sequential_momentum",
        {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "update": "sequential", "optimizer": "momentum"},
        [
            {
                "type": "sequential_needs_gd",
                "loc": ["body", "update"],
                "msg": "update 'sequential' works only with optimizer 'gd' (got 'momentum')",
                "input": "sequential",
                "ctx": {"optimizer": "momentum"},
            }
        ],
    ),
    one_field(
        "history_one",
        "history_points",
        1,
        "history_points",
        "history_points must be 0 (no history) or at least 2 (got 1)",
        {"allowed": "0 or >= 2"},
    ),
    one_field(
        "history_negative",
        "history_points",
        -1,
        "greater_than_equal",
        "Input should be greater than or equal to 0",
        {"ge": 0},
    ),
    (
        "constant_y_standardize",
        {"x": [0, 1, 2, 3], "y": [5, 5, 5, 5], "standardize": True},
        [
            {
                "type": "constant_y",
                "loc": ["body", "standardize"],
                "msg": "standardize needs y to vary, but all y are equal; set standardize to false",
                "input": True,
            }
        ],
    ),
    one_field(
        "standardize_string", "standardize", "True", "bool_type", "Input should be a valid boolean"
    ),
    (
        "no_data",
        {"lr": 0.1},
        [
            {
                "type": "missing",
                "loc": ["body", "x"],
                "msg": "x is required (or send moments instead of x and y)",
                "input": {"lr": 0.1},
            },
            {
                "type": "missing",
                "loc": ["body", "y"],
                "msg": "y is required (or send moments instead of x and y)",
                "input": {"lr": 0.1},
            },
        ],
    ),
    (
        "x_only",
        {"x": [0, 1, 2, 3]},
        [
            {
                "type": "missing",
                "loc": ["body", "y"],
                "msg": "y is required with x",
                "input": {"x": [0, 1, 2, 3]},
            }
        ],
    ),
    (
        "y_only",
        {"y": [1, 3, 5, 7]},
        [
            {
                "type": "missing",
                "loc": ["body", "x"],
                "msg": "x is required with y",
                "input": {"y": [1, 3, 5, 7]},
            }
        ],
    ),
    (
        "both_sources",
        {
            "x": [0, 1, 2, 3],
            "y": [1, 3, 5, 7],
            "moments": {"n": 4, "mean_x": 1.5, "mean_y": 4, "sxx": 5, "sxy": 10, "syy": 20},
        },
        [
            {
                "type": "data_conflict",
                "loc": ["body", "moments"],
                "msg": "send either x and y, or moments, not both",
                "input": {"n": 4, "mean_x": 1.5, "mean_y": 4, "sxx": 5, "sxy": 10, "syy": 20},
            }
        ],
    ),
    (
        "moments_bad",
        {"moments": {"n": 1, "mean_x": 0, "mean_y": 0, "sxx": 0, "sxy": 0, "syy": -1, "extra": 1}},
        [
            {
                "type": "greater_than_equal",
                "loc": ["body", "moments", "n"],
                "msg": "Input should be greater than or equal to 2",
                "input": 1,
                "ctx": {"ge": 2},
            },
            {
                "type": "greater_than",
                "loc": ["body", "moments", "sxx"],
                "msg": "Input should be greater than 0",
                "input": 0,
                "ctx": {"gt": 0.0},
            },
            {
                "type": "greater_than_equal",
                "loc": ["body", "moments", "syy"],
                "msg": "Input should be greater than or equal to 0",
                "input": -1,
                "ctx": {"ge": 0.0},
            },
            {
                "type": "extra_forbidden",
                "loc": ["body", "moments", "extra"],
                "msg": "Extra inputs are not permitted",
                "input": 1,
            },
        ],
    ),
    (
        "moments_constant_y_standardize",
        {
            "moments": {"n": 4, "mean_x": 1.5, "mean_y": 4, "sxx": 5, "sxy": 0, "syy": 0},
            "standardize": True,
        },
        [
            {
                "type": "constant_y",
                "loc": ["body", "standardize"],
                "msg": "standardize needs y to vary, but all y are equal; set standardize to false",
                "input": True,
            }
        ],
    ),
    (
        "many_at_once",
        {
            "x": [1, 2, 3],
            "y": [1, 2],
            "lr": -1,
            "epochs": "5",
            "optimizer": "momentum",
            "update": "sequential",
            "history_points": 1,
            "typo": 0,
        },
        [
            {
                "type": "length_mismatch",
                "loc": ["body", "y"],
                "msg": "x and y must have the same length (got 3 and 2)",
                "input": [1, 2],
                "ctx": {"x_length": 3, "y_length": 2},
            },
            {
                "type": "greater_than",
                "loc": ["body", "lr"],
                "msg": "Input should be greater than 0",
                "input": -1,
                "ctx": {"gt": 0.0},
            },
            {
                "type": "int_type",
                "loc": ["body", "epochs"],
                "msg": "Input should be a valid integer",
                "input": "5",
            },
            {
                "type": "sequential_needs_gd",
                "loc": ["body", "update"],
                "msg": "update 'sequential' works only with optimizer 'gd' (got 'momentum')",
                "input": "sequential",
                "ctx": {"optimizer": "momentum"},
            },
            {
                "type": "history_points",
                "loc": ["body", "history_points"],
                "msg": "history_points must be 0 (no history) or at least 2 (got 1)",
                "input": 1,
                "ctx": {"allowed": "0 or >= 2"},
            },
            {
                "type": "extra_forbidden",
                "loc": ["body", "typo"],
                "msg": "Extra inputs are not permitted",
                "input": 0,
            },
        ],
    ),
    (
        "body_not_object",
        [1, 2, 3],
        [
            {
                "type": "model_attributes_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": [1, 2, 3],
            }
        ],
    ),
]


@pytest.mark.parametrize(("body", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_fit_rejects_with_422(
    client: httpx.AsyncClient, body: Any, detail: list[dict[str, Any]]
) -> None:
    if isinstance(body, bytes):
        response = await client.post("/fit", content=body, headers=JSON)
    else:
        response = await client.post("/fit", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


async def test_fit_large_inputs_are_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={"x": list(range(100)), "y": list(range(99))})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "length_mismatch",
                "loc": ["body", "y"],
                "msg": "x and y must have the same length (got 100 and 99)",
                "ctx": {"x_length": 100, "y_length": 99},
            }
        ]
    }


async def test_length_mismatch_is_reported_even_when_x_is_bad(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={"x": [1, 1, 1], "y": [1, 2]})
    assert error_kinds(response) == [
        ("constant_x", ("body", "x")),
        ("length_mismatch", ("body", "y")),
    ]
    assert response.json()["detail"][1]["msg"] == "x and y must have the same length (got 3 and 2)"


async def test_length_mismatch_under_aliases_is_reported_at_the_alias(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fit", json={"X": [0, 1, 2], "Y": [1, 2]})
    assert error_kinds(response) == [("length_mismatch", ("body", "Y"))]


def test_moments_take_a_dataframe_row_with_numpy_counts() -> None:
    """``Moments(**row)`` works on a row of sums computed with NumPy or pandas."""
    sums = {"mean_x": 1.5, "mean_y": 4.0, "sxx": 5.0, "sxy": 10.0, "syy": 20.0}
    for count in (np.int64(4), np.int32(4), np.float64(4.0)):
        assert Moments(n=count, **sums).n == 4
    with pytest.raises(ValidationError):
        Moments(n=np.float64(4.5), **sums)
    with pytest.raises(ValidationError):  # JSON stays strict: 4.0 is not an integer there
        Moments.model_validate_json(
            '{"n": 4.0, "mean_x": 1.5, "mean_y": 4.0, "sxx": 5.0, "sxy": 10.0, "syy": 20.0}'
        )
