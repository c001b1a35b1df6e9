VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export RYS_CACHE_DIR ?= $(CURDIR)/.cache

.PHONY: test test-fast check lint format typecheck bench demo clean gpu-bundle gpu-build gpu-check cpu-info docs

# The venv is created on first use; llama-cpp-python compiles from source the first time
# (about 10 minutes on 2 cores; pip caches the wheel). torch is pinned to the CPU build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e '.[dev,hf,eval]'
	touch $(STAMP)

# What CI runs: the CPU and llama.cpp's repacking verdict on it, lint, typecheck, then every test
# (the real-model tier included) on both cores. A test that crashes its process (a segfault in
# llama.cpp) fails alone: pytest-xdist replaces the process and the run goes on to a full count.
test: cpu-info lint typecheck
	$(PY) -m pytest -q -n 2

cpu-info: $(STAMP)
	$(PY) -m rys_gguf.llama.cpu_repack

check: test

# The edit loop, in process only: no network, no real model, no llama.cpp, no child process.
# About 20 s on 2 idle cores (each worker 18 s on its core, measured with the cores shared:
# 55 s while other jobs kept both busy).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not network and not slow and not llama and not procs"

lint: $(STAMP)
	$(VENV)/bin/ruff check rys_gguf tests examples benchmarks
	$(VENV)/bin/ruff format --check rys_gguf tests examples benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format rys_gguf tests examples benchmarks
	$(VENV)/bin/ruff check --fix rys_gguf tests examples benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# docs/cli.md from the command line, the table in docs/architectures.md from the rules.
docs: $(STAMP)
	$(PY) tests/project/test_docs.py

check: lint typecheck test

# Byte-compiled first, as pip does at install: start-up is measured as users get it.
bench: $(STAMP)
	$(PY) -m compileall -q rys_gguf
	$(PY) -m benchmarks.bench_startup
	$(PY) -m benchmarks.bench_build
	$(PY) -m benchmarks.bench_generate --model "$$($(PY) -c 'from rys_gguf.demo.fetch import fetch_gemma; print(fetch_gemma())')"
	$(PY) -m benchmarks.bench_scan
	$(PY) -m benchmarks.bench_scale
	$(PY) -m benchmarks.bench_search
	$(PY) -m benchmarks.bench_earlystop
	$(PY) -m benchmarks.bench_repack

# The GPU check travels to a machine without network: gpu-bundle (run here) puts llama-cpp-python's
# source and the wheels its build needs under .gpu-bundle/; gpu-check (run there, with .gpu-bundle
# carried) compiles it with CUDA, then measures. Without CUDA, gpu-check says so and exits 0.
# gpu-build compiles only, for when one command cannot hold the compile and the measurements.
gpu-bundle:
	python3 -m benchmarks.gpu_bundle

gpu-build:
	python3 -m benchmarks.gpu_check --phase build

gpu-check:
	python3 -m benchmarks.gpu_check

demo: $(STAMP)
	$(PY) -m rys_gguf.demo

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
