# Everything a fresh Debian machine with Python >= 3.11 needs: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Debian packages the integration tests start for real (see tests/integration/README.md)
APT_PACKAGES := prometheus prometheus-alertmanager chromium

.PHONY: run test lint format typecheck pytest apt-deps bench clean help

help:
	@echo "make run      - start the service with the embedded demo on 127.0.0.1:$(PORT)"
	@echo "make test     - install everything needed, then ruff, mypy and the whole pytest suite"
	@echo "make lint     - ruff (lint + format check) and mypy"
	@echo "make bench    - drift engine vs evidently benchmark (minutes; prints a table)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	@touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/drift-sidecar demo --host 127.0.0.1 --port $(PORT)

apt-deps:
	@missing=""; \
	for tool in prometheus promtool prometheus-alertmanager amtool chromium; do command -v $$tool >/dev/null || missing="$(APT_PACKAGES)"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

pytest: $(VENV)/.dev-installed apt-deps
	$(BIN)/pytest

test: apt-deps lint pytest

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/drift_vs_evidently.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# the fast path's tests against the newest uvicorn, above pyproject.toml's bound (not in `make test`)
.PHONY: test-newest-uvicorn
test-newest-uvicorn:
	.ci/newest-uvicorn
