# syntax=docker/dockerfile:1
# The gradient-descent fitting service: `docker build -t gd-fit-service .`
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GDS_HOST=0.0.0.0 \
    GDS_PORT=8000

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
# A placeholder package lets `pip install '.[plot]'` (the README's install) resolve them now.
# DL3013 asks to pin registry packages; `.[plot]` is this project, its bounds in pyproject.toml.
COPY pyproject.toml README.md ./
# hadolint ignore=DL3013
RUN mkdir service && touch service/__init__.py \
    && pip install --no-cache-dir .[plot] \
    && pip uninstall --yes gd-fit-service \
    && rm -rf service

# Then the service itself, installed the same way, without touching the dependencies.
COPY service ./service
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-deps .[plot] \
    && groupadd --gid 10001 app \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin app

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('GDS_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "service"]
