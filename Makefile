# rewardlab: `make demo` sets everything up and runs the default experiment; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch. On a machine with an NVIDIA GPU: `make demo TORCH=torch` (PyPI's CUDA build).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Test tiers (markers in pyproject.toml): plain `pytest` the quick default suite (no slow, no benchmark tests);
# `make test`, the README's command and what CI runs (.ci/run), the default suite plus the slow tests that guard
# the user's data (data_safety: kill -9, Ctrl-C, crash and resume); `make test-all` everything, benchmarks too.
# A selection that collects no test (pytest's exit code 5) is an error, never a silent pass.
PYTEST = $(BIN)/python -m pytest
TEST_MARKERS = (not slow and not benchmark) or data_safety
define pytest_tier
	$(PYTEST) $(1) || { rc=$$?; [ $$rc -ne 5 ] || echo "make: pytest selected no tests ($(1))" >&2; exit $$rc; }
endef

.PHONY: setup demo test test-all lint typecheck bench clean

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
	$(call pytest_tier,-m '$(TEST_MARKERS)')

test-all: $(STAMP)
	$(call pytest_tier,-m '')

lint: $(STAMP)
	$(BIN)/ruff format --check rewardlab envs agents llm_reward tests
	$(BIN)/ruff check rewardlab envs agents llm_reward tests

# mypy on the lab core and the worlds (files and settings: [tool.mypy] in pyproject.toml)
typecheck: $(STAMP)
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/rewardlab bench wrapper --out docs/benchmarks/wrapper_overhead.json
	$(BIN)/rewardlab bench pool --runs 6 --steps 30000 --out docs/benchmarks/pool_speedup.json

clean:
	rm -rf $(VENV) build *.egg-info
