"""The recorded epochs of a history: the contract's rules (`test_descent` holds them over
the whole range), and a few epochs on Python floats the same as NumPy's many."""

from __future__ import annotations

import numpy as np
import pytest

from service.core import history
from service.core.history import history_epochs


def _numpy(
    epochs_run: int, points: int, spacing: str, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    with monkeypatch.context() as patch:
        patch.setattr(history, "FEW", 0)
        return history_epochs(epochs_run, points, spacing).tolist()


@pytest.mark.parametrize("spacing", ["linear", "log"])
def test_few_epochs_are_numpys(spacing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    # (825,964,140,910 epochs: the C library's pow and NumPy's round one value near a half
    # to neighbouring epochs; the few are NumPy's own values)
    runs = [*range(2, 300), *rng.integers(300, 10**12, 300).tolist(), 10**7, 2**31, 825964140910]
    checked = 0
    for epochs_run in runs:
        for points in (3, 4, 5, 7, 16, 41, history.FEW):
            if points > epochs_run:
                continue
            got = history_epochs(epochs_run, points, spacing).tolist()
            assert got == _numpy(epochs_run, points, spacing, monkeypatch), (epochs_run, points)
            checked += 1
    assert checked > 2000


def test_few_epochs_follow_the_contract() -> None:
    for epochs_run in (3, 10, 99, 10_000, 10**7):
        for spacing in ("linear", "log"):
            for points in range(2, history.FEW + 1):
                epochs = history_epochs(epochs_run, points, spacing)
                assert epochs.dtype == np.int64
                assert epochs[0] == 0 and epochs[-1] == epochs_run
                assert epochs.size == min(points, epochs_run + 1)
                assert np.all(np.diff(epochs) > 0)


def test_the_documented_history() -> None:
    assert history_epochs(10_000, 5, "linear").tolist() == [0, 2500, 5000, 7500, 10_000]
    assert history_epochs(10_000, 5, "log").tolist() == [0, 1, 22, 464, 10_000]
