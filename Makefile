# newsrag — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On these machines pip takes torch 2.13.0 (CPU) from a local wheel; elsewhere PyPI's torch is fine.
TORCH_SPEC ?= torch==2.13.0
MODELS_DIR ?= data/models
DEFAULT_MODEL := multilingual-e5-small
SAMPLE ?= data/sample
PYTEST_ARGS ?=

export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export ORT_DISABLE_TELEMETRY := 1
# torch's OpenMP threads spin while idle: under load a query embedding took 1.3 s instead of 65 ms
export OMP_WAIT_POLICY := PASSIVE
export NEWSRAG_MODELS_DIR := $(MODELS_DIR)

.DEFAULT_GOAL := help
.PHONY: help setup chromium demo test test-fast lint format typecheck bench bench-load lock clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(MODELS_DIR)/$(DEFAULT_MODEL)/newsrag-model.json ## Create .venv, install everything and the offline embedding model (idempotent)

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	# the llamacpp extra compiles llama.cpp (5-10 min once; pip caches the wheel)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[llamacpp]" --group dev
	touch $@

$(MODELS_DIR)/$(DEFAULT_MODEL)/newsrag-model.json: $(VENV)/.installed
	$(BIN)/newsrag models install $(DEFAULT_MODEL)

demo: setup ## Ingest the sample archive in data/sample and serve the chat on http://127.0.0.1:7860
	$(BIN)/newsrag ingest $(SAMPLE)
	$(BIN)/newsrag stats
	$(BIN)/newsrag serve

# the browser tests (tests/browser) drive Debian's chromium; root installs it, others via sudo
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium: $(CHROMIUM) ## Install Debian chromium for the browser tests (root or sudo)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || { $(SUDO) apt-get update -q && \
	       $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: setup $(CHROMIUM) ## Run the whole test suite (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## Run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup ## ruff lint and format check
	$(BIN)/ruff check rag ingest ui tests bench
	$(BIN)/ruff format --check rag ingest ui tests bench

format: setup ## Format the code
	$(BIN)/ruff format rag ingest ui tests bench
	$(BIN)/ruff check --fix rag ingest ui tests bench

typecheck: setup ## mypy on the packages
	$(BIN)/mypy

bench: setup ## Ingest and query benchmarks against the LangChain tutorial recipe (JSON)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

bench-load: setup ## 8 concurrent clients against /api/ask on a real server (JSON)
	$(BIN)/python bench/load.py

lock: $(VENV)/.installed ## Refresh constraints.txt from the working .venv
	{ echo "# Versions verified together on Python 3.11 (pip freeze of a working .venv; torch comes from TORCH_SPEC)."; \
	  echo "# Regenerate: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -viE '^(torch==|nvidia|triton|-e |newsrag)'; } > constraints.txt

clean: ## Remove the virtualenv and the default index (keeps installed models)
	rm -rf $(VENV) data/index
