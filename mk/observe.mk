# Metrics and alerts targets; the main Makefile does `include mk/observe.mk`.
#   make observe-tools  install prometheus, promtool, prometheus-node-exporter from Debian when missing (root)
#   make observe-rules  promtool: check the sample config and the alert rules, run the alert unit tests
#   make observe-up     node exporter (textfiles of data/lakehouse/_ops/metrics) + Prometheus on 127.0.0.1
#   make observe-down   stop them
#   make observe-test   observe-rules, then tests/observe: a real run scraped by its own stack
# Ports, folders and interval: scripts/observe/lib.sh. Details: docs/operations.md, "Metrics and alerts".

PROJECT_DIR ?= $(CURDIR)
VENV ?= .venv

OBSERVE_SCRIPTS := $(PROJECT_DIR)/scripts/observe
OBSERVE_RUN = PROJECT_DIR="$(PROJECT_DIR)" bash

.PHONY: observe-tools observe-rules observe-up observe-down observe-test

observe-tools:
	@$(OBSERVE_RUN) $(OBSERVE_SCRIPTS)/install.sh

observe-rules: observe-tools
	$(OBSERVE_RUN) $(OBSERVE_SCRIPTS)/rules.sh

observe-up: observe-tools
	$(OBSERVE_RUN) $(OBSERVE_SCRIPTS)/up.sh

observe-down:
	$(OBSERVE_RUN) $(OBSERVE_SCRIPTS)/down.sh

observe-test: install observe-rules
	LAKEFORGE_OBSERVE_REQUIRED=1 $(VENV)/bin/python -m pytest tests/observe $(PYTEST_ARGS)
