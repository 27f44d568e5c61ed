# rewardlab: `make demo` sets everything up and runs the default experiment; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch. On a machine with an NVIDIA GPU: `make demo TORCH=torch` (PyPI's CUDA build).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/rewardlab demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check rewardlab envs agents llm_reward tests

bench: $(STAMP)
	$(BIN)/rewardlab bench wrapper --out docs/benchmarks/wrapper_overhead.json
	$(BIN)/rewardlab bench pool --runs 6 --steps 30000 --out docs/benchmarks/pool_speedup.json

clean:
	rm -rf $(VENV) build *.egg-info
