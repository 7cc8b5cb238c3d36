# One image for the four sifuwu services; SERVICE picks which one runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY sifuwu ./sifuwu
COPY services ./services
COPY tooling ./tooling
RUN pip install --disable-pip-version-check . \
    && useradd --system --uid 10001 --home-dir /app sifuwu

USER sifuwu
# `sifuwu serve NAME` runs `nameko run` for one service (docker-compose.yml).
CMD ["sifuwu", "serve", "activity"]
