#!/usr/bin/env bash
# Stop what up.sh started: SIGTERM both from their pid files, then wait (SIGKILL after 15 s). State stays
# in $LAKEFORGE_OBSERVE_DIR; remove that folder to forget it.
# shellcheck source=scripts/observe/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stopping=()
for name in prometheus node-exporter; do
    pid_file="$RUN_DIR/$name.pid"
    if pid_alive "$pid_file"; then
        pid="$(cat "$pid_file")"
        say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        stopping+=("$name:$pid")
    fi
done
for entry in "${stopping[@]}"; do
    name="${entry%%:*}" pid="${entry#*:}"
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop within 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
rm -f "$RUN_DIR/prometheus.pid" "$RUN_DIR/node-exporter.pid"
say "stopped"
