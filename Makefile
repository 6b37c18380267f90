# roadmap-warehouse: the commands users type (docs/INTERFACE.md).
#   make setup      .venv from the pinned lock file, nothing else
#   make demo       sample landing data -> nightly run -> warehouse + annual review
#   make test       the whole test suite, what CI runs (creates .venv first if missing), after
#                   `make check`: ~22 minutes on two cores
#   make test-fast  the fast tier, for the edit-test loop: the tests marked `fast`, each file's
#                   quickest meaningful ones (under 2 minutes on two cores): no Prefect
#                   server, no warehouse of the whole pipeline
#   make check      ruff (lint and format check of the Python code) and sqlfluff (the dbt SQL),
#                   no tests

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA := data
KEY_FILE := $(DATA)/.pseudonym_key
PYTEST_ARGS ?=

.PHONY: test-a11y-deps setup demo check test test-fast test-system-deps test-compat-clients lock lock-compat docs clean-data

setup: $(STAMP)

# The product (pyproject.toml) and, beside it, the demo data generator (tools/pyproject.toml:
# `roadmap generate`, `make demo`, bench/ and the tests use it; the runtime image does not
# hold it). Both editable, from what requirements.lock installed: nothing is resolved.
$(STAMP): requirements.lock pyproject.toml tools/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . -e ./tools
	$(BIN)/python -m pip check
	@touch $@

# The demo keeps its own pseudonym key in data/.pseudonym_key (never committed).
# In production set ROADMAP_PSEUDONYM_KEY from your secret store instead.
$(KEY_FILE):
	@mkdir -p $(DATA)
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_hex(32))' > $@
	@echo "made a local pseudonym key for the demo: $@"

# The console shows a short summary; every detail of the run is in the log file it names.
# DEMO_GENERATE: more options for `roadmap generate` (the tests make a smaller state).
DEMO_GENERATE ?=
demo: setup $(KEY_FILE)
	@if [ -z "$$(ls -A $(DATA)/landing 2>/dev/null)" ]; then \
		$(BIN)/roadmap generate --out $(DATA)/landing --seed 42 --defects 0.01 --manifest $(DATA)/landing_manifest.json --quiet $(DEMO_GENERATE); \
	else echo "landing folder $(DATA)/landing already has files: not generating again"; fi
	@ROADMAP_PSEUDONYM_KEY=$${ROADMAP_PSEUDONYM_KEY:-$$(cat $(KEY_FILE))} ROADMAP_SETTLE_SECONDS=$${ROADMAP_SETTLE_SECONDS:-0} \
		$(BIN)/roadmap nightly --landing $(DATA)/landing --warehouse $(DATA)/warehouse/roadmap.duckdb --no-report
	@$(BIN)/roadmap report --warehouse $(DATA)/warehouse/roadmap.duckdb --out $(DATA)/reports --exports
	@echo
	@echo "landing files : $(abspath $(DATA))/landing"
	@echo "warehouse     : $(abspath $(DATA))/warehouse/roadmap.duckdb   (query it read-only: $(BIN)/roadmap sql)"
	@echo "marts, Parquet: $(abspath $(DATA))/warehouse/parquet/current/"
	@echo "annual review : $(abspath $(DATA))/reports/"

# ruff (pinned in requirements.lock, settings in pyproject.toml) over the whole project:
# lint, then the formatting (`$(BIN)/ruff format` applies it); sqlfluff (pinned too,
# settings in dbt_project/.sqlfluff) over the dbt project's SQL (`$(BIN)/sqlfluff fix
# dbt_project` applies it). Seconds, no tests.
check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project --disable-progress-bar --nocolor

# Debian's chromium renders the report in a test, and Debian's postgresql serves the
# Prefect server of the production rehearsal (a throw-away cluster made by the test);
# installed here, not downloaded by a tool.
test-system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
			|| echo "could not install$$missing: the tests that need it cannot pass"; \
		else echo "missing:$$missing (apt-get install$$missing): the tests that need it cannot pass"; fi; \
	fi

# DuckDB 1.x clients (Python package and CLI), each in its own venv from a hash-pinned
# lock in tests/compat/: tests/test_warehouse_compat.py opens the published warehouse
# with them (docs/ARCHITECTURE.md, storage version).
COMPAT_VERSIONS := 1.4 1.5
COMPAT_STAMPS := $(foreach v,$(COMPAT_VERSIONS),.venv-compat/duckdb-$(v)/.installed)

test-compat-clients: $(COMPAT_STAMPS)

.venv-compat/duckdb-%/.installed: tests/compat/duckdb-%.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	rm -rf .venv-compat/duckdb-$*
	$(PYTHON) -m venv .venv-compat/duckdb-$*
	.venv-compat/duckdb-$*/bin/python -m pip install --quiet --require-hashes --no-deps -r $<
	@touch $@

# playwright-core and axe-core (npm, exact versions from tests/a11y/package-lock.json)
# drive Debian's chromium for tests/test_accessibility.py; no browser is downloaded.
test-a11y-deps: tests/a11y/node_modules/.installed

tests/a11y/node_modules/.installed: tests/a11y/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
		else echo "missing: nodejs npm (apt-get install nodejs npm)"; fi; }
	@(cd tests/a11y && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent) && touch $@ \
		|| echo "could not install tests/a11y (npm ci): tests/test_accessibility.py cannot pass"

# Three workers (pytest-xdist) on two cores: the rehearsals and the mail-deadline tests
# mostly wait (for a schedule's next minute, a slow server), so a third file keeps the
# cores busy meanwhile. One test file per worker at a time, in the order of
# tests/conftest.py (longest first: xdist's own order, most tests first, would start the
# one-test rehearsals last); the tests start their own servers on free ports and work
# in their own temporary folders.
# PYTHONDONTWRITEBYTECODE is emptied for the tests: pytest keeps its rewritten test modules
# in tests/__pycache__ only if it may write bytecode (collection of every file on each worker
# takes twice as long without).
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest
test: setup check test-system-deps test-compat-clients test-a11y-deps
	$(PYTEST) $(XDIST) --durations=30 $(PYTEST_ARGS)

# The fast tier: the tests marked `@pytest.mark.fast` (tests/conftest.py checks that every
# test file has one, or says why not). Short tests that compute all the time: one worker per
# core; one file per worker at a time, so a file's module fixture (the tiny warehouse dbt
# builds for tests/test_metrics.py) is built once.
FAST_WORKERS ?= 2
test-fast: setup
	$(PYTEST) -n $(FAST_WORKERS) --dist loadfile -m fast --durations=10 $(PYTEST_ARGS)

lock-compat:
	for v in $(COMPAT_VERSIONS); do \
		uv pip compile tests/compat/duckdb-$$v.in --python-version 3.11 --generate-hashes -o tests/compat/duckdb-$$v.lock; \
	done

docs: setup
	$(BIN)/roadmap docs

# requirements.lock: everything (tests and the build backend too), for .venv;
# requirements-runtime.lock: the same versions without the test and build extras, for the
# Docker image.
lock:
	uv pip compile pyproject.toml --extra test --extra build --python-version 3.11 --generate-hashes -o requirements.lock
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -c requirements.lock -o requirements-runtime.lock

clean-data:
	rm -rf $(DATA)
