"""Arrow bodies (``application/vnd.apache.arrow.stream``): the points as two numeric columns.

The body is an Arrow IPC stream (what ``pyarrow.ipc.new_stream``, pandas via
``pyarrow.Table.from_pandas``, Polars' ``write_ipc_stream``, DuckDB and Spark write): a schema,
then any number of record batches. Its columns ``x`` (or ``X``) and ``y`` (or ``Y``) hold
the points: integer or floating-point types, no nulls, finite values; an optional column
``weight`` (or ``weights``, any case) of the same kind holds the sample weights, read into the
request's ``weights`` with the same rules as the JSON field; other columns are ignored.

float64 columns are used in place, without a copy: a column of one record batch becomes a
read-only NumPy view of the request body (several batches are joined once). Other numeric
types are converted to the nearest float64. Compressed streams (LZ4 or ZSTD buffers) are
refused: a small compressed body could expand to any size, and an uncompressed one is read
without any copy.

pyarrow is an optional extra (``pip install 'gd-fit-service[arrow]'``); without it an Arrow
body is answered 501 (`ArrowUnavailableError`) before it is read.
"""

from __future__ import annotations

import importlib
import struct
from types import ModuleType
from typing import Any, Final

import numpy as np

from service.bodies.points import BodyError, ErrorList, FloatArray, Points

__all__ = ["INSTALL_HINT", "ArrowUnavailableError", "ensure_available", "read_arrow"]

INSTALL_HINT: Final = (
    "Arrow bodies (application/vnd.apache.arrow.stream) need pyarrow, an optional extra: "
    "pip install 'gd-fit-service[arrow]'"
)
_FILE_MAGIC: Final = b"ARROW1"
_WEIGHT_NAMES: Final = frozenset({"weight", "weights"})
# Message header types of the Arrow flatbuffers schema (Message.fbs).
_DICTIONARY_BATCH: Final = 2
_RECORD_BATCH: Final = 3
_SHOWN: Final = 200

ErrorItem = dict[str, Any]


class ArrowUnavailableError(RuntimeError):
    """pyarrow cannot be imported; the route answers 501 with `INSTALL_HINT`."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


def _pyarrow() -> ModuleType:
    try:
        return importlib.import_module("pyarrow")
    except ImportError as error:
        raise ArrowUnavailableError() from error


def ensure_available() -> None:
    """Raise `ArrowUnavailableError` unless pyarrow can be imported."""
    _pyarrow()


def _invalid(msg: str) -> BodyError:
    return BodyError([{"type": "arrow_invalid", "loc": ("body",), "msg": msg}])


class _Flatbuffer:
    """Just enough of a flatbuffers reader to see whether an IPC message is compressed,
    without decompressing it; every read is bounds-checked (`ValueError` when out of range)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _unpack(self, fmt: str, at: int) -> int:
        if not 0 <= at <= len(self.data) - struct.calcsize(fmt):
            raise ValueError("flatbuffer offset out of range")
        value: int = struct.unpack_from(fmt, self.data, at)[0]
        return value

    def follow(self, at: int) -> int:
        """The position a uoffset stored at `at` points to."""
        return at + self._unpack("<I", at)

    def field(self, table: int, index: int) -> int | None:
        """Where field `index` of the table at `table` is stored, or None when absent."""
        vtable = table - self._unpack("<i", table)
        slot = 4 + 2 * index
        if slot + 2 > self._unpack("<H", vtable):
            return None
        offset = self._unpack("<H", vtable + slot)
        return table + offset if offset else None

    def byte(self, at: int) -> int:
        return self._unpack("<B", at)


def _compressed(metadata: bytes) -> bool:
    """Whether an IPC message (its flatbuffer metadata) is a record or dictionary batch with
    compressed buffers: ``Message.header`` is a ``RecordBatch`` (or a ``DictionaryBatch``
    whose ``data`` is one) whose field 3, ``compression``, is set."""
    buffer = _Flatbuffer(metadata)
    message = buffer.follow(0)
    type_at = buffer.field(message, 1)
    header_at = buffer.field(message, 2)
    if type_at is None or header_at is None:
        return False
    header_type, header = buffer.byte(type_at), buffer.follow(header_at)
    if header_type == _DICTIONARY_BATCH:
        data_at = buffer.field(header, 1)
        if data_at is None:
            return False
        header = buffer.follow(data_at)
    elif header_type != _RECORD_BATCH:
        return False
    return buffer.field(header, 3) is not None


def _schema(pa: Any, source: Any) -> Any:
    """The stream's schema, after checking that no batch is compressed (`BodyError` else)."""
    reader = pa.ipc.MessageReader.open_stream(source)
    try:
        first = reader.read_next_message()
    except StopIteration:  # no message at all
        first = None
    if first is None or first.type != "schema":
        raise _invalid("the body is not an Arrow IPC stream: it does not start with a schema")
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            break
        if message is None:
            break
        if _compressed(message.metadata.to_pybytes()):
            raise _invalid(
                "the Arrow stream is compressed: send it uncompressed (compression=None), "
                "which the service reads without a copy"
            )
    return pa.ipc.read_schema(first)


def _numeric_error(pa: Any, schema: Any, at: int, name: str) -> ErrorItem | None:
    """The error of column `at` when it is not of an integer or floating-point type."""
    kind = schema.field(at).type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return None
    return {
        "type": "arrow_schema",
        "loc": ("body", name),
        "msg": (
            f"column {name} has Arrow type {kind}; send numbers (an integer or "
            "floating-point type; float64 is read without a copy)"
        ),
    }


def _columns(pa: Any, schema: Any) -> tuple[list[tuple[int, str]], list[ErrorItem]]:
    """The (index, name) of the x, y and (if any) weight columns of `schema`, and the errors
    of its columns."""
    names: list[str] = list(schema.names)
    found: list[tuple[int, str]] = []
    errors: list[ErrorItem] = []
    for field, aliases in (("x", ("x", "X")), ("y", ("y", "Y"))):
        places = [(at, name) for at, name in enumerate(names) if name in aliases]
        if len(places) != 1:
            listed = ", ".join(repr(name[:40]) for name in names[:20])
            msg = (
                f"the Arrow stream has {len(places)} columns named {field}; send it once"
                if places
                else f"the Arrow stream has no column {field}; its columns are {listed}"
            )
            errors.append({"type": "arrow_schema", "loc": ("body", field), "msg": msg})
            continue
        error = _numeric_error(pa, schema, *places[0])
        if error is not None:
            errors.append(error)
            continue
        found.append(places[0])
    weights = [(at, name) for at, name in enumerate(names) if name.lower() in _WEIGHT_NAMES]
    if len(weights) > 1:
        errors.append(
            {
                "type": "arrow_schema",
                "loc": ("body", weights[1][1]),
                "msg": (
                    f"the Arrow stream has {len(weights)} weight columns "
                    f"({', '.join(repr(name[:40]) for _, name in weights)}); send one"
                ),
            }
        )
    elif weights:
        error = _numeric_error(pa, schema, *weights[0])
        if error is not None:
            errors.append(error)
        else:
            found.append(weights[0])
    return found, errors


def _as_float64(pa: Any, column: Any) -> FloatArray:
    """A chunked numeric column without nulls as a read-only float64 array: a view of the
    body for a float64 column of one chunk, else one conversion."""
    if pa.types.is_float64(column.type):
        parts = [chunk.to_numpy(zero_copy_only=True) for chunk in column.chunks]
    else:
        parts = [chunk.to_numpy(zero_copy_only=False).astype(np.float64) for chunk in column.chunks]
    if not parts:
        return np.empty(0, dtype=np.float64)
    values = np.asarray(parts[0] if len(parts) == 1 else np.concatenate(parts), dtype=np.float64)
    # Read-only like a view of the body, whatever the column: the core's compiled loops are
    # warmed up for arrays that are all writable or all read-only, not for a mix.
    values.setflags(write=False)
    return values


def _value_errors(
    pa: Any, name: str, column: Any, values: FloatArray | None, errors: ErrorList
) -> None:
    """Add the errors of a column's nulls (when `values` is None) or non-finite values."""
    if values is None:
        nulls = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
        for index in nulls.tolist():
            errors.add(
                {
                    "type": "float_type",
                    "loc": ("body", name, index),
                    "msg": f"row {index} of column {name} is null: the columns must have no nulls",
                }
            )
        return
    finite = np.isfinite(values)
    if finite.all():
        return
    for index in np.flatnonzero(~finite).tolist():
        errors.add(
            {
                "type": "finite_number",
                "loc": ("body", name, index),
                "msg": (
                    f"row {index} of column {name} is {values[index]}: numbers must be finite "
                    "(no NaN or infinity)"
                ),
            }
        )


def read_arrow(body: bytes) -> Points:
    """The points (and weights) of an Arrow IPC stream body: float64 arrays of equal length
    (read-only views of `body` where the columns are float64 in one record batch).

    Raises `ArrowUnavailableError` without pyarrow, and `BodyError` with FastAPI error items:
    ``arrow_invalid`` (not an uncompressed Arrow IPC stream), ``arrow_schema`` (no x or y
    column, or a column not numeric or named twice), ``float_type`` (a null) and
    ``finite_number`` (NaN or infinity) at ``["body", column, row index]``; at most
    `MAX_LISTED` about values, then one counting the rest.
    """
    pa = _pyarrow()
    if body.startswith(_FILE_MAGIC):
        raise _invalid(
            "the body is an Arrow IPC file; send the stream format (pyarrow.ipc.new_stream)"
        )
    source = pa.py_buffer(body)
    try:
        schema = _schema(pa, source)
        found, errors = _columns(pa, schema)
        if errors:
            raise BodyError(errors)
        options = pa.ipc.IpcReadOptions(included_fields=[at for at, _ in found])
        table = pa.ipc.open_stream(source, options=options).read_all()
    except (pa.ArrowException, ValueError, OSError, EOFError) as error:
        raise _invalid(f"the body is not an Arrow IPC stream: {str(error)[:_SHOWN]}") from None
    value_errors = ErrorList()
    arrays: list[FloatArray] = []
    for _, name in found:
        column = table.column(name)  # the only column of that name: checked above
        values = None if column.null_count else _as_float64(pa, column)
        _value_errors(pa, name, column, values, value_errors)
        if values is not None:
            arrays.append(values)
    if value_errors:
        raise value_errors.error()
    (_, x_name), (_, y_name) = found[:2]
    weights = arrays[2] if len(arrays) > 2 else None
    return Points(arrays[0], arrays[1], x_name, y_name, weights)
