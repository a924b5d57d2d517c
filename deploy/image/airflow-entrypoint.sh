#!/usr/bin/env bash
# Entrypoint of the image's `airflow` target (compose and any plain container runtime).
# The admin's password comes only from the environment (LAKEFORGE_AIRFLOW_ADMIN_PASSWORD, e.g. compose's
# env file or a Kubernetes Secret): written here, mode 600, into the simple auth manager's passwords
# file, then the command runs. Without it, Airflow generates one into the file's `.generated` twin.
set -euo pipefail

passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-}"
if [ -n "$passwords_file" ] && [ -n "${LAKEFORGE_AIRFLOW_ADMIN_PASSWORD:-}" ]; then
    mkdir -p "$(dirname "$passwords_file")"
    (umask 077 && python3 -c 'import json, os, sys; json.dump({"admin": os.environ["LAKEFORGE_AIRFLOW_ADMIN_PASSWORD"]}, sys.stdout)' \
        >"$passwords_file")
fi
exec "$@"
