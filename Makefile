# Splitlab: the two commands of the README are `make run` and `make test`.
# Everything either needs is installed from here, on a fresh clone of a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: run test lint imports format bench install install-dev clean-var manage

# --- installation --------------------------------------------------------------------------
$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(PIP) install --quiet -e '.[dev,bench]'
	touch $@

# The chart library for report pages comes from npm, pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed
install-dev: $(VENV)/.installed-dev node_modules/.installed

# Browser tests drive Debian's Chromium; install it when missing and we may (root + apt).
$(CHROMIUM):
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: browser tests will be skipped"; \
	else echo "chromium missing and not root: browser tests will be skipped"; fi

# --- the two commands ------------------------------------------------------------------------
run: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} \
	SPLITLAB_ROLLUP_INTERVAL_SECONDS=$${SPLITLAB_ROLLUP_INTERVAL_SECONDS:-60} $(PY) -m ops.launcher

test: install-dev | $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

# --- the rest -------------------------------------------------------------------------------
# Any management command with the settings `make run` uses: make manage ARGS="rollup --full"
manage: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py $(ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# The import contracts of pyproject.toml alone (layers of the apps, purity); CI runs this.
imports: install-dev
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Full-size benchmarks (each prints one line). Needs PostgreSQL and Redis on 127.0.0.1 and wrk.
bench: $(VENV)/.installed-bench node_modules/.installed
	@command -v wrk >/dev/null || { [ "$$(id -u)" = "0" ] && apt-get install -y -qq wrk >/dev/null; } || true
	@for script in benchmarks/*.py; do echo "== $$script"; SPLITLAB_FULL=1 $(PY) $$script || exit 1; done

clean-var:
	rm -rf var/
