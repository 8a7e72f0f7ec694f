# Everything runs from the project's own virtualenv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit openapi bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[plot]'
	touch $@

$(VENV)/.installed-dev: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed  ## serve on 127.0.0.1:8000 (GDS_* settings apply)
	GDS_HOST=$${GDS_HOST:-$(HOST)} GDS_PORT=$${GDS_PORT:-$(PORT)} $(BIN)/python -m service

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q

test: lint typecheck unit  ## ruff, mypy (strict on service/) and pytest

openapi: $(VENV)/.installed  ## regenerate openapi/openapi.json from the app
	$(BIN)/python -m service openapi > openapi/openapi.json

bench: $(VENV)/.installed-dev  ## core benchmark table (README "Performance")
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/core.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
