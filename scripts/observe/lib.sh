# shellcheck shell=bash disable=SC2034  # its variables are used by the scripts that source it
# Shared by scripts/observe/*.sh (sourced, not run): paths, ports, installing Prometheus.
#
# Inputs (all optional):
#   PROJECT_DIR                    project root (default: two levels above this file)
#   LAKEFORGE_OBSERVE_DIR          state: rendered config, TSDB, logs, pid files (default .observe)
#   LAKEFORGE_METRICS_DIR          the folder of lakeforge_<command>.prom files the node exporter serves
#                                  (default data/lakehouse/_ops/metrics, where `make run` writes them)
#   LAKEFORGE_NODE_EXPORTER_PORT   node exporter port on 127.0.0.1 (19100)
#   LAKEFORGE_PROMETHEUS_PORT      Prometheus port on 127.0.0.1 (19090)
#   LAKEFORGE_SCRAPE_INTERVAL      scrape and rule evaluation interval of the local stack (5s)

set -euo pipefail

PROJECT_DIR="$(cd "${PROJECT_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)"
DEPLOY_DIR="$PROJECT_DIR/deploy/prometheus"
STATE_DIR="${LAKEFORGE_OBSERVE_DIR:-$PROJECT_DIR/.observe}"
METRICS_DIR="${LAKEFORGE_METRICS_DIR:-$PROJECT_DIR/data/lakehouse/_ops/metrics}"
NODE_PORT="${LAKEFORGE_NODE_EXPORTER_PORT:-19100}"
PROM_PORT="${LAKEFORGE_PROMETHEUS_PORT:-19090}"
SCRAPE_INTERVAL="${LAKEFORGE_SCRAPE_INTERVAL:-5s}"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"

PROMETHEUS_BIN=/usr/bin/prometheus
PROMTOOL_BIN=/usr/bin/promtool
NODE_EXPORTER_BIN=/usr/bin/prometheus-node-exporter

say() { printf '[observe] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Install Debian's prometheus (prometheus, promtool) and prometheus-node-exporter when missing.
# Only as root; the packages' own services are not needed (our daemons run on other ports).
ensure_tools() {
    local missing=()
    [ -x "$PROMETHEUS_BIN" ] && [ -x "$PROMTOOL_BIN" ] || missing+=(prometheus)
    [ -x "$NODE_EXPORTER_BIN" ] || missing+=(prometheus-node-exporter)
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] ||
        die "${missing[*]} not installed: run 'sudo apt-get install -y --no-install-recommends ${missing[*]}'"
    command -v apt-get >/dev/null || die "${missing[*]} not installed and no apt-get here: install them by hand"
    say "installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_in_use() {
    python3 -c "import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)) != 0)"
}
