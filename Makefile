# Core API — `make run` serves the API, `make test` runs the whole suite (see README.md).
# Configuration comes from the environment only; with none set, the embedded defaults are used.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PYTEST_ARGS ?=

.PHONY: run worker test lint bench bench-webhooks install install-dev migrate demo

# Stamps: requirements are (re)installed only when a requirements file changed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo

## run: migrations, the demo account (key printed once), then gunicorn on HOST:PORT (127.0.0.1:8000)
run: demo
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## worker: the RQ worker with its scheduler and the periodic jobs (needs REDIS_URL)
worker: migrate
	$(BIN)/python -m workers

## test: the whole suite; TEST_DATABASE_URL / TEST_REDIS_URL select PostgreSQL / Redis
test: install-dev
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check app workers tests bench gunicorn.conf.py wsgi.py
	$(BIN)/ruff format --check app workers tests bench gunicorn.conf.py wsgi.py
	$(BIN)/mypy

## bench: authenticated GET /api/v1/workspaces/{id} vs a bare route under gunicorn (PostgreSQL + Redis)
bench: install
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || echo "wrk is not installed: using the Python load generator"
	$(BIN)/python -m bench.load

## bench-webhooks: events/s fanned out and delivered to a local receiver by 1 and 2 RQ workers vs RQ's no-op job rate
bench-webhooks: install
	$(BIN)/python -m bench.webhooks

## bench-pixel: pixel track req/s vs a bare route, worker ingestion events/s vs bare COPY, end-to-end lag
.PHONY: bench-pixel
bench-pixel: install
	$(BIN)/python -m bench.pixel

## bench-entities: p50/p95 of GET /api/v1/tasks (filter, sort, search, include) and /tasks/{id} at 100k tasks vs hand-written SQL
.PHONY: bench-entities
bench-entities: install
	$(BIN)/python -m bench.entities

## bench-ai: p99 of an authenticated GET with 8 AI chat streams open vs idle, under gunicorn (target: within 2x)
.PHONY: bench-ai
bench-ai: install
	$(BIN)/python -m bench.ai

## bench-mcp: tool-call latency through the proxy vs direct, tools/list of 1,000 tools, a Stripe-sized import in a worker
.PHONY: bench-mcp
bench-mcp: install
	$(BIN)/python -m bench.mcp
