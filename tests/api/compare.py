"""Comparing /fit answers computed along different paths (batch, moments, fast body)."""

from __future__ import annotations

from typing import Any

import pytest


def assert_same_fit(got: Any, want: Any, path: str = "") -> None:
    """Equal answers up to floating point: numbers to relative 1e-9 (absolute 1e-12 near 0),
    everything else (epochs, stop reasons, warnings, shapes) exactly."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for key in want:
            assert_same_fit(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_fit(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), path
    else:
        assert got == want, path
