#!/usr/bin/env bash
# Install prometheus, promtool and prometheus-node-exporter from Debian's packages when missing (root only).
# shellcheck source=scripts/observe/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_tools
