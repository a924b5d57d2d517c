# The run report and offline data docs; the main Makefile does `include mk/report.mk`.
#   make web-assets  the data docs' CSS/JS (Bootstrap, jQuery, Font Awesome, Vega, ...) from the npm registry
#                    into ~/.cache/lakeforge/web (LAKEFORGE_ASSETS_CACHE), checked against pinned sha512;
#                    `make install` does it too. Runs copy them beside the docs: no CDN, no network.
#   make chromium    Debian's chromium (headless browser of tests/integration/test_report.py), when missing
#   make report      the HTML report of the last run in $(CONFIG) to $(REPORT) (no Spark)
# Details: docs/operations.md, "The run report".

VENV ?= .venv
REPORT ?= data/report.html

.PHONY: web-assets chromium report

web-assets: install
	$(VENV)/bin/lakeforge fetch-assets

chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "chromium is not installed: run 'sudo apt-get install -y --no-install-recommends chromium'" >&2; \
			exit 1; \
		fi; \
		echo "[report] installing chromium from Debian's packages" >&2; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q >&2 && apt-get install -y -q --no-install-recommends chromium >&2; \
	fi

report: install
	$(VENV)/bin/lakeforge report --config $(CONFIG) --env $(ENV) --out $(REPORT)
