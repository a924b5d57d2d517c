#!/usr/bin/env bash
# Start a local scrape stack on 127.0.0.1: a node exporter serving the lakeforge_<command>.prom files of
# $LAKEFORGE_METRICS_DIR (textfile collector only) and a Prometheus scraping it every
# $LAKEFORGE_SCRAPE_INTERVAL with deploy/prometheus/alerts.yml loaded. State (rendered config, TSDB, logs,
# pid files) under $LAKEFORGE_OBSERVE_DIR (.observe). Returns once Prometheus is ready and has scraped the
# exporter once. Rerunning it is harmless. Stop it with down.sh (make observe-down).
# shellcheck source=scripts/observe/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_tools
mkdir -p "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/tsdb" "$METRICS_DIR"
METRICS_DIR="$(cd "$METRICS_DIR" && pwd)"

start_daemon() {  # start_daemon NAME PORT COMMAND...
    local name="$1" port="$2"
    shift 2
    local pid_file="$RUN_DIR/$name.pid"
    if pid_alive "$pid_file"; then
        say "$name already running (pid $(cat "$pid_file"))"
        return
    fi
    port_in_use "$port" && die "port $port is already in use: set the port variables (scripts/observe/lib.sh)"
    # setsid: a Ctrl-C in this terminal does not reach it; down.sh stops it from its pid file.
    setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$pid_file"
    say "started $name on 127.0.0.1:$port (pid $!, log: $LOG_DIR/$name.log)"
}

# The sample config with this stack's target and interval; the alert rules beside it.
sed -e "s|localhost:9100|127.0.0.1:$NODE_PORT|" \
    -e "s|scrape_interval: 30s|scrape_interval: $SCRAPE_INTERVAL|" \
    -e "s|evaluation_interval: 30s|evaluation_interval: $SCRAPE_INTERVAL|" \
    "$DEPLOY_DIR/prometheus.yml" >"$STATE_DIR/prometheus.yml"
cp "$DEPLOY_DIR/alerts.yml" "$STATE_DIR/alerts.yml"
"$PROMTOOL_BIN" check config "$STATE_DIR/prometheus.yml" >/dev/null ||
    die "the rendered $STATE_DIR/prometheus.yml is not valid: run '$PROMTOOL_BIN check config $STATE_DIR/prometheus.yml'"

start_daemon node-exporter "$NODE_PORT" "$NODE_EXPORTER_BIN" \
    --web.listen-address="127.0.0.1:$NODE_PORT" \
    --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$METRICS_DIR"
start_daemon prometheus "$PROM_PORT" "$PROMETHEUS_BIN" \
    --config.file="$STATE_DIR/prometheus.yml" \
    --storage.tsdb.path="$STATE_DIR/tsdb" \
    --storage.tsdb.retention.time=2d \
    --web.listen-address="127.0.0.1:$PROM_PORT"

say "waiting for Prometheus on http://127.0.0.1:$PROM_PORT to scrape the node exporter"
python3 - "$PROM_PORT" "$RUN_DIR" <<'PY' || die "the stack did not come up: see $LOG_DIR"
import json, os, sys, time, urllib.parse, urllib.request

port, run_dir = sys.argv[1], sys.argv[2]
query = urllib.parse.urlencode({"query": 'up{job="lakeforge"} == 1'})
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    for name in ("node-exporter", "prometheus"):
        pid = int(open(os.path.join(run_dir, f"{name}.pid")).read())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(f"{name} (pid {pid}) exited")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=5) as r:
            if json.load(r)["data"]["result"]:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("no successful scrape within 60 s")
PY
say "ready: Prometheus http://127.0.0.1:$PROM_PORT, node exporter http://127.0.0.1:$NODE_PORT/metrics, textfiles in $METRICS_DIR"
