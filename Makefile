# The Makefile is the interface: CI and people run the same targets.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Lambda runs python3.12: use it for the venv when the machine has it (on PATH or under pyenv).
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n1) python3; do \
	if $$p -c 'import sys' >/dev/null 2>&1; then echo $$p; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Some machines list local package folders that do not exist; pip warns about each one.
QUIET_PIP := { grep -v '^WARNING: Location' || true; }

export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo serve invoke test test-unit test-clock lint bench build validate deploy clean chromium faketime migrate axe

$(STAMP): requirements-dev.txt layers/shared/requirements.txt
	@echo "setting up $(VENV) with $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip 2>&1 | $(QUIET_PIP)
	@$(PIP) -r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	@touch $(STAMP)

$(VENV)/.bench: $(STAMP) requirements-bench.txt
	@$(PIP) -r requirements-bench.txt 2>&1 | $(QUIET_PIP)
	@touch $@

$(VENV)/.lint: $(STAMP) requirements-lint.txt
	@$(PIP) -r requirements-lint.txt 2>&1 | $(QUIET_PIP)
	@touch $@

demo: $(STAMP)  ## the main job end to end on the embedded stack
	$(PY) -m local.demo

serve: $(STAMP)  ## the stack in the foreground (PORT, AWS_PORT, PUSH_ADMIN_KEY, ...)
	$(PY) -m local.serve

invoke: $(STAMP)  ## one function, one sample event, on the local stack: FUNCTION=<logical id> EVENT=events/<file>.json
	$(PY) -m local.invoke $(EVENT) $(FUNCTION)

test: $(VENV)/.bench chromium axe  ## every test tier (and every bench phase once, tiny: the peers it runs are in requirements-bench.txt)
	$(PY) -m pytest -q -n auto --dist loadfile

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test-clock: $(STAMP) faketime  ## the `clock`-marked tests at each instant of a matrix (CLOCK_AT='YYYY-MM-DD HH:MM:SS': one)
	$(PY) -m tests.clock.matrix $(if $(CLOCK_AT),--at '$(CLOCK_AT)')

# checkov has its own venv: its dependencies would otherwise move the engine's pinned ones.
CHECKOV := .venv-checkov/bin/checkov
lint: $(VENV)/.lint $(CHECKOV)  ## ruff, mypy, sam validate --lint, and checkov on template.yaml (.checkov.yaml says what it skips and why)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/sam validate --lint
	$(CHECKOV) -f template.yaml --config-file .checkov.yaml

$(CHECKOV): requirements-checkov.txt
	@echo "setting up .venv-checkov"
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	@.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt 2>&1 | $(QUIET_PIP)
	@touch $@

validate: lint

bench: $(VENV)/.bench  ## throughput against the peers, and cost per million (BENCH_ONLY=wave: the campaign through the local stack alone; BENCH_ONLY=journey: 100,000 journey enrolments)
	$(PY) -m bench.run $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

build: $(VENV)/.lint
	PATH=$(dir $(PYTHON)):$$PATH $(VENV)/bin/sam build

deploy: build
	$(VENV)/bin/sam deploy --guided

migrate: $(STAMP)  ## key devices written before the per-zone audience index and count their zones: STACK=<name>
	@test -n "$(STACK)" || { echo "usage: make migrate STACK=<stack name>"; exit 2; }
	$(PY) -m tools.migrate_audience --stack $(STACK)

# The demo report and the web SDK (tests/e2e/test_web_sdk.py, through Playwright's executable_path) are
# checked in a real headless browser; Debian's chromium when the machine lacks one.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	 { echo "installing chromium (for the demo report test)"; \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	   echo "could not install chromium: the report screenshot test will say so"; }

# axe-core (npm, the version pinned in tools/axe/package-lock.json) for the console's accessibility tests,
# which inject tools/axe/node_modules/axe-core/axe.min.js into each view.
AXE := tools/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tools/axe/package.json tools/axe/package-lock.json
	cd tools/axe && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# `make test-clock` shifts whole processes (the stack, the stand-ins) with Debian's libfaketime.
faketime:
	@command -v faketime >/dev/null 2>&1 || \
	 { echo "installing faketime (for make test-clock)"; \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime) >/dev/null 2>&1 || \
	   echo "could not install faketime: make test-clock will say so"; }

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache reports
