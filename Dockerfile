# syntax=docker/dockerfile:1
# The gradient-descent fitting service: `docker build -t gd-fit-service .`
#
# Two stages. `build` installs exactly what uv.lock pins (the service, its dependencies and
# the plot extra, which the playground needs; no dev tools) into /app/.venv with uv; the
# final stage is a clean python:3.11-slim with only that virtualenv copied in: no uv, no
# pip caches, no build tools, no source tree. Everything has wheels: no compiler is needed.

FROM python:3.11-slim AS build

# The uv that `make` uses too (pyproject.toml's `tools` group pins the same version;
# tests/e2e/test_container_files.py checks that they agree).
ARG UV_VERSION=0.13.9

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

RUN python -m venv /opt/uv && /opt/uv/bin/pip install "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when the lock or pyproject.toml change.
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-default-groups --extra plot --no-install-project

# Then the service itself, as an ordinary (not editable) install into the same virtualenv.
COPY service ./service
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-default-groups --extra plot --no-editable


FROM python:3.11-slim

# The user has no home: matplotlib keeps its font cache in /tmp (a tmpfs under compose,
# whose containers are read-only otherwise), and so does Numba its compiled code (compiled
# once per container start, about twenty-five seconds before the first worker is ready).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    GDS_HOST=0.0.0.0 \
    GDS_PORT=8000

RUN groupadd --gid 10001 app \
    && useradd --no-create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin app

COPY --from=build /app/.venv /app/.venv

WORKDIR /app
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('GDS_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "service"]
