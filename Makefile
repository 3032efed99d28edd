# One entry point: `make demo`, `make test` (and `make lint`, `make clean`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= data
UI_PORT ?= 3000
BENCH_BATCHES ?= 1000,20000
export DAGSTER_HOME := $(abspath .dagster_home)
export ANON_PIPELINE_ROOT := $(abspath $(DEMO_ROOT))

.PHONY: demo ui cluster test test-cluster hospital-bundle bench bench-pixels bench-small-text bench-body-text bench-files bench-dagster bench-sensor bench-index bench-cluster bench-review bench-memory \
	bench-dagster-memory bench-instructions bench-leak-check same-outputs lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[server,cluster,dev]"
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# Synthetic CD batches -> the arrival sensor -> the Dagster job, launched through the
# instance from the code location (re-executable in the UI), waited for.
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m anon_pipeline.demo

# The Dagster UI (webserver + daemon, sensor running) over the demo root.
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

# The cluster deployment on this machine: Postgres, Redis, two Celery workers, the daemon
# and the webserver (anon_pipeline/cluster, docs/operations.md "Running on several machines"); Ctrl-C stops.
cluster: $(STAMP)
	$(BIN)/python -m anon_pipeline.cluster.local --workers 2 --port $(UI_PORT)

lint: $(STAMP)
	$(BIN)/ruff check anon_pipeline anon_pipeline_tests benchmarks packaging
	$(BIN)/ruff format --check anon_pipeline anon_pipeline_tests benchmarks packaging
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format anon_pipeline anon_pipeline_tests benchmarks packaging
	$(BIN)/ruff check --fix anon_pipeline anon_pipeline_tests benchmarks packaging

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 -q

# The cluster deployment's end-to-end test alone (make test runs it too).
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster -q

# An offline installer of stage 1 for the hospital computer: the wheels of anon_pipeline
# and what stage 1 needs (no Dagster, no DuckDB) for PLATFORM (native, win_amd64,
# macosx_arm64, macosx_x86_64, manylinux_x86_64) and BUNDLE_PYTHON, with the platform's
# installer; packaging/hospital/build_bundle.py says more.
PLATFORM ?= native
BUNDLE_PYTHON ?= 3.11
hospital-bundle: $(STAMP)
	rm -rf build
	$(BIN)/python packaging/hospital/build_bundle.py --platform $(PLATFORM) --python $(BUNDLE_PYTHON) \
		$(if $(HOSPITAL_BUNDLE),--dir $(HOSPITAL_BUNDLE))

# Everything below but the long memory and instruction runs.
bench: bench-files bench-dagster bench-sensor bench-index bench-cluster bench-review bench-leak-check bench-pixels

# Files/s of each stage and the whole pipeline next to cp -r and a pydicom round trip.
bench-files: $(STAMP)
	$(BIN)/python benchmarks/run.py --files $(or $(BENCH_FILES),1000)

# One CD through the Dagster job next to `anon-pipeline anonymize` and cp -r, per step.
bench-dagster: $(STAMP)
	$(BIN)/python benchmarks/dagster_run.py --files $(or $(BENCH_CD_FILES),1300)

# The arrival sensor's tick at 1,000 and 20,000 processed batches (26 M empty files as
# hard links: about 10 minutes and 2 GB of disk).
bench-sensor: $(STAMP)
	$(BIN)/python benchmarks/sensor.py --batches $(BENCH_BATCHES)

# The identifying-value check: false alarms and misses over 2,000 realistic batches, and
# its cost per file next to the byte search it replaced and a pydicom read (~1 minute).
bench-leak-check: $(STAMP)
	$(BIN)/python benchmarks/leak_check.py --batches $(or $(BENCH_LEAK_BATCHES),2000)

# The text-in-pixels check: recall (six seeds, three never tuned on), false holds, cost against
# anonymize without it, in seconds and (with valgrind) in instructions, and both again at a
# low-dose CT's noise and a soft kernel's, and false holds on four fresh pools (~24 min).
bench-pixels: $(STAMP)
	$(BIN)/python benchmarks/pixel_check.py

# The text check's recall on 1,200 small lines (9 to 11 px), every font (~2 min).
bench-small-text: $(STAMP)
	$(BIN)/python benchmarks/small_text.py

# The flat cores' recall on 2,000 full-contrast lines over the body, with and without (~40 s).
bench-body-text: $(STAMP)
	$(BIN)/python benchmarks/body_text.py

# The released index at 25 M instances: lookups, a batch's early check, a release (~3 min,
# 2 GB of disk).
# One batch's Dagster overhead in the embedded and the cluster deployment (~2 min).
bench-cluster: $(STAMP)
	$(BIN)/python benchmarks/cluster_overhead.py --files $(or $(BENCH_OVERHEAD_FILES),100)

# A review round over 1,000 synthetic batches: the page, its size, the bulk sign-off.
bench-review: $(STAMP)
	$(BIN)/python benchmarks/review_round.py --batches $(or $(BENCH_REVIEW_BATCHES),1000)

bench-index: $(STAMP)
	$(BIN)/python benchmarks/released_index.py --rows $(or $(BENCH_INDEX_ROWS),25000000)

# The Dagster job's peak memory on a 1,300-file CD and a 9,000-file DVD (~6 GB of disk).
bench-dagster-memory: $(STAMP)
	$(BIN)/python benchmarks/dagster_run.py --memory 1300,9000

# Peak memory of the whole pipeline at 2,000 and 20,000 files (needs ~35 GB of disk).
bench-memory: $(STAMP)
	$(BIN)/python benchmarks/run.py --memory $(or $(BENCH_MEMORY_FILES),2000)

# Instructions per file of each stage next to its pydicom baseline (valgrind: noise-free).
# Two revisions on the same synthetic CDs: every released and stage-1 file byte-identical?
same-outputs: $(STAMP)
	$(BIN)/python benchmarks/same_outputs.py --base $(or $(BASE),HEAD)

bench-instructions: $(STAMP)
	$(BIN)/python benchmarks/run.py --instructions $(or $(BENCH_INSTRUCTION_FILES),100)

clean:
	rm -rf $(VENV) $(DEMO_ROOT) dist .cluster .dagster_home .pytest_cache .ruff_cache .hypothesis
