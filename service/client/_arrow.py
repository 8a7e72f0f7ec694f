"""Arrow IPC streams and DataFrame columns for the clients (pyarrow, pandas and Polars are
imported lazily: none of them is needed to use the clients with plain arrays)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import orjson


def _pyarrow() -> Any:
    """pyarrow, or None when it is not installed."""
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        return None


def _arrow_stream(pa: Any, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> bytes:
    """An Arrow IPC stream of one record batch with the float64 columns x and y."""
    table = pa.table({"x": pa.array(x), "y": pa.array(y)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body: bytes = sink.getvalue().to_pybytes()
    return body


def _query_value(value: Any) -> str | None:
    """An option as a query-string value (text bare, anything else as JSON), or None when it
    is not a plain value (a model, a list...), which only a JSON body can carry."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float | np.generic):
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return None


def frame_columns(frame: Any, x: str, y: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Columns `x` and `y` of a pandas or Polars DataFrame, or a pyarrow Table, as float64
    arrays (without a copy where the column already is float64 and has no nulls).

    Raises `KeyError` when a column is missing; a null becomes NaN, which the server refuses.
    """

    def column(name: str) -> np.ndarray[Any, Any]:
        # pandas and Polars Series and pyarrow's ChunkedArray all implement __array__.
        return np.asarray(frame[name], dtype=np.float64)

    return column(x), column(y)
