"""CSV bodies (``text/csv``): the points as the columns ``x`` and ``y`` of an RFC 4180 table.

The first line is the header row. It names the column ``x`` (or ``X``) and the column ``y``
(or ``Y``), in any order, and optionally a weight column (``weight`` or ``weights``, any
case): the sample weights, read into the request's ``weights`` with the same rules as the
JSON field. Other columns are ignored. Each following non-blank line is one point: every line
has as many fields as the header, fields may be quoted, lines end with ``\\n`` or ``\\r\\n``.

Every x, y and weight cell is a decimal number: ``1``, ``-2.5``, ``6.02e23`` (a sign, a
leading or trailing point like ``.5`` or ``5.``, and spaces or tabs around the number are read
too).
Refused, each with an error naming its line and column: empty cells, ``NaN``, ``inf`` and
numbers too large for a float64 (``1e400``), thousands separators (``1,000`` is two fields;
``"1,000"`` is not a number) and anything else that is not a number. The body must be UTF-8
(an optional byte-order mark is skipped).

Reading: pyarrow's CSV reader when pyarrow is installed (the ``arrow`` extra), else NumPy's
``loadtxt`` for bodies of exactly two unquoted columns. Both read decimal numbers to the
nearest float64, as orjson reads JSON numbers, so the same float64 data gives the same
arrays whichever encoding carried it. A body either fast reader refuses or is not sure of is
read by Python's ``csv`` module, the reference: it finds the errors (the first `MAX_LISTED`,
each with its line and column, then how many more), or reads the values when there are none.
"""

from __future__ import annotations

import array
import csv
import importlib
import io
import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

import numpy as np

from service.bodies.points import BodyError, ErrorList, FloatArray, Points

__all__ = ["read_csv"]

_BOM: Final = b"\xef\xbb\xbf"
_WEIGHT_NAMES: Final = frozenset({"weight", "weights"})
_NUMBER: Final = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
"""What the fast readers read as a number (pyarrow's grammar for float64), by the reference."""
_NON_FINITE: Final = re.compile(r"[ \t]*[+-]?(?:nan|inf|infinity)[ \t]*", re.IGNORECASE)
_SHOWN: Final = 40
"""A bad cell is echoed up to this many characters; the body itself never is."""

ErrorItem = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the points are: the header's field count and the indices and names of x, y and
    the weights (None: no weight column)."""

    fields: int
    x: int
    y: int
    x_name: str
    y_name: str
    w: int | None = None
    w_name: str | None = None

    def columns(self) -> list[tuple[int, str]]:
        """(index, name) of the columns read: x, y, then the weights if any."""
        found = [(self.x, self.x_name), (self.y, self.y_name)]
        if self.w is not None and self.w_name is not None:
            found.append((self.w, self.w_name))
        return found


def _body_error(msg: str, type_: str = "csv_invalid", **ctx: Any) -> BodyError:
    item: ErrorItem = {"type": type_, "loc": ("body",), "msg": msg}
    if ctx:
        item["ctx"] = ctx
    return BodyError([item])


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _check_utf8(body: bytes) -> None:
    """Raise `BodyError` naming the line and byte of the first byte that is not UTF-8."""
    if body.isascii():
        return
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        at = error.start
        line = body.count(b"\n", 0, at) + 1
        column = at - (body.rfind(b"\n", 0, at) + 1) + 1
        raise _body_error(
            f"the body is not UTF-8 text: byte 0x{body[at]:02x} at line {line}, byte {column} "
            "cannot be decoded; save the CSV as UTF-8",
            "csv_encoding",
            line=line,
            column=column,
        ) from None


def _layout(body: bytes) -> _Layout:
    """The header row's layout. Raises `BodyError` when it does not name x and y once each,
    or names more than one weight column."""
    ends = [at for at in (body.find(b"\n"), body.find(b"\r")) if at >= 0]
    line = body[: min(ends)] if ends else body
    if not line.strip():
        raise _body_error(
            "the first line must be the header row naming the columns x and y "
            "(then one line per point, e.g. x,y then 1,3)",
            "csv_header",
            line=1,
        )
    if line.count(b'"') % 2:
        raise _body_error(
            "line 1 (the header row) has an unclosed quote; the header row must be one line",
            "csv_header",
            line=1,
        )
    try:
        names = [name.strip() for name in next(csv.reader([line.decode("utf-8")]))]
    except (csv.Error, StopIteration) as error:
        raise _body_error(f"line 1 (the header row) is not CSV: {error}", line=1) from None
    errors: list[ErrorItem] = []
    found: dict[str, tuple[int, str]] = {}
    for field, aliases in (("x", ("x", "X")), ("y", ("y", "Y"))):
        places = [(at, name) for at, name in enumerate(names) if name in aliases]
        if len(places) == 1:
            found[field] = places[0]
            continue
        if places:
            msg = f"the header row names the column {field} {len(places)} times (as " + (
                ", ".join(f"column {at + 1}" for at, _ in places) + "); name it once"
            )
        else:
            listed = ", ".join(repr(_shown(name)) for name in names[:20])
            msg = f"the header row (line 1) has no column {field}; its columns are {listed}"
        errors.append({"type": "csv_header", "loc": ("body", field), "msg": msg})
    weights = [(at, name) for at, name in enumerate(names) if name.lower() in _WEIGHT_NAMES]
    if len(weights) > 1:
        errors.append(
            {
                "type": "csv_header",
                "loc": ("body", weights[1][1]),
                "msg": "the header row names more than one weight column (as "
                + ", ".join(f"column {at + 1}" for at, _ in weights)
                + "); name it once",
            }
        )
    if errors:
        raise BodyError(errors)
    (x, x_name), (y, y_name) = found["x"], found["y"]
    if weights:
        ((w, w_name),) = weights
        return _Layout(len(names), x, y, x_name, y_name, w, w_name)
    return _Layout(len(names), x, y, x_name, y_name)


THREADED_CSV_BYTES = 4 * 1024 * 1024
"""From this size on, pyarrow reads a CSV body with its thread pool."""


def _pyarrow_csv() -> tuple[ModuleType, ModuleType] | None:
    """(pyarrow, pyarrow.csv), or None when pyarrow is not installed."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.csv")
    except ImportError:
        return None


def _finite(columns: list[FloatArray], layout: _Layout) -> Points | None:
    """The points of the columns read (x, y, perhaps weights), read-only (pyarrow's columns
    of one chunk are views; the core's compiled loops are warmed up for arrays that are all
    writable or all read-only, not for a mix); None when one is not finite."""
    if not all(np.isfinite(values).all() for values in columns):
        return None
    for values in columns:
        values.setflags(write=False)
    weights = columns[2] if len(columns) > 2 else None
    return Points(columns[0], columns[1], layout.x_name, layout.y_name, weights)


def _read_with_pyarrow(pa: Any, pa_csv: Any, body: bytes, layout: _Layout) -> Points | None:
    """The points as pyarrow reads them; None for anything it refuses or that is not finite."""
    names = [f"c{at}" for at in range(layout.fields)]
    wanted = [names[at] for at, _ in layout.columns()]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body),
            # pyarrow's threads (its pool has one per core, shared by all requests) split a
            # large body into 1 MiB blocks: 37 MiB in about 60 ms instead of 95 on 2 cores;
            # a small body is one block, and starting threads would cost more than it saves.
            read_options=pa_csv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=len(body) >= THREADED_CSV_BYTES
            ),
            convert_options=pa_csv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(wanted, pa.float64()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    columns = [np.asarray(table.column(name).to_numpy(), dtype=np.float64) for name in wanted]
    return _finite(columns, layout)


def _read_with_numpy(body: bytes, layout: _Layout) -> Points | None:
    """The points as NumPy's ``loadtxt`` reads them, for a body of just the two columns, no
    quotes and ``\\n`` or ``\\r\\n`` line ends; None otherwise or for anything it refuses."""
    if layout.fields != 2 or b'"' in body:
        return None
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        return None  # lines ended by a lone "\r": loadtxt would see one line
    rows = body.split(b"\n", 1)[1] if b"\n" in body else b""
    if not rows.strip():
        return _finite([np.empty(0, dtype=np.float64) for _ in layout.columns()], layout)
    try:
        table = np.loadtxt(
            io.StringIO(rows.decode("utf-8")),
            delimiter=",",
            comments=None,
            dtype=np.float64,
            ndmin=2,
        )
    except ValueError:
        return None
    return _finite([np.ascontiguousarray(table[:, at]) for at, _ in layout.columns()], layout)


def _cell_error(cell: str, name: str, index: int, line: int, column: int) -> ErrorItem | None:
    """The error of one x or y cell, or None when it is a finite number."""
    if _NUMBER.fullmatch(cell):
        if math.isfinite(float(cell)):
            return None
        type_, why = "finite_number", "the number is too large for a float64"
    elif _NON_FINITE.fullmatch(cell):
        type_, why = "finite_number", "numbers must be finite (no NaN or infinity)"
    elif not cell.strip():
        type_, why = "float_parsing", "the cell is empty"
    else:
        type_, why = "float_parsing", "not a number"
    return {
        "type": type_,
        "loc": ("body", name, index),
        "msg": f"line {line}, column {column} ({name}): {why}",
        "input": _shown(cell),
        "ctx": {"line": line, "column": column},
    }


def _read_reference(body: bytes, layout: _Layout) -> Points:
    """The points as Python's ``csv`` module reads them, or `BodyError` listing the errors."""
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    errors = ErrorList()
    cells = [(at, name, array.array("d")) for at, name in layout.columns()]
    index = 0
    try:
        next(reader, None)  # the header row
        for row in reader:
            if not row:
                continue  # a blank line
            line = reader.line_num
            if len(row) != layout.fields:
                errors.add(
                    {
                        "type": "csv_row",
                        "loc": ("body",),
                        "msg": (
                            f"line {line} has {len(row)} fields; the header row has {layout.fields}"
                        ),
                        "ctx": {"line": line, "fields": len(row), "expected": layout.fields},
                    }
                )
            else:
                for at, name, values in cells:
                    error = _cell_error(row[at], name, index, line, at + 1)
                    if error is not None:
                        errors.add(error)
                    elif not errors:
                        values.append(float(row[at]))
            index += 1
    except csv.Error as error:
        errors.add(
            {
                "type": "csv_invalid",
                "loc": ("body",),
                "msg": f"line {reader.line_num} is not CSV: {error}",
                "ctx": {"line": reader.line_num},
            }
        )
    if errors:
        raise errors.error()
    columns = [np.frombuffer(values, dtype=np.float64) for _, _, values in cells]
    weights = columns[2] if len(columns) > 2 else None
    return Points(columns[0], columns[1], layout.x_name, layout.y_name, weights)


def read_csv(body: bytes) -> Points:
    """The points (and weights) of a CSV body (UTF-8 bytes): float64 arrays of equal length.

    Raises `BodyError` with FastAPI error items: ``csv_encoding`` (not UTF-8), ``csv_header``
    (no x or y column, or a column named twice), ``csv_row`` (a line with
    another number of fields than the header), ``csv_invalid`` (not CSV), ``float_parsing``
    and ``finite_number`` (a cell, at ``["body", column, row index]``, its line and column in
    ``ctx``); at most `MAX_LISTED` about rows and cells, then one counting the rest.
    """
    _check_utf8(body)
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    layout = _layout(body)
    modules = _pyarrow_csv()
    if modules is not None:
        points = _read_with_pyarrow(*modules, body, layout)
    else:
        points = _read_with_numpy(body, layout)
    return points if points is not None else _read_reference(body, layout)
