#!/usr/bin/env bash
# Stop what `make airflow-up` started: SIGTERM each Airflow process from its pid file (then its
# process group, SIGKILL as a last resort), then stop the private PostgreSQL cluster.
# shellcheck source=scripts/airflow/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

group_alive() {  # a live (not zombie) process whose process group is $1; /proc, as procps may be missing
    local stat rest
    for stat in /proc/[0-9]*/stat; do
        { read -r rest <"$stat"; } 2>/dev/null || continue
        rest="${rest##*) }"  # fields after "pid (comm) ": state ppid pgrp ...
        # shellcheck disable=SC2086  # split the fields on purpose
        set -- "$1" $rest
        [ "$4" = "$1" ] && [ "$2" != Z ] && return 0
    done
    return 1
}

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND fails
    local deadline=$((SECONDS + $1))
    shift
    while "$@" && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
    ! "$@"
}

# SIGTERM all three at once (they take 2-4 s each to shut down), then wait for each.
pids=()
for name in dag-processor scheduler api-server; do
    pid_file="$RUN_DIR/$name.pid"
    if pid_alive "$pid_file"; then
        pid="$(cat "$pid_file")"
        say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$name:$pid")
    elif [ -f "$pid_file" ]; then
        pids+=("$name:$(cat "$pid_file")")  # gone, but its group may not be
    fi
done
for entry in "${pids[@]}"; do
    name="${entry%%:*}" pid="${entry#*:}"
    wait_for 60 kill -0 "$pid" 2>/dev/null || say "$name did not stop within 60 s"
    # Its children (LocalExecutor workers, task processes) share its process group.
    if group_alive "$pid"; then
        say "ending what is left of $name's process group"
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait_for 10 group_alive "$pid" || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
done

if [ -x "$VENV/bin/lakeforge" ]; then
    LAKEFORGE_STATE_DIR="$PROJECT_DIR/.lakeforge" "$VENV/bin/lakeforge" server stop >&2 || true
fi

if [ -z "$EXTERNAL_DB" ] && [ -n "$(_pg_bindir)" ]; then
    pg_setup
    pg_stop
fi
say "stopped"
