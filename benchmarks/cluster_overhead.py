"""Benchmark: what Dagster adds to one batch's run, in the embedded deployment and in
the cluster deployment, against the same job executed in process.

    python benchmarks/cluster_overhead.py [--files 100] [--runs 3]

One batch of realistic slices is dropped into `incoming/` again and again under new
names; the sensor starts each run. A run's time is its record's start to end (the run
worker's start, loading the code location, every step, writing events to the
instance's storage); the engine's work is the same job executed in this process
(`execute_in_process`, warm, on a temporary SQLite instance), measured alternately.
The difference is the deployment's own cost per batch. Embedded: SQLite and the
default run launcher (a new process per run). Cluster: Postgres, Redis and one Celery
worker (`--pool solo`, a process that stays up between runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dagster_run import link_tree, measure_job
from run import generate, machine_description, publish

from anon_pipeline.cluster.local import LocalCluster
from anon_pipeline.engine.disk.layout import init_root

RUN_TIMEOUT = 600


def run_times(instance, batch: str) -> tuple[float, float]:
    """(created to started, started to ended) of the batch's run, once it succeeded. A run
    is started when its worker has begun it: the worker's start and its loading of the
    code location fall in the first part, with the queue's wait."""
    import dagster as dg

    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        records = instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/partition": batch}), limit=1
        )
        if records and records[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS:
            record = records[0]
            return (
                record.start_time - record.create_timestamp.timestamp(),
                record.end_time - record.start_time,
            )
        if records and records[0].dagster_run.status == dg.DagsterRunStatus.FAILURE:
            raise RuntimeError(f"run of {batch} failed")
        time.sleep(0.5)
    raise RuntimeError(f"no successful run of {batch} within {RUN_TIMEOUT}s")


def drop(source: Path, root: Path, batch: str) -> None:
    staging = root / f".{batch}"
    link_tree(source, staging)
    (staging / ".copy_complete").touch()
    staging.rename(root / "incoming" / batch)


def run_batches(home: Path, source: Path, root: Path, batches: list[str]) -> list[tuple]:
    """Drop each batch in turn and wait for the sensor's run of it."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        times = []
        for batch in batches:
            drop(source, root, batch)
            times.append(run_times(instance, batch))
        return times


REPO = Path(__file__).resolve().parent.parent
WORKSPACE = REPO / "workspace.yaml"


def embedded(work: Path, source: Path, batches: list[str], workers: int) -> list[tuple]:
    """The repository's dagster.yaml (SQLite, queued coordinator, default launcher)."""

    home, root = work / "embedded-home", init_root(work / "embedded-root").root
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ANON_PIPELINE_ROOT": str(root),
        "ANON_PIPELINE_WORKERS": str(workers),
    }
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return run_batches(home, source, root, batches)
    finally:
        os.killpg(daemon.pid, 15)
        daemon.wait()


def cluster(work: Path, source: Path, batches: list[str], workers: int) -> list[tuple]:
    """The cluster's dagster.yaml (anon_pipeline/cluster) on this machine, one Celery
    worker."""

    root = init_root(work / "cluster-root").root
    with LocalCluster(work / "cluster", root, workers=1, engine_workers=workers) as up:
        saved = {name: os.environ.get(name) for name in up.env if name.startswith("ANON_")}
        os.environ.update({name: up.env[name] for name in saved})
        try:
            return run_batches(up.home, source, root, batches)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100, help="realistic slices in the batch")
    parser.add_argument("--runs", type=int, default=3, help="runs in each deployment")
    parser.add_argument("--workers", type=int, default=2, help="the engine's processes")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cluster-overhead-") as folder:
        work = Path(folder)
        source = work / "source"
        generate(source, args.files)
        batches = [f"cd_{n:03d}" for n in range(args.runs)]
        in_process = [measure_job(work, source, args.workers)["seconds"] for _ in range(args.runs)]
        deployments = {
            "embedded (SQLite, a process per run)": embedded(work, source, batches, args.workers),
            "cluster (Postgres, Celery worker)": cluster(work, source, batches, args.workers),
        }
    engine = statistics.median(in_process)
    rows = [
        "| deployment | run created → started (s) | started → ended (s) | overhead (s) |",
        "| --- | --- | --- | --- |",
        f"| in process (`execute_in_process`: the work itself) | – | {engine:.1f} | – |",
    ]
    for name, times in deployments.items():
        queued = statistics.median(t[0] for t in times)
        running = statistics.median(t[1] for t in times)
        overhead = statistics.median(t[0] + t[1] - engine for t in times)
        rows.append(f"| {name} | {queued:.1f} | {running:.1f} | {overhead:.1f} |")
    header = (
        f"Deployment overhead: {time.strftime('%Y-%m-%d')}, {machine_description()}, one "
        f"{args.files}-file batch, median of {args.runs} runs each, `make bench-cluster`"
    )
    publish(header, "\n".join(rows), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
