# The Makefile is the interface: CI and people run the same targets.
SHELL := /bin/bash
# Lambda runs python3.12: use it for the venv when the machine has it (on PATH or under pyenv).
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n1) python3; do \
	if $$p -c 'import sys' >/dev/null 2>&1; then echo $$p; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo serve test test-unit lint bench build validate deploy clean

$(STAMP): requirements-dev.txt layers/shared/requirements.txt
	@echo "setting up $(VENV) with $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

$(VENV)/.bench: $(STAMP) requirements-bench.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	@touch $@

$(VENV)/.lint: $(STAMP) requirements-lint.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-lint.txt
	@touch $@

demo: $(STAMP)  ## the main job end to end on the embedded stack
	$(PY) -m local.demo

serve: $(STAMP)  ## the stack in the foreground (PORT, AWS_PORT, PUSH_ADMIN_KEY, ...)
	$(PY) -m local.serve

test: $(STAMP)  ## every test tier
	$(PY) -m pytest -q

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

lint: $(VENV)/.lint
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/sam validate --lint

validate: lint

bench: $(VENV)/.bench  ## throughput against the peers, and cost per million
	$(PY) -m bench.run

build: $(VENV)/.lint
	PATH=$(dir $(PYTHON)):$$PATH $(VENV)/bin/sam build

deploy: build
	$(VENV)/bin/sam deploy --guided

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache reports
