# One image for the API and the worker (the compose file picks the command).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COVO_ENV=production
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY requirements.lock pyproject.toml README.md ./
RUN uv pip sync --system --require-hashes requirements.lock
COPY engine ./engine
COPY api ./api
COPY workers ./workers
COPY definitions ./definitions
RUN uv pip install --system --no-deps . && useradd --system --uid 10001 covo
USER covo
EXPOSE 8000
CMD ["covo", "api"]
