# shellcheck shell=bash disable=SC2034  # its variables are used by the scripts that source it
# Shared by scripts/airflow/*.sh (sourced, not run): paths, secrets, PostgreSQL and Airflow settings.
#
# Inputs (all optional):
#   PROJECT_DIR                      project root (default: two levels above this file)
#   VENV                             the pipeline's virtualenv, relative to PROJECT_DIR or absolute (.venv)
#   LAKEFORGE_AIRFLOW_DB_PASSWORD    password of the `airflow` database role  } generated into
#   LAKEFORGE_AIRFLOW_ADMIN_PASSWORD password of the UI/API user `admin`      } .airflow/secrets.env
#   LAKEFORGE_AIRFLOW_DB_PORT        port of the private PostgreSQL cluster (55432)
#   LAKEFORGE_AIRFLOW_PORT           API server port (8080)
#   LAKEFORGE_AIRFLOW_HOST           API server bind address (127.0.0.1)
#   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN  use this database instead of the private cluster
#   LAKEFORGE_CLI                    the CLI the DAGs call (default: $VENV/bin/lakeforge)
#   LAKEFORGE_AIRFLOW_REMOTE         1 (default): the tasks run through a warm Spark Connect server that
#                                    airflow-up starts (`lakeforge server`); 0: each task its own Spark
#   LAKEFORGE_CONNECT_PORT           that server's loopback port (15002)

set -euo pipefail

PROJECT_DIR="$(cd "${PROJECT_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$PROJECT_DIR/$VENV" ;; esac

STATE_DIR="$PROJECT_DIR/.airflow"
AIRFLOW_VENV="$STATE_DIR/venv"
AIRFLOW_BIN="$AIRFLOW_VENV/bin/airflow"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
SECRETS_FILE="$STATE_DIR/secrets.env"
API_PORT="${LAKEFORGE_AIRFLOW_PORT:-8080}"
API_HOST="${LAKEFORGE_AIRFLOW_HOST:-127.0.0.1}"
PG_PORT="${LAKEFORGE_AIRFLOW_DB_PORT:-55432}"
AIRFLOW_DB_NAME="${AIRFLOW_DB_NAME:-airflow}"  # e2e.sh uses airflow_e2e: no clash with a running stack
HEALTH_URL="http://localhost:$API_PORT/api/v2/monitor/health"
CONNECT_PORT="${LAKEFORGE_CONNECT_PORT:-15002}"
# Set before lib.sh touched it: then the database is someone else's and we start no cluster.
EXTERNAL_DB="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}"

say() { printf '[airflow] %s\n' "$*" >&2; }

# start_connect_server STATE_DIR PORT: a Spark Connect server for the tasks (pid, log, token in
# STATE_DIR/server), started from the project folder with the project's config; exported for the DAG.
start_connect_server() {
    local state="$1" port="$2"
    export LAKEFORGE_STATE_DIR="$state"
    if ! "$VENV/bin/lakeforge" server status >/dev/null 2>&1; then
        (cd "$PROJECT_DIR" && "$VENV/bin/lakeforge" server start --port "$port" \
            --config "${LAKEFORGE_CONFIG:-$PROJECT_DIR/config/local.yaml}" --env "${LAKEFORGE_ENV:-local}") >&2
    fi
    export LAKEFORGE_SPARK_REMOTE="sc://localhost:$port"
}
die() { say "ERROR: $*"; exit 1; }

require_airflow_venv() {
    [ -x "$AIRFLOW_BIN" ] || die "no Airflow virtualenv at $AIRFLOW_VENV: run 'make airflow-venv'"
}

# --- secrets ---------------------------------------------------------------------------------

_random_token() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
_random_fernet() { python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'; }

# Export each secret from the environment if set, else from .airflow/secrets.env, else generate it
# there (mode 600). Generated values are URL-safe, so the file stays a plain KEY=value list.
load_secrets() {
    mkdir -p "$STATE_DIR"
    (umask 077 && touch "$SECRETS_FILE")
    chmod 600 "$SECRETS_FILE"
    local key value generator
    for key in LAKEFORGE_AIRFLOW_DB_PASSWORD LAKEFORGE_AIRFLOW_ADMIN_PASSWORD \
        LAKEFORGE_AIRFLOW_JWT_SECRET LAKEFORGE_AIRFLOW_API_SECRET_KEY LAKEFORGE_AIRFLOW_FERNET_KEY; do
        value="${!key:-}"
        if [ -z "$value" ]; then
            value="$(sed -n "s/^$key=//p" "$SECRETS_FILE" | tail -n 1)"
        fi
        if [ -z "$value" ]; then
            generator=_random_token
            [ "$key" = LAKEFORGE_AIRFLOW_FERNET_KEY ] && generator=_random_fernet
            value="$($generator)"
            printf '%s=%s\n' "$key" "$value" >>"$SECRETS_FILE"
            say "generated $key into $SECRETS_FILE"
        fi
        export "$key=$value"
    done
}

# --- PostgreSQL (a private cluster under .airflow/pg, run by a non-root OS user) -------------

_pg_bindir() {
    local version="${1:-}"
    if [ -n "$version" ] && [ -x "/usr/lib/postgresql/$version/bin/initdb" ]; then
        echo "/usr/lib/postgresql/$version/bin"
        return
    fi
    find /usr/lib/postgresql -mindepth 2 -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null |
        sort -V | tail -n 1 | xargs -r dirname
}

# Install Debian's PostgreSQL if missing; choose the OS user that runs it; set PG_* paths.
pg_setup() {
    if [ -z "$(_pg_bindir)" ]; then
        [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed: run 'sudo apt-get install -y postgresql'"
        say "installing PostgreSQL from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends postgresql >&2
    fi

    if [ "$(id -u)" = 0 ]; then  # postgres refuses to run as root
        PG_OS_USER=postgres
        if ! id -u postgres >/dev/null 2>&1; then
            useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres
        fi
    else
        PG_OS_USER="$(id -un)"
    fi

    PG_ROOT="$STATE_DIR/pg"
    mkdir -p "$PG_ROOT"
    [ "$(id -u)" = 0 ] && chown "$PG_OS_USER:" "$PG_ROOT"
    if ! as_pg test -w "$PG_ROOT"; then  # e.g. a project under /root, which postgres cannot enter
        PG_ROOT="/var/lib/postgresql/lakeforge-$(printf %s "$PROJECT_DIR" | sha1sum | cut -c1-12)"
        say "user $PG_OS_USER cannot reach $STATE_DIR; the cluster lives in $PG_ROOT"
        mkdir -p "$PG_ROOT"
        chown "$PG_OS_USER:" "$PG_ROOT"
    fi
    PG_DATA="$PG_ROOT/data"
    PG_LOG="$PG_ROOT/postgres.log"
    PG_SOCKET_DIR="$PG_ROOT/run"
    if [ "${#PG_SOCKET_DIR}" -gt 90 ]; then  # unix socket paths are limited to 107 bytes
        PG_SOCKET_DIR="/tmp/lakeforge-pg-$(printf %s "$PROJECT_DIR" | sha1sum | cut -c1-12)"
    fi
    local version=""
    [ -f "$PG_DATA/PG_VERSION" ] && version="$(cat "$PG_DATA/PG_VERSION")"
    PG_BIN="$(_pg_bindir "$version")"
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

pg_running() {
    [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# Start the private cluster unless it runs; sets PG_STARTED_HERE=1 when this call started it.
pg_start() {
    PG_STARTED_HERE=0
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        say "initialising a PostgreSQL cluster in $PG_DATA"
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_OS_USER" -E UTF8 --no-locale \
            --auth-local=peer --auth-host=scram-sha-256 >"$PG_ROOT/initdb.log"
        echo "include_if_exists = 'lakeforge.conf'" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    if pg_running; then
        say "PostgreSQL already running (port $PG_PORT)"
        return
    fi
    as_pg mkdir -p "$PG_SOCKET_DIR"
    # Rewritten at every start, so a moved project or a new port takes effect.
    printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" \
        "$PG_PORT" "$PG_SOCKET_DIR" | as_pg tee "$PG_DATA/lakeforge.conf" >/dev/null
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null; then
        tail -n 20 "$PG_LOG" >&2 || true
        die "PostgreSQL did not start (is port $PG_PORT taken? set LAKEFORGE_AIRFLOW_DB_PORT)"
    fi
    PG_STARTED_HERE=1
}

pg_stop() {
    if pg_running; then
        say "stopping PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    fi
}

# Create the `airflow` role and its database $AIRFLOW_DB_NAME if missing; (re)set the password.
pg_ensure_airflow_db() {
    # \getenv keeps the password off every command line.
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_OS_USER" \
        -d postgres -v db="$AIRFLOW_DB_NAME" <<'SQL'
\getenv airflow_password LAKEFORGE_AIRFLOW_DB_PASSWORD
SELECT 'CREATE ROLE airflow LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'airflow') \gexec
ALTER ROLE airflow WITH LOGIN PASSWORD :'airflow_password';
SELECT format('CREATE DATABASE %I OWNER airflow', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

# --- Airflow ---------------------------------------------------------------------------------

# Export the Airflow configuration every command shares (call load_secrets first).
airflow_env() {
    export AIRFLOW_HOME="$STATE_DIR/home"
    mkdir -p "$AIRFLOW_HOME" "$RUN_DIR" "$LOG_DIR"
    export AIRFLOW__CORE__DAGS_FOLDER="$PROJECT_DIR/dags"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__EXECUTOR=LocalExecutor
    export AIRFLOW__CORE__PARALLELISM=4
    export AIRFLOW__CORE__FERNET_KEY="$LAKEFORGE_AIRFLOW_FERNET_KEY"
    export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/simple_auth_manager_passwords.json"
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$API_PORT/execution/"
    export AIRFLOW__API__SECRET_KEY="$LAKEFORGE_AIRFLOW_API_SECRET_KEY"
    export AIRFLOW__API_AUTH__JWT_SECRET="$LAKEFORGE_AIRFLOW_JWT_SECRET"
    if [ -z "$EXTERNAL_DB" ]; then
        local password
        password="$(python3 -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["LAKEFORGE_AIRFLOW_DB_PASSWORD"], safe=""))')"
        export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow:$password@127.0.0.1:$PG_PORT/$AIRFLOW_DB_NAME"
    fi
    # What the DAGs read (see dags/lakeforge_common.py); Airflow Variables override them.
    export LAKEFORGE_PROJECT_DIR="$PROJECT_DIR"
    export LAKEFORGE_CLI="${LAKEFORGE_CLI:-$VENV/bin/lakeforge}"

    # The admin's password, in the simple auth manager's file format (it adds none for known users).
    (umask 077 && python3 -c 'import json, os, sys; json.dump({"admin": os.environ["LAKEFORGE_AIRFLOW_ADMIN_PASSWORD"]}, sys.stdout)' \
        >"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
}

# PostgreSQL up, role and database there, schema migrated: all any Airflow command needs.
prepare_database() {
    load_secrets
    if [ -z "$EXTERNAL_DB" ]; then
        pg_setup
        pg_start
        pg_ensure_airflow_db
    else
        PG_STARTED_HERE=0
        say "using the database in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN (no private cluster)"
    fi
    airflow_env
    say "airflow db migrate"
    "$AIRFLOW_BIN" db migrate >"$LOG_DIR/db-migrate.log" 2>&1 || {
        tail -n 30 "$LOG_DIR/db-migrate.log" >&2
        die "airflow db migrate failed (log: $LOG_DIR/db-migrate.log)"
    }
}

# A pid file whose process is alive and still an Airflow command (not a reused pid).
pid_alive() {
    local file="$1" pid
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q airflow
}
