# One entry point: `make demo`, `make test` (and `make lint`, `make clean`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= data

.PHONY: demo test lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/anon-pipeline demo $(DEMO_ROOT) --run

lint: $(STAMP)
	$(BIN)/ruff check anon_pipeline anon_pipeline_tests
	$(BIN)/ruff format --check anon_pipeline anon_pipeline_tests

format: $(STAMP)
	$(BIN)/ruff format anon_pipeline anon_pipeline_tests
	$(BIN)/ruff check --fix anon_pipeline anon_pipeline_tests

test: lint
	$(BIN)/python -m pytest -n 2 --durations=15 -q

clean:
	rm -rf $(VENV) $(DEMO_ROOT) .pytest_cache .ruff_cache .hypothesis
