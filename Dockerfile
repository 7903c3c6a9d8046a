# syntax=docker/dockerfile:1
# One image for the migration job, the API and the worker (compose and Kubernetes pick the
# command). Runtime dependencies only (requirements-prod.lock: no embedded Postgres, no Temporal
# dev server, no test tools), every package pinned with its hash, the build backend too
# (requirements-build.lock), bytecode compiled at build time, a non-root user.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1
WORKDIR /src
# The installer and the build backend (hatchling), by hash.
COPY requirements-build.lock ./
RUN pip install --require-hashes --no-deps -r requirements-build.lock
# The runtime dependencies, by hash, into their own virtualenv, compiled to bytecode.
COPY requirements-prod.lock ./
RUN python -m venv /opt/venv \
 && uv pip sync --python /opt/venv/bin/python --require-hashes --compile-bytecode requirements-prod.lock
# Our code as a wheel, built offline with the pinned backend, installed without dependencies.
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY api ./api
COPY workers ./workers
COPY server ./server
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && uv pip install --python /opt/venv/bin/python --no-deps --compile-bytecode /wheels/*.whl

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    COVO_ENV=production \
    LOG_FORMAT=json \
    API_HOST=0.0.0.0 \
    API_PORT=8000
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin covo
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY definitions ./definitions
USER 10001
EXPOSE 8000 9464
# Liveness of the API process (the worker's compose service and Kubernetes probe its metrics port).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health/live', timeout=4)"]
CMD ["covo", "api"]
