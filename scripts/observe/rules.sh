#!/usr/bin/env bash
# Check the Prometheus files of deploy/prometheus with promtool: the sample config, the alert rules, and
# the alert unit tests (alerts_test.yml).
# shellcheck source=scripts/observe/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_tools
cd "$DEPLOY_DIR"
"$PROMTOOL_BIN" check config prometheus.yml
"$PROMTOOL_BIN" check rules alerts.yml
"$PROMTOOL_BIN" test rules alerts_test.yml
