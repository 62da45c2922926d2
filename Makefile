# feeds_etl — the commands users type. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 3000

# Runs from make run/backfill must show up in make ui: one absolute DAGSTER_HOME for all targets.
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
override DAGSTER_HOME := $(abspath $(DAGSTER_HOME))
export DAGSTER_HOME

.PHONY: bootstrap run test ui backfill sql export import-opml export-opml bench lint format worker instance lock

# (Re)install whenever pyproject.toml or the lock is newer than the last install: the exact versions of
# requirements.lock, then feeds_etl itself.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing feeds_etl into $(VENV) (first time takes a minute)..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# After changing dependencies in pyproject.toml: resolve requirements.lock again (uv, from PyPI).
lock: $(STAMP)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv
	@$(VENV)/bin/uv pip compile --quiet pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock

# DAGSTER_HOME/dagster.yaml from dagster.yaml, plus PostgreSQL storage when DAGSTER_POSTGRES_URL is set (then
# the instance is migrated here, once, before any worker or run uses it). A dagster.yaml of your own is kept.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@test -f $@ || cp dagster.yaml $@

instance: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	@if [ -n "$$DAGSTER_POSTGRES_URL" ]; then $(PY) -m feeds_etl instance >/dev/null; fi

bootstrap: $(STAMP) instance

run: bootstrap
	@$(PY) -m feeds_etl run

backfill: bootstrap
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=2026-11-01-00:00 TO=2026-11-01-23:00"; exit 2; }
	@$(PY) -m feeds_etl backfill --from "$(FROM)" --to "$(TO)"

# make sql: the DuckDB shell on the lake, read-only; make sql Q="SELECT ...": one query, printed.
sql: bootstrap
	@$(PY) -m feeds_etl sql --query "$$Q"

export: bootstrap
	@test -n "$(OUT)" || { echo "usage: make export OUT=feeds.duckdb"; exit 2; }
	@$(PY) -m feeds_etl export "$(OUT)"

import-opml: bootstrap
	@test -n "$(FILE)" || { echo "usage: make import-opml FILE=subscriptions.opml"; exit 2; }
	@$(PY) -m feeds_etl import-opml "$(FILE)"

export-opml: bootstrap
	@$(PY) -m feeds_etl export-opml

# One Celery worker in the foreground (FEEDS_ETL_EXECUTOR=celery, FEEDS_ETL_BROKER): run one per machine.
worker: bootstrap
	@$(PY) -m feeds_etl worker

ui: bootstrap
	$(VENV)/bin/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

test: bootstrap
	@$(PY) -m pytest

bench: bootstrap
	@$(PY) benchmarks/bench.py --pairs 2

lint: bootstrap
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: bootstrap
	@$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .
