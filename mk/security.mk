# Security gate; the main Makefile does `include mk/security.mk` and `make test` depends on `security`.
#   make security   all of the below, 11-31 s here; every tool is a PyPI wheel from `.[dev]` (make install)
#     bandit        src/: no medium or high finding (a `# nosec BXXX` needs a reason on the line above)
#     secrets       detect-secrets over every file git tracks or would track: no finding outside tests/
#     hadolint      the Dockerfile
#     shellcheck    every *.sh and .ci/run
#     manifests     deploy/compose/compose.yaml against the Compose spec's schema, each deploy/k8s overlay
#                   rendered and validated strictly against the Kubernetes schemas, then
#                   tests/deploy/test_compose.py and test_k8s.py (restricted PSS, secrets, probes, limits)
# Details: docs/deploy.md#security-checks.

VENV ?= .venv
SECURITY_BIN := $(VENV)/bin
# Files to scan: tracked, or new and not ignored (so a file not yet added is scanned too).
SECURITY_FILES = git ls-files -z --cached --others --exclude-standard
# Findings allowed only in test fixtures. SRI integrity hashes (sha512-..., public) are not secrets.
SECRETS_ALLOWED_PATHS := ^tests/
SECRETS_EXCLUDE_LINES := sha512-[A-Za-z0-9+/]{86}==

.PHONY: security security-bandit security-secrets security-hadolint security-shellcheck security-manifests

security: install
	@started=$$SECONDS; \
	$(MAKE) --no-print-directory security-bandit security-secrets security-hadolint security-shellcheck \
		security-manifests && echo "security: all checks passed in $$((SECONDS - started)) s"

security-bandit: install
	@echo "security: bandit (src/, medium and high)"
	@$(SECURITY_BIN)/bandit --quiet --recursive src --severity-level medium 2>&1 | grep -v '^\[tester\]\|^\[manager\]' ; \
		exit $${PIPESTATUS[0]}

security-secrets: install
	@echo "security: detect-secrets (every file outside $(SECRETS_ALLOWED_PATHS))"
	@$(SECURITY_FILES) | xargs -0 -r sh -c 'for f; do [ -f "$$f" ] && printf "%s\0" "$$f"; done' _ | \
		xargs -0 -r $(SECURITY_BIN)/detect-secrets-hook --exclude-files '$(SECRETS_ALLOWED_PATHS)' \
			--exclude-lines '$(SECRETS_EXCLUDE_LINES)' || \
		{ echo "security: detect-secrets found the above (a false positive: '# pragma: allowlist secret' on its line)"; exit 1; }

security-hadolint: install
	@echo "security: hadolint Dockerfile"
	@$(SECURITY_BIN)/hadolint Dockerfile

security-shellcheck: install
	@echo "security: shellcheck (*.sh, .ci/run)"
	@$(SECURITY_FILES) | grep -zE '(\.sh|^\.ci/run)$$' | xargs -0 -r $(SECURITY_BIN)/shellcheck -x

security-manifests: install
	@echo "security: compose schema, kustomize overlays against the Kubernetes schemas, deploy tests"
	@$(SECURITY_BIN)/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
	@# kubernetes-validate bundles no schema for the Spark operator's SparkApplication (test_k8s.py checks it)
	@rendered="$$(mktemp)"; trap 'rm -f "$$rendered"' EXIT; \
	for overlay in deploy/k8s/overlays/*/; do \
		$(SECURITY_BIN)/kubectl kustomize "$$overlay" >"$$rendered" || exit 1; \
		out="$$($(SECURITY_BIN)/kubernetes-validate --strict --quiet "$$rendered" 2>&1)"; rc=$$?; \
		printf '%s\n' "$$out" | grep -v "^$$\|Couldn't find schema for kind SparkApplication" || true; \
		[ "$$rc" = 0 ] || { echo "$$overlay: invalid"; exit 1; }; \
		echo "$$overlay: every object valid (kubernetes-validate --strict)"; \
	done
	@$(SECURITY_BIN)/python -m pytest tests/deploy/test_compose.py tests/deploy/test_k8s.py -q -p no:cacheprovider
