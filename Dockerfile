# One image for the code location, the webserver, the daemon and the Celery workers (docker-compose.yml, Helm).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DAGSTER_HOME=/opt/dagster/home
WORKDIR /opt/feeds_etl

# pycurl, lxml, duckdb and psycopg come as wheels: no compiler needed.
COPY pyproject.toml README.md dagster.yaml workspace.yaml ./
COPY feeds_etl ./feeds_etl
COPY data/feeds.yaml ./data/feeds.yaml
RUN pip install --no-cache-dir . && mkdir -p "$DAGSTER_HOME" && cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

RUN useradd --create-home --uid 10001 feeds && chown -R feeds "$DAGSTER_HOME"
USER feeds

# The code location (gRPC) by default; compose and Helm override the command for webserver, daemon and workers.
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "feeds_etl.definitions"]
