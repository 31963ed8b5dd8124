# Tributum: the commands developers and CI run. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: up down status reset logs test test-unit test-integration test-e2e lint typecheck \
        package bench install clean

## install: create .venv with every pinned dependency (re-runs when pyproject.toml changes)
install: $(STAMP)
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

## up: start the whole local stack (emulators, every function, the gateway) in the background
up: install
	$(BIN)/python -m emulator up

down:
	@test -x $(BIN)/python && $(BIN)/python -m emulator down || echo "no local stack"

status: install
	$(BIN)/python -m emulator status

reset: install
	$(BIN)/python -m emulator reset

logs: install
	$(BIN)/python -m emulator logs $(FUNCTION)

## test: lint, types, then every test layer (unit, integration, e2e) against the real emulators
test: install lint typecheck
	@$(BIN)/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-integration: install
	$(BIN)/python -m pytest tests/integration

test-e2e: install
	$(BIN)/python -m pytest tests/e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared functions emulator

typecheck: install
	$(BIN)/mypy

## package: build/<function>/ and build/<function>.zip for every function
package: install
	$(BIN)/python infra/package.py

## bench: the benchmarks (not part of the tests)
bench: install
	@for bench in tests/benchmarks/bench_*.py; do echo "== $$bench"; $(BIN)/python "$$bench" || exit 1; done

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
