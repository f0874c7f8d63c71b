# `make run` and `make test` do all set-up on a fresh machine (Python 3.11 required).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# xstatic-bootstrap is an sdist whose build needs pkg_resources, which setuptools 81 removed.
BUILD_CONSTRAINTS := var/build-constraints.txt

.PHONY: run test install install-dev lint format bench migrate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BUILD_CONSTRAINTS):
	mkdir -p var
	echo 'setuptools<81' > $@

$(VENV)/.installed: requirements.txt $(BIN)/python $(BUILD_CONSTRAINTS)
	PIP_CONSTRAINT=$(CURDIR)/$(BUILD_CONSTRAINTS) $(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	PIP_CONSTRAINT=$(CURDIR)/$(BUILD_CONSTRAINTS) $(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

# The access log leaves out query strings: the OAuth2 callback carries a one-time code there.
ACCESS_LOG_FORMAT := %(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms

run: migrate
	@echo "Serving ConnectIT OAuth2 at http://$(HOST):$(PORT)/"
	$(BIN)/gunicorn connectit.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 4 \
		--worker-class gthread --access-logfile - --access-logformat '$(ACCESS_LOG_FORMAT)' \
		--forwarded-allow-ips 127.0.0.1

test: install-dev
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)
