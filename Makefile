# `make run` and `make test` do all set-up on a fresh machine (Python 3.11 or newer required).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pip is pinned: a new pip release must not change how a fresh machine installs (pip 26.2 stopped
# applying PIP_CONSTRAINT to build environments, which broke every fresh install overnight).
PIP_VERSION := 26.3
PIP_STAMP := $(VENV)/.pip-$(PIP_VERSION)
PIP := $(BIN)/python -m pip --quiet

.PHONY: run test install install-dev lint format bench screenshots migrate check-wheels python-version

python-version:
	@test -n "$(PYTHON)" && "$(PYTHON)" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' \
	|| { echo "ConnectIT OAuth2 needs Python 3.11 or newer with its venv module, and found none" \
	          "($(or $(PYTHON),no python3 on PATH))."; \
	     echo "Install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv;" \
	          "macOS: brew install python@3.11), or name one: make run PYTHON=/path/to/python3.11"; \
	     exit 1; }

$(BIN)/python: | python-version
	$(PYTHON) -m venv $(VENV)

$(PIP_STAMP): | $(BIN)/python
	$(PIP) install pip==$(PIP_VERSION)
	rm -f $(VENV)/.pip-*
	touch $@

# Runtime packages come from wheels only: a source build on a user's machine is a failure
# waiting for the next setuptools or pip release.
$(VENV)/.installed: requirements.txt $(PIP_STAMP)
	$(PIP) install --only-binary=:all: -r requirements.txt
	touch $@

# spyne (test-only) ships only a source distribution; its isolated build gets the pins in
# requirements-build.txt.
$(VENV)/.installed-dev: requirements-dev.txt requirements-build.txt $(VENV)/.installed
	$(PIP) install --build-constraint requirements-build.txt -r requirements-dev.txt
	touch $@

# The oidc-provider test server's npm packages, from its committed lock file. Without npm the
# tests that need it skip with a message (CI fails them instead: .ci/run must run them).
OIDC_PROVIDER := tests/oidc_provider
OIDC_STAMP := $(OIDC_PROVIDER)/node_modules/.installed
$(OIDC_STAMP): $(OIDC_PROVIDER)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error --prefix $(OIDC_PROVIDER) && touch $@; \
	else \
	  echo "npm not found: the oidc-provider integration tests will be skipped (install Node.js 20 or newer to run them)."; \
	fi

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(OIDC_STAMP)

# The runtime requirements install from wheels alone into an empty virtual environment.
REQUIREMENTS ?= requirements.txt
check-wheels: | python-version
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip --quiet install pip==$(PIP_VERSION) && \
	"$$tmp/venv/bin/python" -m pip --quiet install --only-binary=:all: -r $(REQUIREMENTS) && \
	echo "check-wheels: $(REQUIREMENTS) installs from wheels only (pip $(PIP_VERSION))"

migrate: install
	$(BIN)/python manage.py migrate --noinput

# The web server (gunicorn) and one background worker; Ctrl-C stops both (connectit/management/
# commands/serve.py).
run: migrate
	$(BIN)/python manage.py serve --bind $(HOST):$(PORT)

test: install-dev
	$(BIN)/python manage.py check
	# An in-memory database: the check must not create (or need) the embedded one.
	DATABASE_URL=sqlite://:memory: $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

# README's screenshots, from demo records in headless Chromium (needs /usr/bin/chromium).
screenshots: install-dev
	CONNECTIT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -p no:cacheprovider -q tests/test_screenshots.py
