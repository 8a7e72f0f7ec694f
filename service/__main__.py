"""``python -m service``: serve with the ``GDS_*`` settings; ``python -m service openapi``:
print the OpenAPI document (what ``make openapi`` writes to openapi/openapi.json)."""

from __future__ import annotations

import json
import logging
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn

from service.app import create_app
from service.settings import Settings, get_settings


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (``GDS_LOG_FORMAT=json``); a later issue enriches it."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_config(settings: Settings) -> dict[str, Any]:
    """`logging.config.dictConfig` settings for uvicorn's loggers and the service's own."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if settings.log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    level = settings.log_level.upper()
    handler = {"handlers": ["default"], "level": level, "propagate": False}
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
        "loggers": {"uvicorn": handler, "uvicorn.access": handler, "service": handler},
    }


def openapi_json() -> str:
    """The OpenAPI document of the app built with default settings, as stable JSON."""
    return json.dumps(create_app(Settings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then raises the signal again so the
    previous handler runs; this one makes that a normal exit (status 0), as SPEC §7 asks."""


def serve(settings: Settings) -> None:
    """Run uvicorn; each worker builds its app from the environment via the factory."""
    signal.signal(signal.SIGTERM, _after_graceful_shutdown)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config(settings),
    )


def main(argv: list[str]) -> int:
    if argv == ["openapi"]:
        sys.stdout.write(openapi_json())
        return 0
    if argv:
        sys.stderr.write("usage: python -m service [openapi]\n")
        return 2
    serve(get_settings())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
