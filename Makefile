# One entry point: `make demo`, `make test` (and `make lint`, `make clean`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= data
UI_PORT ?= 3000
export DAGSTER_HOME := $(abspath .dagster_home)
export ANON_PIPELINE_ROOT := $(abspath $(DEMO_ROOT))

.PHONY: demo ui test bench bench-memory bench-instructions lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# Synthetic CD batches -> the arrival sensor -> the Dagster job, in this process.
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m anon_pipeline.demo

# The Dagster UI (webserver + daemon, sensor running) over the demo root.
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

lint: $(STAMP)
	$(BIN)/ruff check anon_pipeline anon_pipeline_tests benchmarks
	$(BIN)/ruff format --check anon_pipeline anon_pipeline_tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format anon_pipeline anon_pipeline_tests benchmarks
	$(BIN)/ruff check --fix anon_pipeline anon_pipeline_tests benchmarks

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 -q

# Files/s of each stage and the whole pipeline next to cp -r and a pydicom round trip.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --files $(or $(BENCH_FILES),1000)

# Peak memory of the whole pipeline at 2,000 and 20,000 files (needs ~35 GB of disk).
bench-memory: $(STAMP)
	$(BIN)/python benchmarks/run.py --memory $(or $(BENCH_MEMORY_FILES),2000)

# Instructions per file of each stage next to its pydicom baseline (valgrind: noise-free).
bench-instructions: $(STAMP)
	$(BIN)/python benchmarks/run.py --instructions $(or $(BENCH_INSTRUCTION_FILES),100)

clean:
	rm -rf $(VENV) $(DEMO_ROOT) .dagster_home .pytest_cache .ruff_cache .hypothesis
