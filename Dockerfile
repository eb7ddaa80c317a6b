# contrastive-qa image: mining (CPU) and training (GPU) workers share it.
#   docker compose build
# TORCH_SPEC / TORCH_INDEX_URL pick the torch wheel: the default is the CPU wheel; for the
# GPU worker build with e.g. --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
FROM python:3.11-slim

ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    OMP_NUM_THREADS=2

WORKDIR /app

# torch first, pinned, so the project install does not pull another build
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL"; \
    else pip install "$TORCH_SPEC"; fi

COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY training ./training
COPY flows ./flows
COPY data/samples ./data/samples
RUN pip install -e ".[models,dask]"   # prefect brings asyncpg for the PostgreSQL server

RUN useradd --create-home cqa && mkdir -p /app/data/artifacts /app/runs && chown -R cqa /app/data /app/runs
USER cqa

CMD ["cqa", "--help"]
