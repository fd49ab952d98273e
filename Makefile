# Encompass: `make run` (the embedded demo) and `make test` (the whole suite on PostgreSQL + Redis).
# See README.md and docs/testing.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.encompass-installed
PORT ?= $(or $(ENCOMPASS_PORT),8000)
# How the fleet simulator of `make run` takes updates: native, ddi (hawkBit, as SWUpdate) or mixed.
SIM_PROTOCOL ?= mixed
VAR_DIR := $(or $(ENCOMPASS_VAR_DIR),var)
CREDENTIALS := $(VAR_DIR)/demo-credentials.txt

# The embedded default: SQLite under var/, in-memory channel layer, django-q2 ORM broker.
EMBEDDED := env -u DATABASE_URL -u REDIS_URL -u ENCOMPASS_ENV -u TEST_DATABASE_NAME

# The services `make test` (and `make bench`) use.
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
TEST_DATABASE_URL ?= postgres://postgres@$(PG_HOST):$(PG_PORT)/encompass
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
SERVICES_ENV := DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL)

.PHONY: help venv tools run test test-faults lint bench reset services format docs vendor-js

help:
	@echo "make run    - set up .venv, migrate + seed the SQLite demo, start web + worker (+ simulator)"
	@echo "make test   - the whole test suite against PostgreSQL and Redis (started if installed)"
	@echo "make tools  - .venv-tools: the web scanner (wapiti) the suite runs, in a virtualenv of its own"
	@echo "make test-faults - the fault suite (tests/faults) at full scale: own PostgreSQL/Redis killed"
	@echo "              and restarted under load (make test runs its quick subset)"
	@echo "make lint   - ruff check + format check, manage.py check, makemigrations --check, import contracts, mypy"
	@echo "make bench  - run the benchmarks in bench/ (against PostgreSQL and Redis)"
	@echo "make reset  - delete the embedded demo database (the next make run seeds a fresh demo)"
	@echo "make docs   - regenerate docs/reference/ from the code (environment, commands, API, jobs)"

venv: $(STAMP)

# We run from the checkout, so only the dependencies (runtime + dev) are installed.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 not found)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet -r $(VENV)/requirements.txt
	@touch $@

# The web scanner tests/crawl/test_wapiti.py runs (docs/testing.md). Its own virtualenv: wapiti3
# pins older asgiref and cryptography than Encompass uses.
TOOLS_VENV ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.encompass-tools-installed
WAPITI_REQUIREMENT := wapiti3>=3.2.3,<3.3

tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): Makefile
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 not found)" >&2; exit 1; }
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet "$(WAPITI_REQUIREMENT)"
	$(TOOLS_VENV)/bin/wapiti --version >/dev/null
	@touch $@

run: venv
	$(EMBEDDED) $(PY) manage.py migrate --noinput
	$(EMBEDDED) ENCOMPASS_PORT=$(PORT) $(PY) manage.py seed_demo --credentials-file $(CREDENTIALS)
	$(EMBEDDED) $(PY) manage.py sync_schedules
	@$(EMBEDDED) ENCOMPASS_PORT=$(PORT) PY=$(PY) PORT=$(PORT) CREDENTIALS=$(CREDENTIALS) VAR_DIR=$(VAR_DIR) bash -c '\
	  set -u; pids=(); \
	  stop() { trap - INT TERM EXIT; echo; echo "Stopping Encompass ..."; \
	           kill "$${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }; \
	  trap stop INT TERM EXIT; \
	  $$PY -m encompass.server -b 127.0.0.1 -p $$PORT --access-log "$$VAR_DIR/access.log" \
	    encompass.asgi:application & pids+=($$!); \
	  $$PY manage.py qcluster & pids+=($$!); \
	  if $$PY manage.py help simulate_fleet >/dev/null 2>&1; then \
	    $$PY manage.py simulate_fleet --devices 25 --rate 1 --url "http://127.0.0.1:$$PORT" \
	      --protocol "$(SIM_PROTOCOL)" & pids+=($$!); fi; \
	  sleep 2; echo; \
	  echo "Encompass is running at http://127.0.0.1:$$PORT/  (admin: /admin/, API: /api/schema/swagger/)"; \
	  if [ -s "$$CREDENTIALS" ]; then echo "Demo sign-ins (generated; also in $$CREDENTIALS):"; \
	    sed -n "1,40p" "$$CREDENTIALS"; \
	  else echo "Demo sign-ins were printed when the demo was first seeded (make reset to start over)."; fi; \
	  echo "Press Ctrl-C to stop web, worker and simulator together."; \
	  wait -n "$${pids[@]}"; echo "A process exited; stopping the rest." >&2'

services:
	@if ! pg_isready -q -h $(PG_HOST) -p $(PG_PORT) 2>/dev/null; then \
	  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then \
	    echo "Starting PostgreSQL ..."; \
	    pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start || true; \
	    for i in $$(seq 30); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 1; done; \
	  fi; \
	fi
	@pg_isready -q -h $(PG_HOST) -p $(PG_PORT) || { \
	  echo "ERROR: PostgreSQL is not reachable at $(PG_HOST):$(PG_PORT) (install it, or set TEST_DATABASE_URL)" >&2; exit 1; }
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  if command -v redis-server >/dev/null; then \
	    echo "Starting Redis ..."; mkdir -p /var/lib/redis /var/log/redis; \
	    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	      --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	    for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done; \
	  fi; \
	fi
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  echo "ERROR: Redis is not reachable at 127.0.0.1:6379 (install redis-server, or set TEST_REDIS_URL)" >&2; exit 1; }
	@psql "$(TEST_DATABASE_URL)" -c "select 1" >/dev/null 2>&1 || \
	  createdb -h $(PG_HOST) -p $(PG_PORT) -U postgres encompass || { \
	  echo "ERROR: cannot use or create the database in $(TEST_DATABASE_URL)" >&2; exit 1; }
	@echo "PostgreSQL and Redis are up."

test: venv services
	@rc=0; $(SERVICES_ENV) $(PY) -m pytest tests $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The fault suite at full scale (docs/reliability.md): more load, longer outages, and the
# scenarios marked fault_full (PostgreSQL restarted under a web process). `make test` runs the
# same files at the quick scale.
test-faults: venv services
	@mkdir -p $(VAR_DIR); rc=0; $(SERVICES_ENV) ENCOMPASS_FAULTS=full $(PY) -m pytest tests/faults -s \
	  $(PYTEST_ARGS) | tee >(grep '^FAULT ' > $(VAR_DIR)/fault-counts.txt) || rc=$$?; \
	echo "Counts: $(VAR_DIR)/fault-counts.txt"; exit $$rc

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(EMBEDDED) $(PY) manage.py check --fail-level WARNING
	$(EMBEDDED) $(PY) manage.py makemigrations --check --dry-run
	PYTHONPATH=. $(VENV)/bin/lint-imports
	$(EMBEDDED) $(VENV)/bin/mypy

docs: venv
	$(EMBEDDED) $(PY) manage.py reference_docs

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv services
	@shopt -s nullglob; files=(bench/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "No benchmarks in bench/."; exit 0; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(SERVICES_ENV) $(PY) "$$f"; done

reset:
	rm -f $(VAR_DIR)/encompass.sqlite3 $(VAR_DIR)/encompass.sqlite3-wal $(VAR_DIR)/encompass.sqlite3-shm
	rm -f $(CREDENTIALS)
	@echo "Demo database removed; the next 'make run' migrates and seeds a fresh demo with new passwords."

# The chart library and its plugins, from the npm registry into static/vendor/ (see its README).
VENDOR_JS := chart.js@4.5.1 chartjs-adapter-date-fns@3.0.0 chartjs-plugin-zoom@2.2.0 hammerjs@2.0.8 date-fns@2.19.0
vendor-js:
	@tmp=$$(mktemp -d) && cd $$tmp && for p in $(VENDOR_JS); do npm pack --silent $$p >/dev/null; done && \
	  for f in *.tgz; do mkdir -p $${f%.tgz} && tar xzf $$f -C $${f%.tgz}; done && \
	  V=$(CURDIR)/static/vendor && \
	  cp chart.js-*/package/dist/chart.umd.min.js chart.js-*/package/LICENSE.md $$V/chartjs/ && \
	  cp chartjs-adapter-date-fns-*/package/dist/chartjs-adapter-date-fns.bundle.min.js chartjs-adapter-date-fns-*/package/LICENSE.md $$V/chartjs-adapter-date-fns/ && \
	  cp date-fns-*/package/LICENSE.md $$V/chartjs-adapter-date-fns/LICENSE-date-fns.md && \
	  cp chartjs-plugin-zoom-*/package/dist/chartjs-plugin-zoom.min.js chartjs-plugin-zoom-*/package/LICENSE.md $$V/chartjs-plugin-zoom/ && \
	  cp hammerjs-*/package/hammer.min.js hammerjs-*/package/LICENSE.md $$V/hammerjs/ && \
	  sed -i 's|//# sourceMappingURL=[^ ]*$$||' $$V/chartjs/chart.umd.min.js $$V/hammerjs/hammer.min.js && \
	  rm -rf $$tmp && echo "static/vendor/ updated"
