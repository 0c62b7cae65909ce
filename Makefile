# KetLogistic: two commands on a fresh machine —  make run  /  make test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= auto

.PHONY: run test test-slow test-all lint audit format bench messages system-deps venv clean migrate-check

# The install says what it does: a line per step, and pip's output condensed into progress lines
# (`devstack.py pip-progress`, run by the system Python: the venv has no project yet). pip's errors still show.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	@test -x $(PY) || { echo "[install] creating the virtual environment in $(VENV)…"; $(PYTHON) -m venv $(VENV); }
	@echo "[install] updating pip…"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "[install] installing KetLogistic and its dependencies (the first time: about a minute and a half)…"
	@set -o pipefail; $(PY) -m pip install --progress-bar off -e '.[dev]' | $(PYTHON) ketlogistic/devstack.py pip-progress
	@touch $(STAMP)

venv: $(STAMP)

# Debian's Chromium for the browser journeys and gettext for the translation check;
# installed when missing and this machine can (root with apt-get).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v xgettext >/dev/null 2>&1 || missing="$$missing gettext"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null)); \
	  else echo "warning: missing$$missing (install them with your package manager)"; fi; \
	fi

run: $(STAMP)
	$(PY) -m ketlogistic.devstack run

test: $(STAMP) system-deps
	$(PY) -m ketlogistic.devstack test -- -n $(PYTEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

# pytest exits 5 when no test is marked slow yet; that is not a failure.
test-slow: $(STAMP) system-deps
	$(PY) -m ketlogistic.devstack test -- -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-all: test test-slow

# Benchmarks on the local (or given) PostgreSQL and Redis with a real gunicorn on loopback; the first run
# generates the data (BENCH_ORDERS, default 1 000 000) into its own database and later runs reuse it.
bench: $(STAMP)
	$(PY) -m ketlogistic.devstack shell --mode test -- $(PY) -m bench.run $(BENCH_ARGS)

# lint-imports: the floors (every app imports only the apps below it) and no import cycle between the files of an
# app, the contracts in pyproject.toml
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run --settings=ketlogistic.settings.test
	$(VENV)/bin/lint-imports

# A database made and filled by the BASE revision's own code migrates forward to this working tree with no row
# lost, content types following moved models, both ledgers consistent (ketlogistic/migrate_check.py).
# BASE defaults to the commit before issue 16's restructure: make migrate-check BASE=<git rev>
BASE ?= 13d6dd7
migrate-check: $(STAMP)
	$(PY) -m ketlogistic.devstack shell -- $(PY) -m ketlogistic.migrate_check --base $(BASE) $(MIGRATE_CHECK_ARGS)

# Known vulnerabilities (PyPI's advisory database) in every installed package; --strict fails when one could not be
# checked, --skip-editable leaves out this project itself (it is not on PyPI).
audit: $(STAMP)
	$(PY) .ci/audit.py

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

messages: $(STAMP)
	$(PY) manage.py makemessages -l ru --no-obsolete --ignore=.venv --ignore=.data --ignore=static --ignore=tests
	$(PY) manage.py makemessages -d djangojs -l ru --no-obsolete --ignore=.venv --ignore=.data --ignore=staticfiles --ignore=static/vendor

clean:
	rm -rf $(VENV) .data staticfiles .pytest_cache .ruff_cache
