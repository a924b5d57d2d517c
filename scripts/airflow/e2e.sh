#!/usr/bin/env bash
# End-to-end: run lakeforge_medallion with `airflow dags test` on generated data against
# PostgreSQL, then check the six Delta tables and the DAG run's state. Needs no running stack:
# it starts PostgreSQL itself when needed (and stops it again), runs `airflow db migrate`, and
# works in a fresh temp dir, so it can be rerun at will.
#
#   LAKEFORGE_E2E_LOGICAL_DATE  logical date of the run (2024-01-01)
#   LAKEFORGE_E2E_KEEP=1        keep the temp dir (landing + lakehouse) for a look afterwards
#   LAKEFORGE_CLI=<stub>        run the DAG against a stand-in CLI: no data generation, no table checks
#   LAKEFORGE_E2E_REMOTE=1      the tasks run through a Spark Connect server started here (`lakeforge
#                               server`, its own state dir and port): no task starts a JVM
#   LAKEFORGE_E2E_RUNS=N        N DAG runs in a row (logical dates a day apart), each on the next of N
#                               deliveries of the landing files; each must succeed with no task retried
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
SERVER_STARTED_HERE=0
REMOTE="${LAKEFORGE_E2E_REMOTE:-0}"
RUNS="${LAKEFORGE_E2E_RUNS:-1}"
cleanup() {
    local code=$?
    if [ "${LAKEFORGE_E2E_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    if [ "$SERVER_STARTED_HERE" = 1 ]; then
        LAKEFORGE_STATE_DIR="$WORK.state" "$VENV/bin/lakeforge" server stop >&2 || true
        rm -rf "$WORK.state"
    fi
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
    say "generating sample data into $WORK/generated"
    "$REAL_CLI" generate --scale 0.01 --seed 7 --out "$WORK/generated" >/dev/null
fi
if [ "$REMOTE" = 1 ]; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    SERVER_STARTED_HERE=1
    start_connect_server "$WORK.state" "$port"
    export AIRFLOW_VAR_LAKEFORGE_SPARK_REMOTE="$LAKEFORGE_SPARK_REMOTE"
fi

# deliver SLICE-th of RUNS parts of the generated files (by name: days in order) into the landing zone
deliver() {
    local part="$1" source file i
    for source in customers orders; do
        mkdir -p "$LAKEFORGE_LANDING/$source"
        i=0
        for file in "$WORK/generated/$source"/*.csv; do
            [ $((i * RUNS / 10 + 1)) = "$part" ] && cp "$file" "$LAKEFORGE_LANDING/$source/"
            i=$((i + 1))
        done
    done
}

# embedded Spark drivers (PySpark starts them as `... pyspark-shell`) still alive: a task must leave none
stray_java() {
    local pid
    for pid in $(pgrep -x java || true); do
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q pyspark-shell; then echo "$pid"; fi
    done
}

# seconds since a `date +%s.%N` stamp, to a tenth
elapsed_since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

# dag_run_seconds LOGICAL_DATE: the span of this DAG's run at that logical date as Airflow recorded it,
# from its creation (run_after: `dags test` sets start_date to the logical date) to its end_date; or "?"
dag_run_seconds() {
    "$AIRFLOW_BIN" dags list-runs "$DAG_ID" -o json 2>/dev/null | python3 -c '
import json, sys
from datetime import datetime
want = datetime.fromisoformat(sys.argv[1])
runs = []
for line in sys.stdin.read().splitlines():  # the JSON list is one line; warnings may come before it
    if line.startswith("[{") or line.strip() == "[]":
        try:
            runs = json.loads(line)
        except ValueError:
            pass
for run in runs:
    logical = run.get("logical_date")
    if logical and datetime.fromisoformat(logical) == want and run.get("run_after") and run.get("end_date"):
        span = datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["run_after"])
        print(f"{span.total_seconds():.1f}")
        break
else:
    print("?")
' "$1"
}

for run in $(seq 1 "$RUNS"); do
    date_of_run="$(date -u -d "$LOGICAL_DATE + $((run - 1)) days" +%Y-%m-%d)"
    [ "$STUB" = 0 ] && deliver "$run"
    log="$LOG_DIR/e2e-dags-test-$run.log"
    say "run $run/$RUNS: airflow dags test $DAG_ID $date_of_run (log: $log)"
    test_started="$(date +%s.%N)"
    set +e
    "$AIRFLOW_BIN" dags test "$DAG_ID" "$date_of_run" >"$log" 2>&1
    test_rc=$?
    set -e
    say "dags test exited $test_rc after $(elapsed_since "$test_started") s"
    grep -E "Task instance in (success|failure) state|Marking task as|DagRun Finished|lakeforge .* exit" "$log" >&2 || true

    state="$("$AIRFLOW_BIN" dags state "$DAG_ID" "${date_of_run}T00:00:00+00:00" 2>/dev/null | tail -n 1)"
    say "state of the $DAG_ID run for $date_of_run: $state"
    # the run's own span as Airflow recorded it, without the `airflow dags test` process starting,
    # parsing the DAG and ending around it
    say "dag run took $(dag_run_seconds "${date_of_run}T00:00:00+00:00") s (created to ended, in the metadata database)"
    if [ "$test_rc" -ne 0 ] || [ "$state" != success ]; then
        tail -n 80 "$log" >&2
        die "the DAG run did not succeed (dags test exit $test_rc, state '$state')"
    fi
    if grep -qiE "up_for_retry|marking task as up.for.retry" "$log"; then
        die "run $run: a task was retried (see $log)"
    fi
    if [ "$STUB" = 0 ] && [ -n "$(stray_java)" ]; then
        die "run $run: Spark JVMs left behind by its tasks: $(stray_java)"
    fi
    if [ "$REMOTE" = 1 ] && ! grep -q -- "--remote $LAKEFORGE_SPARK_REMOTE" "$log"; then
        die "run $run: the tasks did not run through $LAKEFORGE_SPARK_REMOTE (see $log)"
    fi
done

if [ "$STUB" = 0 ]; then
    "$VENV/bin/python" "$PROJECT_DIR/scripts/check_tables.py" "$LAKEFORGE_LAKEHOUSE" --config "$AIRFLOW_VAR_LAKEFORGE_CONFIG"
fi
say "e2e passed in $((SECONDS - started_at)) s"
