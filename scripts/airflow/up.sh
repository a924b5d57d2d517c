#!/usr/bin/env bash
# Start the local stack: PostgreSQL, `airflow db migrate`, then the API server, scheduler and
# dag-processor (LocalExecutor), each in its own session with a pid file in .airflow/run/.
# Returns once GET /api/v2/monitor/health reports them healthy. Rerunning it is harmless.
# shellcheck source=scripts/airflow/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_airflow_venv
started_at=$SECONDS

if ! pid_alive "$RUN_DIR/api-server.pid" &&
    python3 -c "import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $API_PORT)) != 0)"; then
    die "port $API_PORT is already in use by another program: set LAKEFORGE_AIRFLOW_PORT"
fi

prepare_database

# The warm Spark driver the DAG's tasks share: the scheduler's task processes inherit
# LAKEFORGE_SPARK_REMOTE and LAKEFORGE_STATE_DIR (where the server's token is).
if [ "${LAKEFORGE_AIRFLOW_REMOTE:-1}" = 1 ]; then
    start_connect_server "$PROJECT_DIR/.lakeforge" "$CONNECT_PORT"
fi

start_daemon() {
    local name="$1"
    shift
    local pid_file="$RUN_DIR/$name.pid"
    if pid_alive "$pid_file"; then
        say "$name already running (pid $(cat "$pid_file"))"
        return
    fi
    # setsid: a Ctrl-C in this terminal does not reach it, and `make airflow-down` can end its group.
    setsid "$AIRFLOW_BIN" "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$pid_file"
    say "started $name (pid $!, log: $LOG_DIR/$name.log)"
}

start_daemon api-server api-server --host "$API_HOST" --port "$API_PORT"
start_daemon scheduler scheduler
start_daemon dag-processor dag-processor

say "waiting for $HEALTH_URL"
"$AIRFLOW_VENV/bin/python" - "$HEALTH_URL" "$RUN_DIR" <<'PY' || {
import json, os, sys, time, urllib.request

url, run_dir = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 180
problem = "no answer yet"
while time.monotonic() < deadline:
    for name in ("api-server", "scheduler", "dag-processor"):
        pid = int(open(os.path.join(run_dir, f"{name}.pid")).read())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(f"{name} (pid {pid}) exited")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            health = json.load(response)
        problem = {
            part: (health.get(part) or {}).get("status")
            for part in ("metadatabase", "scheduler", "dag_processor")
            if (health.get(part) or {}).get("status") != "healthy"
        }
        if not problem:
            print(json.dumps(health))
            sys.exit(0)
    except OSError as err:
        problem = str(err)
    time.sleep(1)
sys.exit(f"not healthy after 180 s: {problem}")
PY
    for name in api-server scheduler dag-processor; do
        say "--- last lines of $LOG_DIR/$name.log"
        tail -n 15 "$LOG_DIR/$name.log" >&2 || true
    done
    die "the stack is not healthy; 'make airflow-down' stops what started"
}

say "healthy after $((SECONDS - started_at)) s: http://localhost:$API_PORT (user admin, password:"
say "  LAKEFORGE_AIRFLOW_ADMIN_PASSWORD, from your environment or $SECRETS_FILE)"
