# SwiftBolt: `make run` to see it work, `make test` to prove it. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export DAGSTER_EVENT_BATCH_SIZE ?= 1000
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS ?= true
PYTEST_ARGS ?=
# make test and make test-service run the suite on one pytest-xdist worker per core: a module
# (with the modules sharing its session state: conftest's SHARED_WORKER) stays on one worker;
# PYTEST_WORKERS=0 runs it in this process. The race tier always runs in one process.
PYTEST_WORKERS ?= auto
XDIST := -n $(PYTEST_WORKERS) --dist loadscope

.PHONY: help install migrate run dev replay replay-intraday psql test test-races test-service lint format bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing dependencies into $(VENV) (first time takes a minute or two)"
	@$(BIN)/python -m pip install --quiet --upgrade pip 2> >(grep -v '^WARNING: Location' >&2)
	@$(BIN)/python -m pip install --quiet -e '.[dev]' 2> >(grep -v '^WARNING: Location' >&2)
	@echo "compiling the indicator kernels into numba's cache (once, about 15 s)"
	@$(BIN)/python -m swiftbolt_assets.features.warmup
	@touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install the project with its dev tools

migrate: $(STAMP) ## apply the Alembic migrations (starts the embedded PostgreSQL if needed)
	@$(BIN)/python -m swiftbolt_assets.cli migrate

run: $(STAMP) ## migrate, generate demo data, materialize the asset graph, print a summary
	@$(BIN)/python -m swiftbolt_assets.cli run

dev: $(STAMP) ## open the Dagster UI (webserver + daemon) on http://127.0.0.1:3000
	@$(BIN)/python -m swiftbolt_assets.cli dev

replay: $(STAMP) ## replay the daily cycle over the last 60 sp500 trading days (REPLAY_ARGS=...)
	@$(BIN)/python -m swiftbolt_assets.cli replay $(REPLAY_ARGS)

replay-intraday: $(STAMP) ## the intraday half over eqker's real 15-minute bars, then its walk-forward backtest
	@$(BIN)/python -m swiftbolt_assets.replay_intraday

psql: $(STAMP) ## psql on the warehouse (embedded server or SWIFTBOLT_DATABASE_URL; SQL='...' runs one query)
	@$(BIN)/python -m swiftbolt_assets.cli sql $(if $(SQL),-c "$(SQL)")

test: $(STAMP) ## lint, type-check and run the test suite on the embedded PostgreSQL (all but the race tier)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@# mypy (about 30 s on a cold cache) runs beside the tests, its report printed after theirs;
	@# make test fails if either fails
	@$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & types=$$!; \
	$(BIN)/python -m pytest -m "not races" $(XDIST) $(PYTEST_ARGS); tests=$$?; \
	wait $$types; typed=$$?; echo "mypy --strict:"; cat $(VENV)/mypy.log; \
	exit $$(( tests != 0 || typed != 0 ))

test-races: $(STAMP) ## the race tier: every table's writer raced and killed mid-COPY (about 3 min; .ci/run runs it)
	@$(BIN)/python -m pytest -m races $(PYTEST_ARGS)

test-service: $(STAMP) ## run the PostgreSQL integration tests against SERVICE_URL (a running server)
	@SWIFTBOLT_TEST_DATABASE_URL=$(SERVICE_URL) $(BIN)/python -m pytest -m postgres $(XDIST) $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

bench: $(STAMP) ## benchmarks on the real data in ../shared (not part of `make test`)
	@$(BIN)/python -m benchmarks.bench
	@$(BIN)/python -m benchmarks.intraday

clean: ## remove the virtualenv and the state folder (embedded database, drop folder)
	rm -rf $(VENV) .swiftbolt *.egg-info
