"""The content types a request body may have, and the ``415`` answer for the others.

A fit route takes `JSON` bodies, and also `CSV` and `ARROW` ones when it declares them (see
`service.bodies.route`). A ``Content-Type`` header is read as its media type (case-insensitive)
and its ``charset`` parameter:

- JSON: ``application/json`` (and any ``application/*+json``, as FastAPI reads them); a
  charset parameter has no effect (RFC 8259: JSON text is UTF-8);
- CSV: ``text/csv`` with no charset or UTF-8 (``us-ascii`` is a subset); ``header=present``
  is assumed whatever that parameter says;
- Arrow: ``application/vnd.apache.arrow.stream``, the Arrow IPC stream format.

Anything else, or no ``Content-Type`` at all, is refused before the body is read.
"""

from __future__ import annotations

import email.message
from typing import Final

from fastapi import HTTPException

__all__ = [
    "ARROW",
    "CSV",
    "JSON",
    "MEDIA_TYPES",
    "media_type_of",
    "unsupported",
]

JSON: Final = "application/json"
CSV: Final = "text/csv"
ARROW: Final = "application/vnd.apache.arrow.stream"
MEDIA_TYPES: Final = (JSON, CSV, ARROW)
"""Every body media type the service knows, in the order the 415 answer lists them."""

_UTF8_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_SHOWN_CHARACTERS: Final = 100
"""A received content type is quoted in the 415 answer up to this many characters."""


def _shown(content_type: str) -> str:
    if len(content_type) <= _SHOWN_CHARACTERS:
        return content_type
    return content_type[:_SHOWN_CHARACTERS] + "..."


def _listed(accepted: tuple[str, ...]) -> str:
    if len(accepted) == 1:
        return accepted[0]
    return ", ".join(accepted[:-1]) + " or " + accepted[-1]


def unsupported(
    content_type: str | None, accepted: tuple[str, ...], why: str = ""
) -> HTTPException:
    """The ``415`` for a body of `content_type` (None: no header) on a route taking `accepted`.

    Its ``detail`` names the type received and the accepted ones. The body is not read, so
    the answer closes the connection.
    """
    if not content_type:
        received = "The request has no Content-Type"
    else:
        received = f"Content-Type '{_shown(content_type)}' is not accepted{why}"
    detail = f"{received}: send the body as {_listed(accepted)}"
    if content_type and content_type.lower().startswith("application/x-www-form-urlencoded"):
        detail += " (curl -d sends form data; add -H 'Content-Type: application/json')"
    return HTTPException(status_code=415, detail=detail, headers={"Connection": "close"})


def media_type_of(content_type: str | None, accepted: tuple[str, ...]) -> str:
    """Which of `accepted` (a subset of `MEDIA_TYPES`) a ``Content-Type`` header names.

    Raises the `unsupported` ``415`` for any other type, for none, and for a CSV body whose
    charset is not UTF-8.
    """
    if content_type == JSON:  # what nearly every client sends: no parsing
        return JSON
    if not content_type:
        raise unsupported(content_type, accepted)
    message = email.message.Message()
    message["content-type"] = content_type
    essence = message.get_content_type()  # lower case; "text/plain" when unparsable
    main, _, sub = essence.partition("/")
    if JSON in accepted and main == "application" and (sub == "json" or sub.endswith("+json")):
        return JSON
    if essence in accepted and essence == CSV:
        charset = message.get_param("charset")
        if isinstance(charset, str) and charset.lower() not in _UTF8_CHARSETS:
            raise unsupported(content_type, accepted, " (CSV bodies must be UTF-8)")
        return CSV
    if essence in accepted and essence == ARROW:
        return ARROW
    raise unsupported(content_type, accepted)
