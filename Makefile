# Conflict escalation reports. `make` lists the targets.
# `make report` and `make test` set everything up on a fresh machine (a .venv, a Jupyter kernel, Chromium).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := escalation
ARGS ?=
DAILY_FROM ?= 2020-02-01
DAILY_TO ?= 2020-03-06
# Events in bench-scale's synthetic export
EVENTS ?= 1000000
# pytest-xdist workers for `make test` (auto: one per CPU), e.g. TEST_WORKERS=0 to run in this process
TEST_WORKERS ?= auto
# Extra JupyterLab options, e.g. LAB_ARGS="--no-browser --ip=127.0.0.1 --port=8890"
LAB_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help report test test-fast lab validate bench bench-scale bench-tests lint chromium clean

help: ## List the targets and what each does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (escalation)"
	@touch $(STAMP)

chromium: ## Install Debian's chromium (render tests) and its headless shell (figures) if they are missing
	@command -v chromium >/dev/null 2>&1 && command -v chromium-headless-shell >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium \
	    chromium-headless-shell >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium is required: apt-get install chromium" >&2; exit 1; }

report: $(STAMP) chromium ## Build every report and the daily situation reports into reports/ and figures/
	$(BIN)/escalation build $(ARGS)
	$(BIN)/escalation backfill --from $(DAILY_FROM) --to $(DAILY_TO)

test: $(STAMP) chromium ## Run the whole test suite (data, charts, builds, headless-Chromium render checks)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 $(ARGS)

test-fast: $(STAMP) ## Run the tests that need no kernel and no browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow" $(ARGS)

validate: $(STAMP) ## Validate data/ against data/datapackage.json
	$(BIN)/escalation validate

lab: $(STAMP) ## Open JupyterLab on the notebooks with the project's kernel (LAB_ARGS="--no-browser --port=8890")
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --MappingKernelManager.default_kernel_name=$(KERNEL) \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

bench: $(STAMP) chromium ## Benchmarks: a build's time split vs a plain script; full backfill and a no-change rerun
	$(BIN)/python bench/bench_build.py
	$(BIN)/python bench/bench_backfill.py

bench-scale: $(STAMP) chromium ## Benchmark a SYNTHETIC export of EVENTS (1,000,000) events: import, reports, backfill (long)
	$(BIN)/python bench/bench_scale.py --events $(EVENTS)

bench-tests: $(STAMP) chromium ## Benchmark the test suite's time (target 3 min) against its kernel-free part
	$(BIN)/python bench/bench_tests.py

lint: $(STAMP) ## Run ruff on the package, tests and benchmarks
	$(BIN)/ruff check src tests bench

clean: ## Remove generated reports and figures (keeps the .venv)
	rm -rf reports/* reports/.[!.]* figures/* figures/.[!.]*
	@touch reports/.gitkeep figures/.gitkeep
