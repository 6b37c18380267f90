# The image of the nightly pipeline: `roadmap serve` (default) or a Prefect worker.
# Installs exactly the pinned, hashed runtime dependencies of requirements-runtime.lock
# (the versions of requirements.lock, without the test tools and the build backend),
# then runs the project from /app: nothing is built or resolved here (docs/operations.md).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GX_ANALYTICS_ENABLED=False \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY requirements-runtime.lock ./
RUN pip install --require-hashes --no-deps -r requirements-runtime.lock

COPY pyproject.toml README.md prefect.yaml ./
COPY flows ./flows
COPY config ./config
COPY expectations ./expectations
COPY dbt_project ./dbt_project
# The `roadmap` command without installing the package (no build backend in the image):
# the same entry point as pyproject.toml's [project.scripts].
ENV PYTHONPATH=/app
RUN printf '#!/bin/sh\nexec python -m flows "$@"\n' > /usr/local/bin/roadmap \
    && chmod 755 /usr/local/bin/roadmap \
    && useradd --create-home --uid 10001 roadmap \
    && mkdir -p /app/data/landing /app/data/warehouse /app/data/reports \
    && chown -R roadmap /app/data

# Landing files, warehouse, archive, outbox, logs and reports all live under /app/data
# (the named volume of docker-compose.yml); config/roadmap.yml's relative paths
# (data/...) resolve there too, since the working directory is /app.
ENV ROADMAP_CONFIG=/app/config \
    ROADMAP_LANDING_DIR=/app/data/landing \
    ROADMAP_WAREHOUSE=/app/data/warehouse/roadmap.duckdb
USER roadmap

CMD ["roadmap", "serve"]
