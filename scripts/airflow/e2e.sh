#!/usr/bin/env bash
# End-to-end: run lakeforge_medallion with `airflow dags test` on generated data against
# PostgreSQL, then check the six Delta tables and the DAG run's state. Needs no running stack:
# it starts PostgreSQL itself when needed (and stops it again), runs `airflow db migrate`, and
# works in a fresh temp dir, so it can be rerun at will.
#
#   LAKEFORGE_E2E_LOGICAL_DATE  logical date of the run (2024-01-01)
#   LAKEFORGE_E2E_KEEP=1        keep the temp dir (landing + lakehouse) for a look afterwards
#   LAKEFORGE_CLI=<stub>        run the DAG against a stand-in CLI: no data generation, no table checks
# Its own database (airflow_e2e) on the same server: a running stack's scheduler never sees, let alone
# runs, these tasks, and the UI's history stays clean.
AIRFLOW_DB_NAME=airflow_e2e
# shellcheck source=scripts/airflow/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_airflow_venv

DAG_ID=lakeforge_medallion
LOGICAL_DATE="${LAKEFORGE_E2E_LOGICAL_DATE:-2024-01-01}"
REAL_CLI="$VENV/bin/lakeforge"
STUB=0
if [ -n "${LAKEFORGE_CLI:-}" ] && [ "$LAKEFORGE_CLI" != "$REAL_CLI" ]; then
    STUB=1
    say "LAKEFORGE_CLI=$LAKEFORGE_CLI: the DAG calls it; data generation and table checks are skipped"
else
    [ -x "$REAL_CLI" ] || die "no pipeline CLI at $REAL_CLI: install the pipeline first ('make install')"
    if ! "$VENV/bin/python" -c 'import deltalake' 2>/dev/null; then
        die "$VENV has no deltalake package (needed by scripts/check_tables.py)"
    fi
fi

started_at=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lakeforge-e2e.XXXXXX")"
PG_STARTED_HERE=0
cleanup() {
    local code=$?
    if [ "${LAKEFORGE_E2E_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    if [ "$PG_STARTED_HERE" = 1 ]; then pg_stop; fi
    exit $code
}
trap cleanup EXIT

prepare_database

export LAKEFORGE_LANDING="$WORK/landing"
export LAKEFORGE_LAKEHOUSE="$WORK/lakehouse"
# The env-var secrets backend (AIRFLOW_VAR_*) is read before the metastore: Variables left in the
# database (say lakeforge_cli set in the UI) cannot change what this run calls or where it writes.
export AIRFLOW_VAR_LAKEFORGE_CLI="$LAKEFORGE_CLI"
export AIRFLOW_VAR_LAKEFORGE_PROJECT_DIR="$PROJECT_DIR"
export AIRFLOW_VAR_LAKEFORGE_CONFIG="${LAKEFORGE_CONFIG:-$PROJECT_DIR/config/local.yaml}"
export AIRFLOW_VAR_LAKEFORGE_ENV="${LAKEFORGE_ENV:-local}"
export AIRFLOW_VAR_LAKEFORGE_LANDING="$LAKEFORGE_LANDING"
export AIRFLOW_VAR_LAKEFORGE_LAKEHOUSE="$LAKEFORGE_LAKEHOUSE"
if [ "$STUB" = 0 ]; then
    say "generating sample data into $LAKEFORGE_LANDING"
    "$REAL_CLI" generate --scale 0.01 --seed 7 --out "$LAKEFORGE_LANDING"
fi

say "airflow dags test $DAG_ID $LOGICAL_DATE (log: $LOG_DIR/e2e-dags-test.log)"
test_started=$SECONDS
set +e
"$AIRFLOW_BIN" dags test "$DAG_ID" "$LOGICAL_DATE" >"$LOG_DIR/e2e-dags-test.log" 2>&1
test_rc=$?
set -e
say "dags test exited $test_rc after $((SECONDS - test_started)) s"
grep -E "Task instance in (success|failure) state|Marking task as|DagRun Finished|lakeforge .* exit" \
    "$LOG_DIR/e2e-dags-test.log" >&2 || true

state="$("$AIRFLOW_BIN" dags state "$DAG_ID" "${LOGICAL_DATE}T00:00:00+00:00" 2>/dev/null | tail -n 1)"
say "state of the $DAG_ID run for $LOGICAL_DATE: $state"
if [ "$test_rc" -ne 0 ] || [ "$state" != success ]; then
    tail -n 80 "$LOG_DIR/e2e-dags-test.log" >&2
    die "the DAG run did not succeed (dags test exit $test_rc, state '$state')"
fi

if [ "$STUB" = 0 ]; then
    "$VENV/bin/python" "$PROJECT_DIR/scripts/check_tables.py" "$LAKEFORGE_LAKEHOUSE" --config "$AIRFLOW_VAR_LAKEFORGE_CONFIG"
fi
say "e2e passed in $((SECONDS - started_at)) s"
