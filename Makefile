# Two set-up commands (see README): `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROMPT ?= Write a haiku about autumn leaves.

.PHONY: run test unit check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# llama-cpp-python builds llama.cpp for the host CPU (-march=native). Some virtual machines report AMX in cpuid but
# trap on its instructions (SIGILL in ggml_backend_amx_mul_mat on the first matrix product), so the build leaves AMX
# out; AMX only speeds up large batches. A wheel pip cached from a native build elsewhere is checked by decoding a
# few tokens of the default model, and rebuilt without AMX (about 8 minutes) if that crashes.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CMAKE_ARGS ?= -DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)"
LLAMA_SMOKE := import llama_cpp, hag_chain; llama_cpp.Llama(hag_chain.default_model_path(), n_ctx=64, verbose=False).eval([1, 2, 3, 4])
# Only a death by signal (exit status above 128, e.g. 132 for SIGILL) means a crash; a Python error is reported as is.
define check_llama_cpp
	$(BIN)/python -c "$(LLAMA_SMOKE)" || { rc=$$?; [ $$rc -gt 128 ] || exit $$rc; \
	  echo "llama.cpp crashed on this CPU: rebuilding llama-cpp-python without AMX"; \
	  $(BIN)/pip install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==0.3.36" && \
	  $(BIN)/python -c "$(LLAMA_SMOKE)"; }
endef

# The runtime alone: llama-cpp-python (built from source on first install, ~8 min on 2 cores), no torch.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	$(check_llama_cpp)
	touch $@

# Tests also need the export and training extras. torch is pinned so pip takes the CPU build.
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[test,gguf,training]"
	$(check_llama_cpp)
	touch $@

# Fast unit tests and the static checks: no torch, no benchmark data (the tasks extra only scores).
$(VENV)/.unit: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[test,gguf,tasks]"
	$(check_llama_cpp)
	touch $@

run: $(VENV)/.runtime
	$(BIN)/hag-chain run "$(PROMPT)"

# The static checks over the three packages, the tests, benchmarks and examples: types, lint, formatting (of the
# Python in the Markdown docs too).
CHECKED := hag_chain training gguf tests bench examples
define static_checks
	$(BIN)/python -m mypy
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED) README.md CHANGELOG.md docs training/README.md gguf/README.md
endef

test: $(VENV)/.test
	$(static_checks)
	$(BIN)/python -m pytest

unit: $(VENV)/.unit
	$(BIN)/python -m pytest -m unit

check: $(VENV)/.unit
	$(static_checks)

bench: $(VENV)/.test
	$(BIN)/pip install -e ".[bench]"
	$(BIN)/python bench/runtime.py

clean:
	rm -rf $(VENV)
