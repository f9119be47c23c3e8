# syntax=docker/dockerfile:1
# One image for every process of the platform: `retention serve <service>`, `retention migrate`, ...
#   docker build -t retention .
#   docker run --rm retention --help

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: resolve and install the project into a self-contained venv -------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so a code change does not re-download them:
# a placeholder package lets pip resolve the project's dependency list into wheels.
COPY pyproject.toml README.md ./
RUN mkdir -p services && touch services/__init__.py \
 && pip wheel --wheel-dir /wheels . \
 && pip install --no-index --find-links /wheels /wheels/*.whl \
 && pip uninstall -y retention

# Then the project itself (no dependency resolution: everything is already in the venv).
COPY services ./services
RUN pip install --no-deps . \
 && retention --help >/dev/null

# --- runtime: the venv on a clean slim image, as an unprivileged user ----------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="retention" \
      org.opencontainers.image.description="Event-driven customer-retention platform: gateway, loyalty, notifications, segments, tracking" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 retention \
 && useradd --system --uid 10001 --gid retention --home-dir /app --create-home --shell /usr/sbin/nologin retention

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RETENTION_HTTP_HOST=0.0.0.0 \
    RETENTION_HTTP_PORT=8000 \
    RETENTION_LOG_FORMAT=json

# faust keeps a `<app id>-data` folder in the working directory: it must be writable by the user.
WORKDIR /app
USER retention:retention

EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RETENTION_HTTP_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["retention"]
CMD ["serve", "gateway"]
