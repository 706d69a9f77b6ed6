# Two commands set everything up: `make run` and `make test`.
# `make run` installs what serving needs (the package and its runtime dependencies) into .venv;
# `make test` and the other targets add the `dev` extra (pytest, ruff, mypy, ...).
#   make run PORT=8080 DATABASE_URL=postgresql://postgres@127.0.0.1:5432/benefit_ledger
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# the environment's BENEFIT_LEDGER_DATABASE_URL when set, else a SQLite file here
DATABASE_URL ?= $(or $(BENEFIT_LEDGER_DATABASE_URL),sqlite:///./benefit-ledger.db)

.PHONY: install install-runtime run test browser lint typecheck unit integration e2e bench bench-baseline bench-ingest bench-import bench-queries bench-rebuild bench-append clean

install: $(DEV_STAMP)

install-runtime: $(RUNTIME_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# the dev extra includes the runtime dependencies: one install serves both stamps
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP) $(RUNTIME_STAMP)

run: install-runtime
	$(BIN)/benefit-ledger serve --host '$(HOST)' --port '$(PORT)' --database '$(DATABASE_URL)'

lint: install
	$(BIN)/ruff check services contracts tests bench
	$(BIN)/ruff format --check services contracts tests bench

typecheck: install
	$(BIN)/mypy

# the browser tests drive Debian's chromium: installed here when missing (scripts/install-chromium)
browser:
	scripts/install-chromium

test: lint typecheck browser
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install browser
	$(BIN)/pytest tests/e2e

# Benchmarks against PostgreSQL (BENCH_SCALE=0.01 for a smoke run); figures to bench/results/
bench: install
	$(BIN)/python -m bench

bench-baseline bench-ingest bench-import bench-queries bench-rebuild bench-append: install
	$(BIN)/python -m bench $(@:bench-%=%)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benefit-ledger.db*
