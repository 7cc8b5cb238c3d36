# syntax=docker/dockerfile:1
# One image for the four sifuwu services; `sifuwu serve NAME` picks which one
# runs (docker-compose.yml). Two stages: the builder turns the pinned runtime
# dependencies (requirements/runtime.lock, written by `./run lock`) and the
# project into wheels; the runtime stage installs only those, offline, as a
# non-root user. No extras: no dev tools, no local stand-ins, no compose driver.
# Needs BuildKit (Docker 23+ builds with it by default).
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip wheel --wheel-dir /wheels --requirement requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY sifuwu ./sifuwu
COPY services ./services
COPY tooling ./tooling
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG SOURCE=https://example.invalid/sifuwu
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sifuwu" \
      org.opencontainers.image.description="机关党建 + 四服务: activity, assessment, feedback, notify" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# a CJK font: charts (matplotlib) and print pages render Chinese text
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin sifuwu
WORKDIR /app
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements/runtime.lock,target=/tmp/runtime.lock \
    pip install --no-index --find-links /wheels --requirement /tmp/runtime.lock \
    && pip install --no-index --find-links /wheels --no-deps sifuwu
USER 10001:10001
EXPOSE 8001 8002 8003 8004
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=5 \
    CMD ["python", "-m", "tooling.ops.healthcheck"]
CMD ["sifuwu", "serve", "activity"]
