# Tributum: the commands developers and CI run. Every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# pyproject.toml holds the direct pins; requirements.lock the whole tree, with hashes.
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell sha1sum $(LOCK) | cut -c1-12)

.PHONY: up down status reset logs seed test test-unit test-integration test-e2e lint typecheck \
        package bench bench-quick bench-budget install lock checkov clean

## install: create .venv with exactly what requirements.lock pins (re-runs when the lock changes)
# Hash-checking mode: a package or dependency the lock does not pin with a hash fails the
# install. The repository itself is not installed; pytest's pythonpath makes it importable.
install: $(STAMP)
$(STAMP): $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --requirement $(LOCK)
	@rm -f $(VENV)/.installed-* && touch $@

## lock: re-resolve requirements.lock from pyproject.toml's pins (run after editing them)
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command "make lock" --quiet --output-file $(LOCK)

## checkov: the Terraform scanner of the infra tests, in its own .venv-checkov/
checkov:
	@PYTHON=$(PYTHON) bash infra/install-checkov.sh

## up: start the whole local stack (emulators, every function, the gateway) in the background
## (IMPORT=dir loads the Firestore data of `make down EXPORT=dir`; WATCH=1 restarts changed functions)
up: install
	$(BIN)/python -m emulator up $(if $(IMPORT),--import $(IMPORT)) $(if $(WATCH),--watch)

## down: stop the stack (EXPORT=dir keeps its Firestore data there first)
down:
	@if test -x $(BIN)/python; then $(BIN)/python -m emulator down $(if $(EXPORT),--export $(EXPORT)); \
	  else echo "no local stack"; fi

status: install
	$(BIN)/python -m emulator status

reset: install
	$(BIN)/python -m emulator reset

## seed: a demo tenant on the running stack (users of every role, accounts, entries, a payment)
seed: install
	$(BIN)/python -m emulator seed

## logs: follow the stack's logs (FUNCTION=name for one; CORRELATION_ID=id for one request)
logs: install
	$(BIN)/python -m emulator logs --follow $(if $(CORRELATION_ID),--correlation-id $(CORRELATION_ID)) $(FUNCTION)

## test: lint, types, then every test layer (unit, integration, e2e) against the real emulators
test: install checkov lint typecheck
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

## bench-quick: the platform benchmark's bounded run (about a minute), report only
bench-quick: install
	$(BIN)/python tests/benchmarks/bench_platform.py --quick --no-budget

## bench-budget: fails when a platform ratio is over 25 % worse than tests/benchmarks/budget.json
bench-budget: install
	$(BIN)/python tests/benchmarks/bench_platform.py --quick

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
