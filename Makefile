# Two set-up commands (see README): `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROMPT ?= Write a haiku about autumn leaves.

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# The runtime alone: llama-cpp-python (built from source on first install, ~8 min on 2 cores), no torch.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

# Tests also need the export and training extras. torch is pinned so pip takes the CPU build.
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[test,gguf,training]"
	touch $@

run: $(VENV)/.runtime
	$(BIN)/hag-chain run "$(PROMPT)"

test: $(VENV)/.test
	$(BIN)/python -m pytest

bench: $(VENV)/.test
	$(BIN)/pip install -e ".[bench]"
	$(BIN)/python bench/runtime.py

clean:
	rm -rf $(VENV)
