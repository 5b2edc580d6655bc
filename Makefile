# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/shopboard

.PHONY: install run test services bench faults

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e . --group test --group bench

# The product on the embedded defaults (SQLite, filesystem broker), unless
# DATABASE_URL / CELERY_BROKER_URL say otherwise.
run: install
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py rundemo

# Everything the suite needs: PostgreSQL, Redis, Chromium.
services:
	bash .ci/services

test: install services
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/1} \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmarks (docs/bench.md): a throw-away database of their own
# (BENCH_DATABASE_URL, default shopboard_bench, dropped and recreated), never
# DATABASE_URL; writes BENCHMARKS.md. BENCH_ARGS="--sections ingest --quick" for a part.
bench: install services
	$(BIN)/python -m bench $(BENCH_ARGS)

# The fault table of issue 14 (docs/operations.md "Faults"): a production-like
# stack on loopback with a Redis of its own and a fake OBS; a few minutes.
# Database FAULTS_DATABASE_URL (default shopboard_faults, dropped and recreated).
faults: install services
	$(BIN)/python -m bench.faults $(FAULTS_ARGS)
