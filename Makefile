# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/shopboard

.PHONY: install run test lint services bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The product's dependencies (enough for `make run`); installed again only
# when pyproject.toml changes, so a second `make run` starts at once.
# --no-compile: Python compiles what it imports on first use, not all of Django.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --no-compile -e .
	touch $@

# ...and the test, lint and bench tools (dependency groups need pip >= 25.1).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -e . --group test --group bench
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed

# The product on the embedded defaults, unless DATABASE_URL / CELERY_BROKER_URL
# say otherwise: a private PostgreSQL 18 (data in var/postgres/, kept between
# runs, stopped with the demo; shopboard/embedded_db.py) and the filesystem broker.
# rundemo --load-demo: migrate, seed_demo, then serve, all in one process.
run: $(VENV)/.installed-run
	$(BIN)/python manage.py rundemo --load-demo

# Lint is part of the suite: CI fails on it like on a test.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Everything the suite needs: PostgreSQL, Redis, Chromium.
services:
	bash .ci/services

test: install lint services
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/1} \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmarks (docs/bench.md): a throw-away database of their own
# (BENCH_DATABASE_URL, default shopboard_bench, dropped and recreated), never
# DATABASE_URL; writes BENCHMARKS.md. BENCH_ARGS="--sections ingest --quick" for a part.
bench: install services
	$(BIN)/python -m bench $(BENCH_ARGS)
