# Everything runs from the project's own virtualenv (.venv), installed from uv.lock.
# A fresh machine needs only python3 and make: the first target creates .venv with
# `python3 -m venv`, puts the pinned uv in it with pip, and uv installs the lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
HOST ?= 127.0.0.1
PORT ?= 8000
# uv's version, from pyproject.toml's `tools` dependency group (which keeps it in .venv).
UV_VERSION := $(shell sed -n 's/^tools = \["uv==\([^"]*\)"\]/\1/p' pyproject.toml)
# The lowest-versions check installs into its own virtualenv, beside the build output.
LOWEST_VENV := build/venv-lowest

# uv: the project's environment is $(VENV); never download a Python (use the venv's).
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: help run test test-fast test-lowest lint typecheck unit lock lock-check openapi bench clean

help:  ## list the targets
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/  make \1\t\2/p' $(MAKEFILE_LIST) | expand -t 22

$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

# `run` needs the service and the plot extra; --inexact keeps dev tools already there.
$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --inexact --extra plot
	touch $@

# Tests need everything in the dev extra; an exact sync (what is not locked goes).
$(VENV)/.installed-dev: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra dev
	touch $(VENV)/.installed $@

run: $(VENV)/.installed  ## serve on 127.0.0.1:8000 in the foreground, Ctrl-C stops (PORT=, HOST=; GDS_* apply)
	GDS_HOST=$${GDS_HOST:-$(HOST)} GDS_PORT=$${GDS_PORT:-$(PORT)} $(BIN)/python -m service

lint: $(VENV)/.installed-dev  ## ruff check and format check
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks

typecheck: $(VENV)/.installed-dev  ## mypy, strict on service/
	$(BIN)/mypy

unit: $(VENV)/.installed-dev  ## every test
	$(BIN)/pytest -q

test: lint typecheck unit  ## ruff, mypy and every pytest test (what CI runs, with test-lowest)

test-fast: lint typecheck $(VENV)/.installed-dev  ## ruff, mypy and the tests not marked slow
	$(BIN)/pytest -q -m "not slow"

# The lower bounds in pyproject.toml, proven: a fresh virtualenv with the lowest version
# of every direct dependency that they allow (uv's lowest-direct resolution; the packages
# those need are the newest that fit), then the tests that start no server or browser.
test-lowest: $(UV)  ## the tests against the oldest dependency versions pyproject.toml allows
	rm -rf $(LOWEST_VENV)
	$(UV) venv --quiet --python $(BIN)/python $(LOWEST_VENV)
	$(UV) pip install --quiet --python $(LOWEST_VENV)/bin/python \
		--resolution lowest-direct -e '.[dev]'
	$(UV) pip list --python $(LOWEST_VENV)/bin/python > $(LOWEST_VENV)/versions.txt
	$(LOWEST_VENV)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

lock: $(UV)  ## after editing dependencies in pyproject.toml: update uv.lock (then commit it)
	$(UV) lock
	@echo "uv.lock updated: commit it with pyproject.toml"

lock-check: $(UV)  ## fail if uv.lock is out of date with pyproject.toml (CI runs it)
	$(UV) lock --check

openapi: $(VENV)/.installed  ## regenerate openapi/openapi.json from the app
	$(BIN)/python -m service openapi > openapi/openapi.json

bench: $(VENV)/.installed-dev  ## core benchmark table (README "Performance")
	$(UV) sync --frozen --inexact --extra dev --extra bench
	$(BIN)/python benchmarks/core.py

clean:  ## remove the virtualenvs and tool caches
	rm -rf $(VENV) $(LOWEST_VENV) .pytest_cache .mypy_cache .ruff_cache
