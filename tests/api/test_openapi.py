"""The committed contract file equals the app's schema (regenerate with `make openapi`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.__main__ import main, openapi_json
from service.app import create_app
from service.settings import Settings

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert committed == create_app(Settings()).openapi(), (
        "openapi/openapi.json is stale: run `make openapi` and commit it"
    )


def test_openapi_file_is_byte_for_byte_the_export() -> None:
    assert OPENAPI.read_text(encoding="utf-8") == openapi_json()


def test_openapi_does_not_depend_on_settings() -> None:
    custom = Settings(max_points=5, api_keys=["k"], cors_origins=["https://example.org"])
    assert create_app(custom).openapi() == create_app(Settings()).openapi()


def test_main_prints_openapi(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi"]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["title"]
    assert main(["bogus"]) == 2
