#!/usr/bin/env bash
# Create .airflow/venv from requirements/airflow.txt, or bring it in line when that file changed.
# Usage: scripts/airflow/venv.sh        (PYTHON=python3.11 to choose the interpreter)
# shellcheck source=scripts/airflow/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

requirements="$PROJECT_DIR/requirements/airflow.txt"
stamp="$AIRFLOW_VENV/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$AIRFLOW_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    say "Airflow virtualenv is up to date ($AIRFLOW_VENV)"
    exit 0
fi
if [ ! -x "$AIRFLOW_VENV/bin/python" ]; then
    python="${PYTHON:-python3}"
    "$python" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' ||
        die "$python is too old for Airflow 3 (need 3.10+): set PYTHON"
    say "creating $AIRFLOW_VENV with $("$python" --version)"
    "$python" -m venv "$AIRFLOW_VENV"
fi
say "installing $requirements"
"$AIRFLOW_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
"$AIRFLOW_VENV/bin/python" -m pip check
echo "$wanted" >"$stamp"
say "Airflow $("$AIRFLOW_BIN" version 2>/dev/null) ready in $AIRFLOW_VENV"
