# Packaging targets; the main Makefile does `include mk/package.mk`.
#   make wheel         build dist/lakeforge-<version>-py3-none-any.whl (config, contracts, suites, scaffold, DAGs)
#   make constraints   regenerate requirements/constraints.txt from .venv (after changing a dependency)
#   make test-deploy   the wheel in a fresh virtualenv: --version, init, a full run (tests/deploy/test_wheel.py, ~2 min)
# Details: docs/deploy.md (## Install).

VENV ?= .venv

.PHONY: wheel constraints test-deploy

wheel: install
	rm -rf build dist/lakeforge-*.whl
	$(VENV)/bin/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/lakeforge-*.whl

constraints: install
	{ sed '/^[^#]/,$$d' requirements/constraints.txt; \
	  $(VENV)/bin/python -m pip freeze --exclude-editable; } > requirements/constraints.txt.new
	mv requirements/constraints.txt.new requirements/constraints.txt

test-deploy: install
	$(VENV)/bin/python -m pytest tests/deploy/test_wheel.py $(PYTEST_ARGS)
