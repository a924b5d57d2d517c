#!/usr/bin/env bash
# Run any `airflow` command against the project's stack (same home, database and secrets).
# Usage: scripts/airflow/airflow.sh dags list-runs lakeforge_medallion
# Starts nothing: PostgreSQL must be running ('make airflow-up' or 'make airflow-e2e' starts it).
# shellcheck source=scripts/airflow/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_airflow_venv
load_secrets
airflow_env
exec "$AIRFLOW_BIN" "$@"
