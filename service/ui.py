"""The playground: a page to generate or paste data, fit it, and see the numbers and plots.

``GET /`` serves ``service/static/index.html``; its CSS and JavaScript are mounted at
``/static`` (`static_files`). The page calls the public API (``POST /fit``, ``/fit/plot``)
like any other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "router", "static_files"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The playground's HTML, CSS and JavaScript, packaged with the service."""

router = APIRouter(include_in_schema=False)


@router.get("/")
def playground() -> FileResponse:
    """The playground page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def static_files() -> StaticFiles:
    """The playground's CSS and JavaScript, to mount at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)
