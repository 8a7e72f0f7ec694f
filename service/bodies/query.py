"""Hyperparameters from the query string, for bodies that carry only the points (CSV, Arrow).

The query string of ``POST /fit?learning_rate=0.01&epochs=5000`` becomes the dict a JSON body
would hold, ``{"learning_rate": 0.01, "epochs": 5000}``, which the one model (`FitRequest`)
then validates like any body: the same names and aliases, defaults, rules and messages.

Every value arrives as a string; it is converted by the type of its field:

- a field whose values are strings (``optimizer``, ``update``, ``history_spacing``) takes the
  value as it is: ``?optimizer=momentum``;
- any other field takes the value parsed as one JSON value (orjson), so ``epochs=5000`` is
  the integer 5000, ``tolerance=1e-9`` a number, ``standardize=true`` a boolean and
  ``tolerance=null`` null. A value that is not JSON (``epochs=many``, ``standardize=True``)
  stays a string, which validation refuses as it refuses a string in a JSON body;
  ``epochs=1e4`` is a number that is not an integer, refused as in JSON.

A name given twice, a name that is not a hyperparameter, and the data fields (``x``, ``y``,
``moments``: the points come from the body) are errors located at ``["query", name]``. With a
JSON body, which carries the hyperparameters, a hyperparameter in the query string is an error
(it would be ignored); other names are left alone there (`query_errors_for_json`).
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable
from typing import Any, Final

import orjson
from pydantic import AliasChoices, BaseModel

__all__ = [
    "DATA_FIELDS",
    "hyperparameter_names",
    "query_errors_for_json",
    "query_hyperparameters",
]

DATA_FIELDS: Final = frozenset({"x", "y", "moments", "weights"})
"""Fields of the data itself: never read from the query string."""

ErrorItem = dict[str, Any]


def _is_text(annotation: Any) -> bool:
    """Whether every value of a field of this type is a string (a ``Literal`` of strings)."""
    if annotation is str:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(choice, str) for choice in typing.get_args(annotation))
    return False


@functools.cache
def hyperparameter_names(model: type[BaseModel]) -> dict[str, tuple[str, bool]]:
    """Every name `model` takes from the query string, aliases included, mapped to
    ``(field name, takes text)``: the fields of `model` other than `DATA_FIELDS`."""
    names: dict[str, tuple[str, bool]] = {}
    for name, field in model.model_fields.items():
        if name in DATA_FIELDS:
            continue
        text = _is_text(field.annotation)
        names[name] = (name, text)
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    names[choice] = (name, text)
        elif isinstance(alias, str):
            names[alias] = (name, text)
    return names


def _value(raw: str, text: bool) -> Any:
    if text:
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw  # refused by validation, with the message a JSON body would get


def _data_field(name: str) -> bool:
    return name.lower() in DATA_FIELDS


def query_hyperparameters(
    model: type[BaseModel], items: Iterable[tuple[str, str]]
) -> tuple[dict[str, Any], list[ErrorItem]]:
    """The hyperparameters in the query string `items` (name, value pairs in order) as a body
    dict for `model`, and the errors of the names that cannot be used (FastAPI error items at
    ``["query", name]``: repeated, unknown, or a data field)."""
    names = hyperparameter_names(model)
    values: dict[str, Any] = {}
    counts: dict[str, int] = {}
    errors: list[ErrorItem] = []
    for name, raw in items:
        counts[name] = counts.get(name, 0) + 1
        if counts[name] == 2:
            errors.append(
                {
                    "type": "query_repeated",
                    "loc": ("query", name),
                    "msg": f"{name} is given more than once in the query string; give it once",
                    "input": raw,
                }
            )
        if counts[name] > 1:
            values.pop(name, None)
            continue
        if name in names:
            values[name] = _value(raw, names[name][1])
        elif _data_field(name):
            errors.append(
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": (
                        f"{name} cannot be a query parameter: the points are the body's "
                        "columns; the query string holds the hyperparameters only"
                    ),
                    "input": raw,
                }
            )
        else:
            known = ", ".join(sorted(names))
            errors.append(
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter {name!r}; the hyperparameters are {known}",
                    "input": raw,
                }
            )
    return values, errors


def query_errors_for_json(
    model: type[BaseModel], query: Iterable[tuple[str, str]]
) -> list[ErrorItem]:
    """The errors of a query string sent with a JSON body, whose hyperparameters are in the
    body: a hyperparameter there would be silently ignored, so it is refused; other names
    (a cache buster, a token for a proxy) are left alone."""
    names = hyperparameter_names(model)
    return [
        {
            "type": "extra_forbidden",
            "loc": ("query", name),
            "msg": (
                f"{name} in the query string is read only with text/csv and Arrow bodies: "
                "send it in the JSON body"
            ),
            "input": raw,
        }
        for name, raw in query
        if name in names
    ]
