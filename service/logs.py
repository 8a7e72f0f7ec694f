"""Logging: one JSON object per line (``GDS_LOG_FORMAT=json``) or plain text for people.

`log_config` configures the root logger, so uvicorn's own lines (startup, shutdown, errors)
come out in the same format as the service's. uvicorn's access log is switched off
(``access_log=False``); the access line is the service's own (`log_request`, called by
`service.middleware.ServiceMiddleware`), one per request, carrying the request id.
A JSON line looks like::

    {"time":"2025-01-01T12:00:00.123+00:00","level":"info","logger":"service.access",
     "message":"POST /fit 200 1.84 ms","request_id":"5f0c...","method":"POST",
     "path":"/fit","route":"/fit","status":200,"duration_ms":1.84,"client":"127.0.0.1"}

Request bodies and query strings are never logged.

Every request writes a line, so the access line is made cheaply: its record is built without
`Logger.makeRecord`'s generic work, the time stamp of both formats is formatted once per second,
and JSON lines are written by orjson. Records carry no thread or process names (the
``logThreads`` family of `logging` switches, as the logging HOWTO's "Optimization" section
advises when no format shows them).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from service.settings import Settings

__all__ = [
    "ACCESS_LOGGER",
    "TEXT_FORMAT",
    "JsonFormatter",
    "TextFormatter",
    "escape_controls",
    "log_config",
    "log_request",
]

ACCESS_LOGGER = "service.access"

_FIELDS = ("request_id", "method", "path", "route", "status", "duration_ms", "client")
"""Extra attributes a record may carry (`logging`'s ``extra=``), written out when present."""

access_logger = logging.getLogger(ACCESS_LOGGER)

# No format of ours shows them, and looking them up is a third of the cost of a record.
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False


class _SecondCache:
    """The time stamp text of one second, formatted again only when the second changes."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request
    fields when the record has them, and the traceback as one string when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second = _SecondCache()

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        cache = self._second
        if second != cache.second:
            text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
            cache.second, cache.text = second, text.removesuffix("+00:00")
        return f"{cache.text}.{int(record.msecs):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except orjson.JSONEncodeError:  # e.g. a lone surrogate or an integer beyond 64 bits
            return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
"""Control characters as escapes: a path or header holding a newline cannot forge a line."""


def escape_controls(text: str) -> str:
    """`text` with its control characters (newline, carriage return, escape...) escaped."""
    if text.isprintable():  # no control character (the common case, at C speed)
        return text
    return text.translate(_CONTROL)


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> [request id]``, traceback on the next lines.

    The line itself never holds a control character (`escape_controls`): each log line is
    one line, whatever a client put in its path or headers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second = _SecondCache()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """`logging.Formatter.formatTime`, with the text of the second formatted once."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cache = self._second
        if second != cache.second:
            text = time.strftime(self.default_time_format, self.converter(second))
            cache.second, cache.text = second, text
        if self.default_msec_format is None:
            return cache.text
        return self.default_msec_format % (cache.text, record.msecs)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        line = f"{line} [{request_id}]" if request_id is not None else line
        return escape_controls(line)


def log_config(settings: Settings) -> dict[str, Any]:
    """`logging.config.dictConfig` settings: everything goes to the root logger's one handler.

    uvicorn's worker processes apply this dict again after they are spawned (it pickles by
    reference to this module).
    """
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if settings.log_format == "json"
        else {"class": "service.logs.TextFormatter", "format": TEXT_FORMAT}
    )
    level = settings.log_level.upper()
    if level == "TRACE":  # uvicorn's extra level, below DEBUG
        level = "DEBUG"
    inherit: dict[str, Any] = {"handlers": [], "propagate": True, "level": level}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {"uvicorn": inherit, "uvicorn.error": inherit, "service": inherit},
    }


def log_request(
    *,
    request_id: str,
    method: str,
    path: str,
    route: str,
    status: int,
    duration_ms: float,
    client: str | None,
) -> None:
    """Write the access line of one finished request (INFO on ``service.access``).

    The record is made directly, then handed to `Logger.handle`: the access line needs no
    caller's file and line, whose lookup `Logger.info` would pay on every request, nor the
    checks of `Logger.makeRecord`'s ``extra`` (these names are known not to clash).
    """
    if not access_logger.isEnabledFor(logging.INFO):
        return
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        "",
        0,
        "%s %s %d %.2f ms",
        (method, path, status, duration_ms),
        None,
    )
    fields = record.__dict__
    fields["request_id"] = request_id
    fields["method"] = method
    fields["path"] = path
    fields["route"] = route
    fields["status"] = status
    fields["duration_ms"] = round(duration_ms, 3)
    fields["client"] = client
    access_logger.handle(record)
