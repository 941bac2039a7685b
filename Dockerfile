# One image for the three services; docker-compose.yml picks the process with `command`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY storage storage
COPY ingest ingest
COPY workers workers
COPY query query
COPY scripts scripts
RUN pip install --no-cache-dir .
ENV INGEST_HOST=0.0.0.0 QUERY_HOST=0.0.0.0
USER nobody
