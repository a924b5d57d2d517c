# Airflow targets; the main Makefile does `include mk/airflow.mk`.
#   make airflow-venv   create/refresh .airflow/venv from requirements/airflow.txt
#   make airflow-up     PostgreSQL + db migrate + Spark Connect server + API server :8080, scheduler,
#                       dag-processor; waits for health
#   make airflow-down   stop them (SIGTERM from the pid files) and PostgreSQL
#   make airflow-test   DAG tests (tests/dags) with the Airflow venv's Python; no database needed
#   make airflow-e2e    lakeforge_medallion end to end with `airflow dags test` on generated data, three
#                       runs through a Spark Connect server (LAKEFORGE_E2E_REMOTE=0 LAKEFORGE_E2E_RUNS=1: one embedded)
# Details and env vars: docs/airflow.md.

PROJECT_DIR ?= $(CURDIR)
VENV ?= .venv

AIRFLOW_VENV := $(PROJECT_DIR)/.airflow/venv
AIRFLOW_SCRIPTS := $(PROJECT_DIR)/scripts/airflow
AIRFLOW_RUN = PROJECT_DIR="$(PROJECT_DIR)" VENV="$(VENV)" bash

.PHONY: airflow-venv airflow-up airflow-down airflow-e2e airflow-test

airflow-venv: $(AIRFLOW_VENV)/.requirements.sha256

$(AIRFLOW_VENV)/.requirements.sha256: $(PROJECT_DIR)/requirements/airflow.txt
	$(AIRFLOW_RUN) $(AIRFLOW_SCRIPTS)/venv.sh

airflow-up: airflow-venv
	$(AIRFLOW_RUN) $(AIRFLOW_SCRIPTS)/up.sh

airflow-down:
	$(AIRFLOW_RUN) $(AIRFLOW_SCRIPTS)/down.sh

airflow-test: airflow-venv
	cd "$(PROJECT_DIR)" && "$(AIRFLOW_VENV)/bin/python" -m pytest tests/dags -p no:cacheprovider

# three DAG runs in a row, each on the next third of the sample's files, through a Spark Connect server
# (no task starts a JVM, none is retried); LAKEFORGE_E2E_REMOTE=0 LAKEFORGE_E2E_RUNS=1 for one embedded run
LAKEFORGE_E2E_REMOTE ?= 1
LAKEFORGE_E2E_RUNS ?= 3
airflow-e2e: airflow-venv
	LAKEFORGE_E2E_REMOTE=$(LAKEFORGE_E2E_REMOTE) LAKEFORGE_E2E_RUNS=$(LAKEFORGE_E2E_RUNS) $(AIRFLOW_RUN) $(AIRFLOW_SCRIPTS)/e2e.sh
