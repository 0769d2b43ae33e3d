# Ocelot — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export OCELOT_HOME ?= $(HOME)/.ocelot

.PHONY: run test deps venv services image lint typecheck format bench clean screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

venv: $(VENV)/.installed          ## Python dependencies in .venv

deps:                              ## system packages (git, redis, docker, busybox, postgres)
	OCELOT_WITH_POSTGRES=$(WITH_POSTGRES) scripts/install-deps.sh

services: deps                     ## start dockerd if needed and build the offline test image
	scripts/start-docker.sh
	scripts/build-busybox-image.sh

image:                             ## (re)build the offline image ocelot/busybox
	scripts/build-busybox-image.sh

run: WITH_POSTGRES=0
run: services venv                 ## start Redis, migrate, run web + worker + beat (Ctrl-C stops all)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/run.sh

test: WITH_POSTGRES=1
test: services venv                ## the whole suite, every tier (starts its own Redis/Postgres)
	$(BIN)/ruff check .
	$(BIN)/mypy --ignore-missing-imports ocelot web worker
	$(BIN)/python -m pytest $(PYTEST_ARGS)

screenshots: services venv        ## the README's screenshots (docs/img) from the browser tests
	OCELOT_SCREENSHOTS_DIR=$(CURDIR)/docs/img $(BIN)/python -m pytest -q \
	  tests/integration/test_dashboard_browser_pages.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv                    ## mypy over ocelot, web and worker
	$(BIN)/mypy --ignore-missing-imports ocelot web worker

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: WITH_POSTGRES=1
bench: services venv               ## benchmarks → bench/RESULTS.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
