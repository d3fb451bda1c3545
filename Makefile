# Vigil: every target bootstraps .venv by itself from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export VIGIL_FIXTURES ?= $(abspath $(CURDIR)/../shared/fixtures)

.PHONY: demo test dev bench lint clean deploy-services

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## demo: run the whole pipeline on the simulated organisation and check the result
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	VIGIL_MODE=demo VIGIL_ISSUES=$${VIGIL_ISSUES:-github} $(BIN)/vigil demo

# The browser tests drive Debian's Chromium (never a browser downloader).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The deploy-profile test (tests/e2e/test_distributed_backfill.py) starts throwaway PostgreSQL and
# Redis servers of its own from Debian's packages: install them when missing, as for Chromium.
deploy-services:
	@$(PYTHON) deploy/services.py install

## test: lint and the whole test suite (unit, integration, e2e, browser)
test: $(STAMP) $(DAGSTER_HOME)/dagster.yaml /usr/bin/chromium deploy-services
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

## dev: the Dagster UI on http://127.0.0.1:3000 over the demo (VIGIL_MODE=demo), persistent DAGSTER_HOME
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	VIGIL_MODE=demo $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

## bench: the benchmarks (never part of make test); figures go to docs/performance.md
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

clean:
	rm -rf data .dagster_home
