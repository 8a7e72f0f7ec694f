"""``python -m service``: serve with the ``GDS_*`` settings; ``python -m service openapi``:
print the OpenAPI document (what ``make openapi`` writes to openapi/openapi.json)."""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType

import uvicorn

from service.app import create_app
from service.settings import Settings, get_settings


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
