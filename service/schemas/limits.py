"""The limits in force on a server, and how validation finds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

from service.settings import Settings

__all__ = ["DEFAULT_LIMITS", "Limits", "limits_of"]


class Limits(BaseModel):
    """The limits in force on this server (set by GDS_* settings)."""

    model_config = ConfigDict(frozen=True)

    max_points: int = Field(description="Most points in one request.", examples=[1_000_000])
    max_epochs: int = Field(description="Largest `epochs`.", examples=[10_000_000])
    max_history_points: int = Field(description="Largest `history_points`.", examples=[10_000])
    max_batch: int = Field(description="Most fits in one batch.", examples=[1000])
    max_body_bytes: int = Field(description="Largest request body, bytes.", examples=[67108864])

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits `settings` set."""
        return cls(
            max_points=settings.max_points,
            max_epochs=settings.max_epochs,
            max_history_points=settings.max_history_points,
            max_batch=settings.max_batch,
            max_body_bytes=settings.max_body_bytes,
        )


DEFAULT_LIMITS: Final = Limits.from_settings(Settings.model_construct())
"""The limits of a server with default settings: what validation checks when its context
names no limits, so that no code path validates a body without any."""


def limits_of(info: ValidationInfo) -> Limits:
    """The limits in the validation context (``{"limits": Limits}``), else `DEFAULT_LIMITS`."""
    context = info.context
    limits = context.get("limits") if isinstance(context, Mapping) else None
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS
