#!/usr/bin/env bash
# Stop what `make airflow-up` started: SIGTERM each Airflow process from its pid file (then its
# process group, SIGKILL as a last resort), then stop the private PostgreSQL cluster.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

group_alive() {  # a live (not zombie) process whose process group is $1; /proc, as procps may be missing
    local stat rest
    for stat in /proc/[0-9]*/stat; do
        { read -r rest <"$stat"; } 2>/dev/null || continue
        rest="${rest##*) }"  # fields after "pid (comm) ": state ppid pgrp ...
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

stop_daemon() {
    local name="$1" pid_file="$RUN_DIR/$1.pid" pid
    [ -f "$pid_file" ] || return 0
    pid="$(cat "$pid_file")"
    if pid_alive "$pid_file"; then
        say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        wait_for 60 kill -0 "$pid" 2>/dev/null || say "$name did not stop within 60 s"
    fi
    # Its children (LocalExecutor workers, API workers) share its process group.
    if group_alive "$pid"; then
        say "ending what is left of $name's process group"
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait_for 10 group_alive "$pid" || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

for name in dag-processor scheduler api-server; do
    stop_daemon "$name"
done

if [ -z "$EXTERNAL_DB" ] && [ -n "$(_pg_bindir)" ]; then
    pg_setup
    pg_stop
fi
say "stopped"
