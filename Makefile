# lakeforge: the README's commands. `make run` and `make test` work on a fresh machine with only
# Python 3.11+, Java 17+ and network access to PyPI, Maven Central and the npm registry.
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
# test-pipeline's pytest workers (pytest-xdist, a module per worker). 0: one process. On 2 cores the tests
# already keep both busy (their CLIs' JVMs): 2 workers took 39.5 min against 34 min in one (2026-11-30)
TEST_WORKERS ?= 0
BENCH_ARGS ?=

STAMP := $(VENV)/.installed

.PHONY: install run test test-pipeline lint clean jars bench

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lakeforge needs Python 3.11+, found " + sys.version.split()[0])'
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	$(VENV)/bin/lakeforge fetch-jars
	$(VENV)/bin/lakeforge fetch-assets
	@touch $(STAMP)

jars: install
	$(VENV)/bin/lakeforge fetch-jars

run: install
	@if [ ! -d "$(LANDING)/orders" ]; then \
		$(VENV)/bin/lakeforge generate --scale $(SCALE) --seed $(SEED) --out $(LANDING); fi
	$(VENV)/bin/lakeforge run --config $(CONFIG) --env $(ENV) --cmd full

test: install security chromium test-pipeline airflow-test airflow-e2e

# line coverage of src/ over every process the tests start; fails under 85% (pyproject [tool.coverage])
# tests/observe scrapes a run with a real Prometheus (observe-rules installs it, and checks the alert rules):
# in the same pytest process, so its run shares the session's warm Spark
test-pipeline: install observe-rules
	$(VENV)/bin/python -m coverage erase
	LAKEFORGE_OBSERVE_REQUIRED=1 $(VENV)/bin/python -m coverage run -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=40 \
		tests/unit tests/integration tests/deploy tests/observe $(PYTEST_ARGS)
	$(VENV)/bin/python -m coverage combine --quiet
	$(VENV)/bin/python -m coverage report

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
include mk/server.mk
include mk/observe.mk
include mk/package.mk
include mk/report.mk
include mk/security.mk
include mk/image.mk
