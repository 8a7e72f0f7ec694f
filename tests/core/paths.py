"""Run the core on either of its paths, so that both are held to the same contract.

"small" is `service.core.scalar` (Python floats and compiled loops), taking every item it
can, with the small-data moments; "vectorized" is `service.core.descent`'s
NumPy path for every item, with the moments' full NumPy passes at every size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service.core import descent, moments

PATHS = ("small", "vectorized")


@contextmanager
def using(path: str) -> Iterator[None]:
    saved = descent.SMALL_PATH, moments.SMALL_POINTS
    descent.SMALL_PATH = path == "small"
    if path != "small":
        moments.SMALL_POINTS = 0
    try:
        yield
    finally:
        descent.SMALL_PATH, moments.SMALL_POINTS = saved
