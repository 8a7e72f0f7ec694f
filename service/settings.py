"""Service settings: every knob is an environment variable with the prefix ``GDS_``.

Nothing is read at import time. `get_settings()` builds (and caches) the settings from the
environment for the real server; tests build ``Settings(...)`` directly and hand it to
``create_app``, without touching ``os.environ`` (initialiser arguments win over the environment).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "get_settings"]

MIB = 1024 * 1024


def _split_commas(value: Any) -> Any:
    """Parse ``"a, b,,c"`` into ``["a", "b", "c"]``; lists pass through unchanged."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """The settings in force; each field is the environment variable ``GDS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GDS_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(1, ge=1, description="Number of worker processes.")
    max_points: int = Field(
        1_000_000, ge=2, description="Most points in one request (a batch counts all its fits)."
    )
    max_epochs: int = Field(10_000_000, ge=1, description="Largest `epochs` a request may ask.")
    max_history_points: int = Field(
        10_000, ge=2, description="Largest `history_points` a request may ask."
    )
    max_batch: int = Field(1000, ge=1, description="Most fits in one POST /fit/batch.")
    max_body_bytes: int = Field(64 * MIB, ge=0, description="Largest request body in bytes (413).")
    max_concurrency: int = Field(
        8,
        ge=1,
        description=(
            "Fit requests in progress per worker process, counted from the arrival of their "
            "headers; above it a fit request answers 503 with Retry-After at once, without "
            "reading its body. Health, readiness, info and metrics are never refused."
        ),
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description=(
            "Seconds from the arrival of a request's headers within which its body must have "
            "arrived in full; a slower body answers 408 and the connection is closed."
        ),
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a connection may take to send a request's headers (from its first byte, "
            "or from the connection's opening); a slower connection is closed."
        ),
    )
    shutdown_timeout: float = Field(
        30.0,
        ge=0,
        le=3600,
        description=(
            "After SIGTERM, how long in-flight requests may take before the remaining "
            "connections are closed."
        ),
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description=(
            "Comma-separated addresses of proxies whose X-Forwarded-For (and -Proto) is "
            "trusted for the client address in the access log; `*` trusts every proxy."
        ),
    )
    drain_seconds: float = Field(
        0.0,
        ge=0,
        le=300,
        description=(
            "After SIGTERM, keep serving this long with /readyz answering 503 (so a load "
            "balancer stops sending traffic) before closing the listening socket."
        ),
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="Log level of the server and the service."
    )
    log_format: Literal["json", "text"] = Field("text", description="Log line format.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer keys; /fit, /fit/batch and /fit/plot then need one.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS; empty sends no CORS headers.",
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("api_keys", "cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _comma_list(cls, value: Any, info: ValidationInfo) -> Any:
        items = _split_commas(value)
        if isinstance(value, str) and value and not items and info.field_name != "cors_origins":
            # "GDS_API_KEYS= " must not switch auth off: a set variable must name something.
            raise ValueError(f"{value!r} holds no value: give one or more, comma-separated")
        return items


class SettingsError(ValueError):
    """A ``GDS_*`` variable with a bad value; the message is one line per variable, naming it
    and what it accepts."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment, read once on first call.

    Raises `SettingsError` naming each bad variable.
    """
    try:
        return Settings()
    except ValidationError as error:
        prefix = Settings.model_config.get("env_prefix", "")
        lines = [
            f"{prefix}{str(item['loc'][0]).upper()}: {item['msg']} (got {item['input']!r})"
            for item in error.errors(include_url=False)
        ]
        raise SettingsError("\n".join(lines)) from None
