# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATABASE_URL ?= sqlite:///./benefit-ledger.db

.PHONY: install run test lint typecheck unit integration e2e bench bench-baseline bench-ingest bench-import bench-queries bench-rebuild clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/benefit-ledger serve --host 127.0.0.1 --port 8000 --database $(DATABASE_URL)

lint: install
	$(BIN)/ruff check services contracts tests bench
	$(BIN)/ruff format --check services contracts tests bench

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

# Benchmarks against PostgreSQL (BENCH_SCALE=0.01 for a smoke run); figures to bench/results/
bench: install
	$(BIN)/python -m bench

bench-baseline bench-ingest bench-import bench-queries bench-rebuild: install
	$(BIN)/python -m bench $(@:bench-%=%)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benefit-ledger.db*
