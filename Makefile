# lakeforge: the README's commands. `make run` and `make test` work on a fresh machine with only
# Python 3.11+, Java 17+ and network access to PyPI and Maven Central.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PROJECT_DIR ?= $(CURDIR)
SCALE ?= 0.01
SEED ?= 42
LANDING ?= data/landing
CONFIG ?= config/local.yaml
ENV ?= local
PYTEST_ARGS ?=
BENCH_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: install run test test-pipeline lint clean jars bench

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lakeforge needs Python 3.11+, found " + sys.version.split()[0])'
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(VENV)/bin/lakeforge fetch-jars
	@touch $(STAMP)

jars: install
	$(VENV)/bin/lakeforge fetch-jars

run: install
	@if [ ! -d "$(LANDING)/orders" ]; then \
		$(VENV)/bin/lakeforge generate --scale $(SCALE) --seed $(SEED) --out $(LANDING); fi
	$(VENV)/bin/lakeforge run --config $(CONFIG) --env $(ENV) --cmd full

test: install test-pipeline airflow-test airflow-e2e

test-pipeline: install
	$(VENV)/bin/python -m pytest tests/unit tests/integration $(PYTEST_ARGS)

# speed goals (benchmarks/README.md): minutes of Spark and a few GB under /tmp; not part of `make test`
bench: install
	$(VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests dags benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf data .pytest_cache .ruff_cache .mypy_cache

include mk/airflow.mk
