"""GDS_* settings: defaults, environment parsing, and nothing read at import."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.__main__ import main
from service.settings import Settings, SettingsError, get_settings


def test_defaults_are_the_specs() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.model_dump() == {
        "host": "127.0.0.1",
        "port": 8000,
        "workers": 1,
        "max_points": 1_000_000,
        "max_epochs": 10_000_000,
        "max_history_points": 10_000,
        "max_batch": 1000,
        "max_body_bytes": 64 * 1024 * 1024,
        "max_concurrency": 8,
        "body_timeout": 30.0,
        "header_timeout": 10.0,
        "shutdown_timeout": 30.0,
        "forwarded_allow_ips": ["127.0.0.1"],
        "drain_seconds": 0.0,
        "log_level": "info",
        "log_format": "text",
        "api_keys": [],
        "cors_origins": [],
    }


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDS_PORT", "9001")
    monkeypatch.setenv("GDS_WORKERS", "3")
    monkeypatch.setenv("GDS_MAX_POINTS", "10")
    monkeypatch.setenv("GDS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("GDS_LOG_FORMAT", "json")
    monkeypatch.setenv("GDS_API_KEYS", "alpha, beta,,gamma ")
    monkeypatch.setenv("GDS_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert (settings.port, settings.workers, settings.max_points) == (9001, 3, 10)
    assert (settings.log_level, settings.log_format) == ("debug", "json")
    assert settings.api_keys == ["alpha", "beta", "gamma"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_empty_lists_from_empty_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDS_API_KEYS", "")
    monkeypatch.setenv("GDS_CORS_ORIGINS", " ")
    settings = Settings()
    assert settings.api_keys == [] and settings.cors_origins == []


def test_initialiser_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDS_MAX_BATCH", "5")
    assert Settings(max_batch=7).max_batch == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [("GDS_PORT", "http"), ("GDS_WORKERS", "0"), ("GDS_LOG_FORMAT", "xml"), ("GDS_MAX_BATCH", "0")],
)
def test_bad_environment_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("GDS_MAX_BATCH", "11")
    try:
        assert get_settings() is get_settings()
        assert get_settings().max_batch == 11
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("value", [" ", ",", " , ,"])
def test_api_keys_that_hold_no_key_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A set GDS_API_KEYS that names no key must not switch authentication off."""
    get_settings.cache_clear()
    monkeypatch.setenv("GDS_API_KEYS", value)
    try:
        with pytest.raises(SettingsError) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    (line,) = str(caught.value).splitlines()
    assert line.startswith("GDS_API_KEYS: ") and "holds no value" in line


def test_bad_settings_stop_the_start_with_one_line_per_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("GDS_PORT", "http")
    monkeypatch.setenv("GDS_MAX_CONCURRENCY", "0")
    try:
        assert main([]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "gd-fit-service: cannot start, bad setting:"
    assert [line.split(":")[0] for line in err[1:]] == ["GDS_PORT", "GDS_MAX_CONCURRENCY"]
    assert "Traceback" not in "".join(err)


def test_help_lists_the_commands_and_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "python -m service openapi" in text and "--factory" in text
    for name in Settings.model_fields:
        assert f"GDS_{name.upper()} (default: " in text
    assert main(["bogus"]) == 2
