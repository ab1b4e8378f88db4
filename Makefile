# Everything a fresh Debian machine with Python >= 3.11 needs: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Debian packages the integration tests start for real (see tests/integration/README.md)
APT_PACKAGES := prometheus prometheus-alertmanager chromium

# the demo's pages, printed by `make run`
DEMO_URL = http://127.0.0.1:$(PORT)

.PHONY: run shell docs test lint format typecheck pytest apt-deps bench clean help

help:
	@echo "make run      - start the service with the embedded demo on 127.0.0.1:$(PORT) (make run PORT=8080: another port)"
	@echo "make shell    - a shell with the venv activated (drift-sidecar on PATH)"
	@echo "make test     - install everything needed, then ruff, mypy, the whole pytest suite and the docs"
	@echo "make docs     - regenerate the reference pages and build the docs site into site/ (--strict)"
	@echo "make lint     - ruff (lint + format check) and mypy"
	@echo "make bench    - drift engine vs evidently benchmark (minutes; prints a table)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "error: '$(PYTHON) -m venv' is unavailable: Debian and Ubuntu ship it in a separate package."; \
	  echo "       Install it, then run make again:  sudo apt-get install python3-venv"; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `report`: the demo's HTML report page (evidently); without it that page answers 501
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo,report,estimation]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,demo,report]'
	@touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	@echo "drift-sidecar demo on $(DEMO_URL) (another port: make run PORT=8080); drift starts after 60 s:"
	@echo "  metrics:      $(DEMO_URL)/metrics"
	@echo "  drift (JSON): $(DEMO_URL)/v1/models/diabetes/drift"
	@echo "  HTML report:  $(DEMO_URL)/v1/models/diabetes/report"
	@echo "  estimation:   $(DEMO_URL)/v1/models/diabetes/estimation"
	@echo "the CLI: $(BIN)/drift-sidecar --help (or make shell: a shell where drift-sidecar is on PATH)"
	@echo "stop with Ctrl-C; the docs: docs/quickstart.md"
	$(BIN)/drift-sidecar demo --host 127.0.0.1 --port $(PORT)

shell: $(VENV)/.run-installed
	@echo "a shell with $(VENV) activated: drift-sidecar --help; exit (or Ctrl-D) to leave"
	@bash --rcfile <(printf '%s\n' '[ -f ~/.bashrc ] && . ~/.bashrc' '. $(BIN)/activate') -i

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

# the reference pages are generated (tests/docs checks the committed copies are current), then
# the site is built with --strict: a broken link or nav entry fails the build
docs: $(VENV)/.dev-installed
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# docs after pytest: pytest checks the committed generated pages before `docs` rewrites them
test: apt-deps lint pytest docs

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/drift_vs_evidently.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site

# the fast path's tests against the newest uvicorn, above pyproject.toml's bound (not in `make test`)
.PHONY: test-newest-uvicorn
test-newest-uvicorn:
	.ci/newest-uvicorn
