#!/bin/sh
# A stand-in for the `lakeforge` CLI in DAG tests: records how it was called, exits as told.
#   FAKE_LAKEFORGE_EXIT       exit code (default 0)
#   FAKE_LAKEFORGE_FAIL_CMD   if set, only this --cmd exits with FAKE_LAKEFORGE_EXIT; others exit 0
#   FAKE_LAKEFORGE_ARGS_FILE  append "<args>" (one line per call)
#   FAKE_LAKEFORGE_ENV_FILE   write the environment the CLI was started with, exactly as received:
#                             /proc/<pid>/environ, NAME=value entries each ended by a NUL byte
#   FAKE_LAKEFORGE_SLEEP      start a child `sleep N` (standing in for a Spark JVM) and wait for it
#   FAKE_LAKEFORGE_PID_FILE   write "<this pid> <child pid>" once the child runs
# These come from the environment or, since a DAG task passes the CLI only an allow-listed
# environment, from "<this script's path>.settings": shell assignments, read if the file exists.
# shellcheck source=/dev/null  # written by each test beside this script
[ -f "$0.settings" ] && . "$0.settings"

cmd=""
prev=""
for arg in "$@"; do
    [ "$prev" = "--cmd" ] && cmd="$arg"
    prev="$arg"
done

echo "fake lakeforge: $*"
[ -n "${FAKE_LAKEFORGE_ARGS_FILE:-}" ] && printf '%s\n' "$*" >> "$FAKE_LAKEFORGE_ARGS_FILE"
[ -n "${FAKE_LAKEFORGE_ENV_FILE:-}" ] && cat "/proc/$$/environ" > "$FAKE_LAKEFORGE_ENV_FILE"

if [ -n "${FAKE_LAKEFORGE_SLEEP:-}" ]; then
    sleep "$FAKE_LAKEFORGE_SLEEP" &
    child=$!
    [ -n "${FAKE_LAKEFORGE_PID_FILE:-}" ] && echo "$$ $child" > "$FAKE_LAKEFORGE_PID_FILE"
    wait "$child"
fi

code="${FAKE_LAKEFORGE_EXIT:-0}"
if [ -n "${FAKE_LAKEFORGE_FAIL_CMD:-}" ] && [ "$cmd" != "$FAKE_LAKEFORGE_FAIL_CMD" ]; then
    code=0
fi
echo "progress: cmd=$cmd" >&2
[ "$code" -ne 0 ] && echo "fake lakeforge $cmd: failing with exit $code as asked" >&2
exit "$code"
