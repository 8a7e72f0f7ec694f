"""``python -m service``: serve with the ``GDS_*`` settings; ``python -m service openapi``:
print the OpenAPI document (what ``make openapi`` writes to openapi/openapi.json)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from service.app import create_app
from service.logs import JsonFormatter, log_config
from service.settings import Settings, get_settings

__all__ = ["JsonFormatter", "log_config", "main", "multiprocess_metrics", "openapi_json", "serve"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def openapi_json() -> str:
    """The OpenAPI document of the app built with default settings, as stable JSON."""
    return json.dumps(create_app(Settings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then raises the signal again so the
    previous handler runs; this one makes that a normal exit (status 0), as SPEC §7 asks."""


@contextmanager
def multiprocess_metrics(workers: int) -> Iterator[str | None]:
    """With several workers, point prometheus-client's multiprocess mode at a fresh temporary
    directory (the workers inherit the environment) and remove it afterwards. A directory
    the environment already names is used as it is and left in place."""
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield os.environ.get(MULTIPROC_ENV) or None
        return
    directory = tempfile.mkdtemp(prefix="gds-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def serve(settings: Settings) -> None:
    """Run uvicorn; each worker builds its app from the environment via the factory.

    uvicorn's access log is off: the service writes one line per request itself, with the
    request id (`service.logs`).
    """
    signal.signal(signal.SIGTERM, _after_graceful_shutdown)
    with multiprocess_metrics(settings.workers):
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            log_config=log_config(settings),
            access_log=False,
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
