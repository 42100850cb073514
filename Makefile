# dockguard: two entry points that work on a fresh Debian machine as root.
#   make audit   create .venv, install dockguard, run `dockguard audit` on the local Docker host: every surface
#                (honours DOCKER_HOST; AUDIT_ARGS passes options, e.g. AUDIT_ARGS="--format html -o audit.html")
#   make test    install what the tests need (apt + pip), run lint, types and the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the integration tests drive for real.
TEST_APT := docker.io busybox-static docker-registry apache2-utils strace libseccomp2 \
            chromium ca-certificates dpkg openssl rpm \
            default-jdk-headless libmaven3-core-java ruby php-cli php-composer-semver \
            liblog4j2-java libcommons-lang3-java libwagon-http-shaded-java db5.3-util binutils python3-dev composer \
            postgresql
AUDIT_ARGS ?=

.PHONY: audit test venv test-deps lint typecheck unit integration bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

venv: $(VENV)/.installed

audit: $(VENV)/.installed
	$(BIN)/dockguard audit $(AUDIT_ARGS)

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

test-deps: $(VENV)/.test-installed
	@missing=""; for p in $(TEST_APT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: test-deps lint
	$(BIN)/pytest -q

unit: $(VENV)/.test-installed
	$(BIN)/pytest -q tests/unit

# Benchmarks print figures and ratios against peers (docker-bench with DOCKER_BENCH_DIR set,
# trivy when on PATH or in peers/venv); they assert nothing.
bench: test-deps
	$(BIN)/python bench/bench_cis.py
	$(BIN)/python bench/bench_image.py
	$(BIN)/python bench/bench_vuln.py
	$(BIN)/python bench/bench_seccomp.py
	$(BIN)/python bench/bench_authz.py
	$(BIN)/python bench/bench_fleet.py
	$(BIN)/python bench/bench_image_coverage.py --bench
	$(BIN)/python bench/bench_registry_scan.py
	$(BIN)/python bench/bench_reports.py
	$(BIN)/python bench/bench_html.py
	$(BIN)/python bench/bench_diff.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build
