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
.PHONY: help setup setup-dev setup-llm chromium demo test test-fast lint format typecheck bench bench-load lock clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(MODELS_DIR)/$(DEFAULT_MODEL)/newsrag-model.json ## Create .venv with what the chat needs and the offline embedding model (no compiler run; idempotent)

setup-dev: setup $(VENV)/.dev-installed ## setup, plus the test and benchmark tools

setup-llm: setup $(VENV)/.llm-installed ## setup, plus a local GGUF LLM in-process (compiles llama.cpp once, portably)

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . --group dev
	touch $@

# llama.cpp is compiled for a named instruction set, never for the build machine's (GGML_NATIVE
# would pick AVX-512/AMX on an Intel Xeon, and the server then dies at its first completion with
# a general protection fault in libggml-cpu.so). x86-64 gets AVX2/FMA/F16C, which every machine
# here has; other architectures get their plain baseline. The wheel is built once into
# build/wheels/<flags>/ and installed from there: pip's own wheel cache is keyed by the sdist
# alone, so a wheel built elsewhere with native flags could otherwise come back from it.
LLAMA_SPEC := llama-cpp-python==0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
  -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif
LLAMA_WHEELS := build/wheels/$(shell echo '$(LLAMA_SPEC) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

$(VENV)/.llm-installed: $(VENV)/.installed
	test -n "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl 2>/dev/null)" || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-deps \
	    --no-cache-dir --no-binary llama-cpp-python -w $(LLAMA_WHEELS) "$(LLAMA_SPEC)"
	$(BIN)/python -m pip install --quiet -c constraints.txt --find-links $(LLAMA_WHEELS) \
	  --only-binary llama-cpp-python -e ".[llamacpp]"
	touch $@

# a newer shipped answer judge is installed into an existing install (no reconversion)
$(MODELS_DIR)/$(DEFAULT_MODEL)/newsrag-model.json: $(VENV)/.installed $(wildcard rag/data/judge/$(DEFAULT_MODEL).npz)
	$(BIN)/newsrag models install $(DEFAULT_MODEL)
	@touch $@

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

test: setup-dev setup-llm $(CHROMIUM) ## Set up everything (local LLM included) and run the whole test suite (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup-dev ## Run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup-dev ## ruff lint and format check
	$(BIN)/ruff check rag ingest app provision ui tests bench
	$(BIN)/ruff format --check rag ingest app provision ui tests bench

format: setup-dev ## Format the code
	$(BIN)/ruff format rag ingest app provision ui tests bench
	$(BIN)/ruff check --fix rag ingest app provision ui tests bench

typecheck: setup-dev ## mypy on the packages
	$(BIN)/mypy

bench: setup-dev ## Ingest and query benchmarks against the LangChain tutorial recipe (JSON)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

bench-load: setup-dev ## 8 concurrent clients against /api/ask on a real server (JSON)
	$(BIN)/python bench/load.py

lock: $(VENV)/.dev-installed $(VENV)/.llm-installed ## Refresh constraints.txt from the working .venv
	{ echo "# Versions verified together on Python 3.11 (pip freeze of a working .venv; torch comes from TORCH_SPEC)."; \
	  echo "# Regenerate: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -viE '^(torch==|nvidia|triton|-e |newsrag)'; } > constraints.txt

clean: ## Remove the virtualenv and the default index (keeps installed models)
	rm -rf $(VENV) data/index
