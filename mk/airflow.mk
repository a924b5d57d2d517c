# Airflow targets; the main Makefile does `include mk/airflow.mk`.
#   make airflow-venv   create/refresh .airflow/venv from requirements/airflow.txt
#   make airflow-up     PostgreSQL + db migrate + API server :8080, scheduler, dag-processor; waits for health
#   make airflow-down   stop them (SIGTERM from the pid files) and PostgreSQL
#   make airflow-test   DAG tests (tests/dags) with the Airflow venv's Python; no database needed
#   make airflow-e2e    lakeforge_medallion end to end with `airflow dags test` on generated data
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

airflow-e2e: airflow-venv
	$(AIRFLOW_RUN) $(AIRFLOW_SCRIPTS)/e2e.sh
