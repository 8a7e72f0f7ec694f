"""Large JSON bodies parsed in short steps: the point arrays in chunks, the rest in one go.

``orjson.loads`` keeps the GIL for its whole parse: about 150 ms for a million points, during
which the event loop cannot run, even when the parse runs in a worker thread. `split_arrays`
parses such a body in steps of about a millisecond each, between which the interpreter can
hand the GIL to the event loop:

1. it locates the arrays of `ARRAY_KEYS` with ``bytes.find`` (C speed), from one double
   quote to the next: a key in quotes, a colon, ``[``, and the next ``]``;
2. each array's text must hold only the characters of JSON numbers, commas and whitespace
   (``bytes.translate``, chunk by chunk); it is parsed in chunks of about `CHUNK_BYTES` cut
   at commas, each chunk by orjson as ``[<chunk>]``, straight into float64;
3. each array is replaced in the body by a unique marker string (128 random bits), and the
   small rest is parsed by orjson;
4. the result is accepted only if every marker is exactly the top-level value of its key.

Where the rest parses with a marker in place of an array, the original body parses with that
array in the same place (the text around it is the same, and both are one JSON value), so
the answer is the one the full parse would give. Anything else (an array nested in an object,
inside a string or after an escaped quote, a duplicate key, a number orjson refuses, an empty
chunk, a marker text already in the body) returns None: the caller parses the body in full,
as it would without this path, and so answers the same 422s.
"""

from __future__ import annotations

import array
import secrets
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson

from service.bodies.points import FloatArray

__all__ = [
    "ARRAY_KEYS",
    "CHUNK_BYTES",
    "MAX_QUOTES",
    "SPLIT_MIN_BYTES",
    "SplitBody",
    "split_arrays",
]

ARRAY_KEYS: Final = ("x", "X", "y", "Y", "weights")
"""The top-level keys whose arrays are parsed in chunks."""
CHUNK_BYTES: Final = 256 * 1024
"""Array text parsed per orjson call: about a millisecond."""
SPLIT_MIN_BYTES: Final = 1024 * 1024
"""Smaller bodies are parsed in one orjson call (a few milliseconds at most)."""
MAX_QUOTES: Final = 1024
"""A body with more double quotes than this outside its point arrays is parsed in full (a
body of points and hyperparameters has a few dozen)."""

_NUMBER_TEXT: Final = b"0123456789.eE+-, \t\r\n"
_WHITESPACE: Final = b" \t\r\n"
_QUOTED_KEYS: Final = tuple((key, b'"' + key.encode() + b'"') for key in ARRAY_KEYS)


@dataclass(frozen=True, slots=True)
class SplitBody:
    """A JSON object body whose arrays of `ARRAY_KEYS` were parsed into float64 `arrays`;
    `fields` are its other top-level fields."""

    fields: dict[str, Any]
    arrays: dict[str, FloatArray]


@dataclass(frozen=True, slots=True)
class _Span:
    key: str
    start: int  # the "[" of the array
    end: int  # one past its "]"


def _skip_whitespace(body: bytes, at: int) -> int:
    while at < len(body) and body[at] in _WHITESPACE:
        at += 1
    return at


def _spans(body: bytes) -> list[_Span] | None:
    """The arrays that follow a quoted key of `ARRAY_KEYS` and a colon, in body order; None
    when the body has too many quotes to be a plain body of points.

    Each step is a ``bytes.find`` of one byte (memchr): the array text between the quotes
    holds none, so a million points take a few milliseconds."""
    spans: list[_Span] = []
    at = body.find(b'"')
    quotes = 0
    while at >= 0:
        quotes += 1
        if quotes > MAX_QUOTES:
            return None
        for key, quoted in _QUOTED_KEYS:
            if body.startswith(quoted, at):
                colon = _skip_whitespace(body, at + len(quoted))
                if colon < len(body) and body[colon] == ord(":"):
                    start = _skip_whitespace(body, colon + 1)
                    if start < len(body) and body[start] == ord("["):
                        close = body.find(b"]", start)
                        if close < 0:
                            return None
                        spans.append(_Span(key, start, close + 1))
                        at = close
                break
        at = body.find(b'"', at + 1)
    return spans


def _parse_numbers(body: bytes, start: int, end: int) -> FloatArray | None:
    """The numbers of the array text ``body[start:end]`` (between the brackets) as float64,
    parsed in chunks; None if any chunk holds anything else or orjson refuses it."""
    values = array.array("d")
    at = start
    while True:
        cut = body.find(b",", min(at + CHUNK_BYTES, end), end)
        chunk = body[at : end if cut < 0 else cut]
        if chunk.translate(None, _NUMBER_TEXT):
            return None  # strings, literals, objects or nested arrays
        try:
            numbers = orjson.loads(b"[" + chunk + b"]")
        except orjson.JSONDecodeError:
            return None
        if not numbers:
            return None  # an empty array, or a comma with nothing after it
        try:
            values.fromlist(numbers)
        except (TypeError, OverflowError):
            return None
        if cut < 0:
            break
        at = cut + 1
    if not values:
        return None
    return np.frombuffer(values, dtype=np.float64)


def split_arrays(body: bytes) -> SplitBody | None:
    """The body parsed with its top-level point arrays in chunks, or None when not sure (the
    caller then parses the whole body with orjson). See the module docstring."""
    spans = _spans(body)
    if not spans:
        return None
    marker = "gds-array-" + secrets.token_hex(16)
    if marker.encode() in body:
        return None
    pieces: list[bytes] = []
    arrays: dict[str, FloatArray] = {}
    markers: dict[str, str] = {}
    at = 0
    for number, span in enumerate(spans):
        if span.key in markers or span.start < at:
            return None  # a key twice, at any depth: let the full parse decide
        values = _parse_numbers(body, span.start + 1, span.end - 1)
        if values is None:
            return None
        markers[span.key] = f"{marker}-{number}"
        arrays[span.key] = values
        pieces.append(body[at : span.start])
        pieces.append(b'"' + markers[span.key].encode() + b'"')
        at = span.end
    pieces.append(body[at:])
    try:
        rest = orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:
        return None
    if type(rest) is not dict:
        return None
    for key, placed in markers.items():
        if rest.get(key) != placed:
            return None
    fields = {key: value for key, value in rest.items() if key not in markers}
    return SplitBody(fields, arrays)
