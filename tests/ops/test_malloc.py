"""The worker's malloc settings: large request bodies reuse freed heap memory (glibc)."""

from __future__ import annotations

import os
import platform

import pytest

from service.app import tune_malloc


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_glibc_malloc_keeps_large_blocks_on_the_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert tune_malloc()


def test_the_environment_s_own_malloc_tunables_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576")
    assert not tune_malloc()
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.trim_threshold=1048576"
