# Conflict escalation reports. `make` lists the targets.
# `make report` and `make test` set everything up on a fresh machine (a .venv, a Jupyter kernel, Chromium).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := escalation
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help report test test-fast lab validate bench lint chromium clean

help: ## List the targets and what each does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (escalation)"
	@touch $(STAMP)

chromium: ## Install Debian's chromium if it is missing (used for figures and render tests)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium is required: apt-get install chromium" >&2; exit 1; }

report: $(STAMP) chromium ## Build every report into reports/ and figures/ (pass ARGS="--param as_of=...")
	$(BIN)/escalation build $(ARGS)

test: $(STAMP) chromium ## Run the whole test suite (data, charts, builds, headless-Chromium render checks)
	$(BIN)/python -m pytest $(ARGS)

test-fast: $(STAMP) ## Run the tests that need no kernel and no browser
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

validate: $(STAMP) ## Validate data/ against data/datapackage.json
	$(BIN)/escalation validate

lab: $(STAMP) ## Open JupyterLab on the notebooks
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP) chromium ## Time a build: kernel start, execution, export, figures vs a plain script
	$(BIN)/python bench/bench_build.py

lint: $(STAMP) ## Run ruff on the package, tests and benchmarks
	$(BIN)/ruff check src tests bench

clean: ## Remove generated reports and figures (keeps the .venv)
	rm -rf reports/* figures/*
	@touch reports/.gitkeep figures/.gitkeep
