# governance: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   create .venv, install, run the full pipeline on the bundled data, write reports/
#   make test   create .venv if needed, install the dev extras, lint, type-check and run every test

SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint bench clean help

help:
	@echo "make demo   run the governance pipeline on the bundled demo data (writes reports/)"
	@echo "make test   lint, type-check and run the test suite"
	@echo "make bench  run the benchmarks (slow; prints figures and peer ratios)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "governance needs Python 3.11 or newer on PATH (python3.11, python3.12, ...)"; exit 2; fi
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: install
	$(BIN)/governance run --config configs/default.yaml

lint: install
	$(BIN)/ruff check governance tests bench
	$(BIN)/ruff format --check governance tests bench
	$(BIN)/mypy --strict governance

test: lint
	$(BIN)/pytest

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) mlruns data/*.parquet data/*.csv .pytest_cache .mypy_cache .ruff_cache
