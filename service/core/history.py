"""Which epochs a history records: strictly increasing over [0, epochs_run], both ends
included, min(points, epochs_run + 1) of them.

- "linear": round(k (epochs_run / (count - 1))) for k = 0 .. count - 1 (NumPy's
  ``linspace`` values, rounded half to even), as evenly spaced as whole epochs allow;
- "log": 0, then 10^(k log10(epochs_run) / (count - 2)) for k = 0 .. count - 2 (NumPy's
  ``geomspace`` values, its ends exact), rounded; where rounding would merge neighbours the
  next free epochs are taken instead: with e_i the rounded values, i their index,
  min(max(e_0 - 0, ..., e_i - i), epochs_run - count + 1) + i.

A few epochs (at most `FEW`) are computed mostly on Python floats, where NumPy's fixed cost
per call (about 20 calls for "log") would be most of a short history's price; more with
NumPy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["history_epochs"]

IntArray = NDArray[np.int64]

FEW = 64
"""Histories of at most this many epochs are computed on Python floats."""


def history_epochs(epochs_run: int, points: int, spacing: str) -> IntArray:
    """The recorded epochs, shape (min(points, epochs_run + 1),), int64; see the module.

    epochs_run >= 0, points >= 2, spacing "linear" or "log".
    """
    count = min(points, epochs_run + 1)
    if count == epochs_run + 1:
        return np.arange(epochs_run + 1, dtype=np.int64)
    if spacing == "log" and count == 2:
        return np.array([0, epochs_run], dtype=np.int64)
    if count <= FEW:
        return np.array(_few(epochs_run, count, spacing), dtype=np.int64)
    if spacing == "linear":
        return np.rint(np.linspace(0, epochs_run, count)).astype(np.int64)
    rounded = np.concatenate(
        ([0], np.rint(np.geomspace(1, epochs_run, count - 1)).astype(np.int64))
    )
    index = np.arange(count, dtype=np.int64)
    # e_i - i must be non-decreasing (strictly increasing e) and at most epochs_run - count
    # + 1 (room for the rest): push merged neighbours up, then cap from the end.
    lifted = np.maximum.accumulate(rounded - index)
    result: IntArray = np.minimum(lifted, epochs_run - count + 1) + index
    return result


def _few(epochs_run: int, count: int, spacing: str) -> list[int]:
    """`history_epochs` on Python floats, for 2 <= count <= epochs_run (3 for "log").

    The geometric values are NumPy's own ``log10`` and ``power`` (which may differ from
    the C library's by an ulp, and so round a value near a half the other way)."""
    if spacing == "linear":
        step = epochs_run / (count - 1)
        return [round(k * step) for k in range(count - 1)] + [epochs_run]
    step = np.log10(np.float64(epochs_run)) / (count - 2)
    powers = np.power(10.0, np.arange(1, count - 2) * step).tolist()
    geometric = [1, *map(round, powers), epochs_run]
    room = epochs_run - count + 1
    result, lifted = [0], 0
    for i, value in enumerate(geometric, start=1):
        lifted = max(lifted, value - i)
        result.append(min(lifted, room) + i)
    return result
