"""``python -m service``: serve with the ``GDS_*`` settings; ``python -m service openapi``:
print the OpenAPI document (what ``make openapi`` writes to openapi/openapi.json)."""

from __future__ import annotations

import json
import logging
import math
import os
import resource
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
from service.protocol import GuardedHttpToolsProtocol
from service.settings import Settings, SettingsError, get_settings

__all__ = [
    "JsonFormatter",
    "log_config",
    "main",
    "multiprocess_metrics",
    "openapi_json",
    "help_text",
    "raise_open_files_limit",
    "serve",
]

WORKER_HEALTHCHECK_SECONDS = 60
"""How long uvicorn's supervisor waits for a busy worker's answer before killing it (its
default, 5 s, killed workers that were parsing a large body; parsing now runs off the event
loop, and this is the margin on top)."""

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def openapi_json() -> str:
    """The OpenAPI document of the app built with default settings, as stable JSON."""
    return json.dumps(create_app(Settings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then raises the signal again so the
    previous handler runs; this one makes that a normal exit (status 0), as orchestrators expect."""


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


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft limit of open files to the hard limit (idle sockets must not starve the
    health checks at the default 1024); returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # some platforms cap it below RLIM_INFINITY
            pass
    return soft, hard


def serve(settings: Settings) -> None:
    """Run uvicorn; each worker builds its app from the environment via the factory.

    uvicorn's access log is off: the service writes one line per request itself, with the
    request id (`service.logs`). The HTTP protocol is `GuardedHttpToolsProtocol` (header
    timeout and size limit); after SIGTERM, in-flight requests get ``GDS_SHUTDOWN_TIMEOUT``
    seconds; ``X-Forwarded-For`` is trusted from ``GDS_FORWARDED_ALLOW_IPS`` only.
    """
    signal.signal(signal.SIGTERM, _after_graceful_shutdown)
    soft, _ = raise_open_files_limit()
    logging.getLogger("service.app").debug("open files limit: %d", soft)
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
            http=GuardedHttpToolsProtocol,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )


USAGE = """\
usage: python -m service [openapi | --help]

  python -m service          serve with the GDS_* settings below (uvicorn, in the foreground)
  python -m service openapi  print the OpenAPI document (what make openapi writes)
  python -m service --help   this text

The same app for other servers: uvicorn service.app:create_app --factory (the GDS_* settings
apply; the header guard, shutdown timeout and forwarded-IP settings are then uvicorn's own).

Settings (environment variables):
"""


def help_text() -> str:
    """The usage and every ``GDS_*`` setting with its default and meaning."""
    prefix = Settings.model_config.get("env_prefix", "")
    lines = [USAGE]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = ",".join(default) if isinstance(default, list) else default
        lines.append(f"  {prefix}{name.upper()} (default: {shown!s})")
        lines.append(f"      {field.description}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["openapi"]:
        sys.stdout.write(openapi_json())
        return 0
    if argv in (["--help"], ["-h"], ["help"]):
        sys.stdout.write(help_text())
        return 0
    if argv:
        sys.stderr.write(USAGE.splitlines()[0] + "\n")
        return 2
    try:
        settings = get_settings()
    except SettingsError as error:
        sys.stderr.write(f"gd-fit-service: cannot start, bad setting:\n{error}\n")
        return 2
    serve(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
