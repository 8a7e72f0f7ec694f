"""Bearer-key authentication of the fit routes (``GDS_API_KEYS``).

When keys are set, a fit request needs ``Authorization: Bearer <key>`` with one of them and
is refused with ``401`` otherwise. `BodyRoute` (`service.bodies`) checks the key before it
reads the body, so a request without a valid key costs no body parsing; `require_api_key` is
the same check as a FastAPI dependency, which also documents the scheme in OpenAPI.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from service.settings import Settings

__all__ = ["authorize", "check_api_key", "require_api_key"]

_AUTHORIZED = "gds.authorized"
"""Scope key set once a request's key was checked, so the dependency does not check twice."""

_bearer = HTTPBearer(
    auto_error=False,
    description="Needed only when the server sets GDS_API_KEYS: `Authorization: Bearer <key>`.",
)


def check_api_key(settings: Settings, authorization: str | None) -> None:
    """Refuse with 401 unless auth is off or `authorization` is ``Bearer <one of the keys>``.

    Raises `HTTPException` 401 with ``WWW-Authenticate: Bearer``.
    """
    if not settings.api_keys:
        return
    scheme, credentials = get_authorization_scheme_param(authorization)
    token = credentials.encode() if scheme.lower() == "bearer" and credentials else b""
    # Compare against every key, so the time taken does not tell which one nearly matched.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(token, key.encode())
    if not matched:
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key: send Authorization: Bearer <key>",
            # The body was not read: the connection cannot carry another request.
            headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
        )


def authorize(request: Request) -> None:
    """`check_api_key` for `request` with the settings its app was built with, once."""
    scope = request.scope
    if not scope.get(_AUTHORIZED):
        settings = scope["app"].state.settings
        if settings.api_keys:  # (the headers are looked at only when keys are set)
            check_api_key(settings, request.headers.get("authorization"))
        scope[_AUTHORIZED] = True


# `async def`: trivial and never blocks, so it stays on the event loop, where a plain `def`
# would cost a threadpool round trip.
async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The dependency form of `authorize`."""
    authorize(request)
