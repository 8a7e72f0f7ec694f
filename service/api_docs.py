"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served entirely by the service.

FastAPI's built-in pages load their scripts, styles and fonts from a CDN, so they are blank
on a machine without internet access. `install` adds the same two pages with every asset
served from ``service/static/vendor/`` (the npm packages' files, vendored with their
licences: see the README there), at ``/static/vendor/``. The app must be built with
``docs_url=None, redoc_url=None`` so that FastAPI does not add its own pages first.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = [
    "ASSETS_PATH",
    "CONTENT_SECURITY_POLICY",
    "DOCS_PATH",
    "REDOC_PATH",
    "REDOC_VERSION",
    "SWAGGER_UI_VERSION",
    "VENDOR_DIR",
    "install",
]

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
"""The vendored Swagger UI and ReDoc files, packaged with the service."""

SWAGGER_UI_VERSION = "5.35.0"
REDOC_VERSION = "2.5.4"

# The pages may load nothing from another host, whatever the bundled scripts try (ReDoc's
# sidebar shows a logo from its vendor's CDN, which is then simply left out). Inline
# scripts and styles are the pages' own (FastAPI's page templates, ReDoc's styled
# components); ReDoc's search runs in a worker made from a blob.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/static/vendor"


def _own_assets_only(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def install(app: FastAPI) -> None:
    """Add ``GET /docs``, ``GET /redoc`` and their assets (at `ASSETS_PATH`) to `app`.

    Links honour the ASGI ``root_path``, as FastAPI's own pages do, so the pages also work
    behind a proxy that serves the service under a path prefix.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("build the app with docs_url=None and redoc_url=None first")
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the docs pages need the OpenAPI document (openapi_url is None)")
    title = app.title

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _own_assets_only(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_PATH}/swagger-ui/favicon-32x32.png",
                oauth2_redirect_url=None,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _own_assets_only(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_PATH}/redoc/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_PATH}/swagger-ui/favicon-32x32.png",
                with_google_fonts=False,
            )
        )

    app.mount(ASSETS_PATH, StaticFiles(directory=VENDOR_DIR), name="docs-assets")
