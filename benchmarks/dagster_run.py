"""Benchmark: one batch through the Dagster job next to `anon-pipeline anonymize` and
`cp -r` on the same files, in the same run, with each step's share of the job.

    python benchmarks/dagster_run.py [--files 1300] [--workers 2] [--repeat 3]
    python benchmarks/dagster_run.py --memory 1300,9000   # the job's peak memory, CD vs DVD

Each measurement runs in its own process, in rounds that alternate the three, and the
ratio is the median over rounds of the ratio within a round: this machine's speed
drifts by up to 2x over minutes, which hits both sides of a ratio taken this way
alike. The CLI is timed as a command (its imports included, as a user waits for it);
the job from the start to the end of `execute_in_process` in a process that has
imported Dagster and the definitions, on a SQLite instance as the default deployment
has: the run worker's own start (a fresh Python importing the code location) is
Dagster's, and comes on top in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import PeakMemory, generate, machine_description, publish

BATCH = "cd_bench"


def link_tree(source: Path, target: Path) -> None:
    """The batch as hard links: the pipeline only reads its input."""
    subprocess.run(["cp", "-al", str(source), str(target)], check=True)


def measure_job(work: Path, source: Path, workers: int) -> dict:
    """In this process: the job on one batch; seconds, each step's seconds, peak memory."""
    import dagster as dg

    from anon_pipeline.definitions import build_definitions
    from anon_pipeline.defs.jobs import anonymize_batch_job
    from anon_pipeline.defs.resources import PipelineSettings
    from anon_pipeline.engine.disk.layout import init_root

    root = work / "job-root"
    shutil.rmtree(root, ignore_errors=True)
    init_root(root)
    link_tree(source, root / "incoming" / BATCH)
    settings = PipelineSettings(root=str(root), workers=workers, operator="bench")
    job = build_definitions(settings).resolve_job_def(anonymize_batch_job.name)
    with tempfile.TemporaryDirectory(dir=work) as home:
        instance = dg.DagsterInstance.local_temp(home)
        instance.add_dynamic_partitions("batch", [BATCH])
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        with PeakMemory() as memory:
            started = time.perf_counter()
            result = job.execute_in_process(
                partition_key=BATCH, instance=instance, run_config=quiet, raise_on_error=False
            )
            seconds = time.perf_counter() - started
        steps, starts = {}, {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[event.step_key] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                steps[event.step_key] = record.timestamp - starts[event.step_key]
        blocking_failed = [
            check.check_name
            for check in result.get_asset_check_evaluations()
            if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        ]
        instance.dispose()
    shutil.rmtree(root, ignore_errors=True)
    return {
        "seconds": seconds,
        "steps": steps,
        "success": result.success,
        "blocking_checks_failed": blocking_failed,
        **memory.summary(),
    }


def measure_cli(work: Path, source: Path, workers: int) -> dict:
    from anon_pipeline.engine.disk.keys import create_key_file

    out, key = work / "cli-out", work / "cli.key"
    shutil.rmtree(out, ignore_errors=True)
    if not key.exists():
        create_key_file(key)
    command = [
        str(Path(sys.executable).with_name("anon-pipeline")),
        "anonymize",
        str(source),
        "--out",
        str(out),
        "--key-file",
        str(key),
        "--workers",
        str(workers),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds}


def measure_copy(work: Path, source: Path) -> dict:
    out = work / "cp-out"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(out)], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds}


def child(name: str, work: Path, source: Path, workers: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--measure",
        name,
        "--work",
        str(work),
        "--source",
        str(source),
        "--workers",
        str(workers),
    ]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


CHECK_STEP = "released_files_checks"
STAGE2_STEP = "whitelisted_files"


def speed_report(work: Path, files: int, workers: int, repeat: int) -> str:
    source = work / "input"
    print(f"generating {files} realistic CT slices ...", flush=True)
    generate(source, files)
    rounds: list[dict[str, dict]] = []
    for number in range(1, repeat + 1):
        measured = {
            "cp": child("cp", work, source, workers),
            "cli": child("cli", work, source, workers),
            "job": child("job", work, source, workers),
        }
        rounds.append(measured)
        print(
            f"  round {number}: cp -r {measured['cp']['seconds']:.2f}s, CLI "
            f"{measured['cli']['seconds']:.2f}s, job {measured['job']['seconds']:.2f}s "
            f"(success: {measured['job']['success']})",
            flush=True,
        )
    job_ratio = statistics.median(r["job"]["seconds"] / r["cli"]["seconds"] for r in rounds)
    check_ratio = statistics.median(
        r["job"]["steps"][CHECK_STEP] / r["job"]["steps"][STAGE2_STEP] for r in rounds
    )
    best = {name: min(r[name]["seconds"] for r in rounds) for name in ("cp", "cli", "job")}
    lines = [
        "| measurement | seconds (fastest) | files/s | × CLI (median of rounds) |",
        "| --- | ---: | ---: | ---: |",
        f"| cp -r (baseline) | {best['cp']:.2f} | {files / best['cp']:.0f} | |",
        f"| `anon-pipeline anonymize`, {workers} workers (a command) | {best['cli']:.2f} | "
        f"{files / best['cli']:.0f} | 1.00 |",
        f"| `anonymize_batch` job in process, {workers} workers | {best['job']:.2f} | "
        f"{files / best['job']:.0f} | {job_ratio:.2f} |",
        "",
        "| job step | seconds (median) | share of the job |",
        "| --- | ---: | ---: |",
    ]
    median_job = statistics.median(r["job"]["seconds"] for r in rounds)
    for step in sorted(rounds[0]["job"]["steps"], key=lambda s: -rounds[0]["job"]["steps"][s]):
        seconds = statistics.median(r["job"]["steps"].get(step, 0.0) for r in rounds)
        lines.append(f"| {step} | {seconds:.2f} | {seconds / median_job:.0%} |")
    in_steps = statistics.median(sum(r["job"]["steps"].values()) for r in rounds)
    lines.append(
        f"| Dagster between steps | {median_job - in_steps:.2f} | "
        f"{(median_job - in_steps) / median_job:.0%} |"
    )
    per_round = ", ".join(f"{r['job']['seconds'] / r['cli']['seconds']:.2f}" for r in rounds)
    failed = sorted({c for r in rounds for c in r["job"]["blocking_checks_failed"]})
    lines += [
        "",
        f"Job ÷ CLI: {job_ratio:.2f} (rounds: {per_round}; target ≤ 1.5). The four per-file "
        f"checks ÷ the `{STAGE2_STEP}` step: {check_ratio:.2f} (target ≤ 1). Blocking checks "
        f"failed: {', '.join(failed) or 'none'}.",
    ]
    return "\n".join(lines)


def memory_report(work: Path, sizes: list[int], workers: int) -> str:
    lines = [
        "| files | job seconds | files/s | peak RSS main (MB) | peak RSS largest worker (MB) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    results = {}
    for files in sizes:
        source = work / f"input-{files}"
        print(f"generating {files} realistic CT slices ...", flush=True)
        generate(source, files)
        result = child("job", work, source, workers)
        results[files] = result
        lines.append(
            f"| {files} | {result['seconds']:.1f} | {files / result['seconds']:.0f} | "
            f"{result['main_mb']:.0f} | {result['worker_mb']:.0f} |"
        )
        print(lines[-1], flush=True)
        shutil.rmtree(source)
    small, large = results[sizes[0]], results[sizes[-1]]
    main_growth = large["main_mb"] / small["main_mb"] - 1
    worker_growth = large["worker_mb"] / small["worker_mb"] - 1
    lines += [
        "",
        f"Peak memory of the run from {sizes[0]} to {sizes[-1]} files: main process "
        f"{main_growth:+.0%}, largest worker {worker_growth:+.0%} (target within ±20 %).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1300, help="realistic CT slices in the CD")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory", default="", metavar="N,M", help="instead: peak memory")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure = {
            "job": lambda: measure_job(args.work, args.source, args.workers),
            "cli": lambda: measure_cli(args.work, args.source, args.workers),
            "cp": lambda: measure_copy(args.work, args.source),
        }[args.measure]
        print(json.dumps(measure()))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="anon-bench-dagster-"))
    machine = machine_description()
    try:
        if args.memory:
            sizes = [int(size) for size in args.memory.split(",")]
            report = memory_report(work, sizes, args.workers)
            header = f"{dt.date.today()}, {machine}, the Dagster job's memory, {args.memory} files"
        else:
            report = speed_report(work, args.files, args.workers, args.repeat)
            header = (
                f"{dt.date.today()}, {machine}, one {args.files}-file CD through the "
                f"Dagster job, {args.repeat} rounds"
            )
        publish(header, report, args.markdown)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
