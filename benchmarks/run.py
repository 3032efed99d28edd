"""Benchmark: files/s of each stage and of the whole pipeline, next to baselines
measured in the same run on the same files (`cp -r`, a pydicom read + write).

    python benchmarks/run.py [--files 300] [--markdown docs/benchmarks.md]

Each measurement runs in its own process so its peak memory (ru_maxrss, which for
the worker pool covers the largest worker) can be read. Ratios matter, not
absolute times: this machine and CI's are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom import dcmread, dcmwrite

from anon_pipeline.engine.dicomfile import quiet_pydicom
from anon_pipeline.engine.keys import KEY_BYTES
from anon_pipeline.engine.parallel import map_chunks
from anon_pipeline.engine.pipeline import BatchPaths, anonymize_batch
from anon_pipeline.engine.rules import load_shipped_rule_set
from anon_pipeline.engine.scan import scan_batch
from anon_pipeline.engine.stage import Stage, run_stage
from anon_pipeline.engine.synthetic import fake_patient, make_realistic_ct_slice

KEY = bytes(range(KEY_BYTES))
SLICES_PER_SERIES = 100


def write_slice(folder: Path, _index: int, numbers: list[int]) -> list[int]:
    for number in numbers:
        patient = fake_patient(number // (SLICES_PER_SERIES * 2))
        series, instance = divmod(number % (SLICES_PER_SERIES * 2), SLICES_PER_SERIES)
        dataset = make_realistic_ct_slice(patient, "bench", series + 1, instance + 1)
        path = folder / f"P{number // 200:04d}" / f"S{series}" / f"IM{number:06d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(path, enforce_file_format=True)
    return numbers


def generate(folder: Path, files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    list(map_chunks(write_slice, folder, list(range(files)), os.cpu_count() or 1))


def pydicom_round_trip(source: Path, target: Path) -> None:
    with quiet_pydicom():
        for path in sorted(source.rglob("IM*")):
            output = target / path.relative_to(source)
            output.parent.mkdir(parents=True, exist_ok=True)
            dcmwrite(output, dcmread(path))


def measure(name: str, work: Path) -> dict:
    """Run one measurement in this process; return seconds and counts."""
    source = work / "input"
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    blacklist, whitelist = load_shipped_rule_set("blacklist"), load_shipped_rule_set("whitelist")
    started = time.perf_counter()
    if name == "cp":
        subprocess.run(["cp", "-r", str(source), str(out)], check=True)
    elif name == "pydicom":
        pydicom_round_trip(source, out)
    elif name == "scan":
        scan_batch(source, workers=1)
    elif name in ("stage1", "stage2"):
        stage_input = source if name == "stage1" else work / "out-stage1" / "dicom"
        scanned = scan_batch(stage_input, workers=1)
        started = time.perf_counter()  # the stage alone, without its scan
        stage = Stage.BLACKLIST if name == "stage1" else Stage.WHITELIST
        rules = blacklist if name == "stage1" else whitelist
        run_stage(stage, stage_input, scanned, out / "dicom", out / "parts", rules, KEY, workers=1)
    elif name.startswith("pipeline"):
        workers = int(name.removeprefix("pipeline"))
        paths = BatchPaths(source, out / "secure", out / "release")
        anonymize_batch(paths, blacklist=blacklist, whitelist=whitelist, key=KEY, workers=workers)
    seconds = time.perf_counter() - started
    return {"seconds": seconds}


ROWS = [
    ("cp", "cp -r (baseline)"),
    ("pydicom", "pydicom dcmread + dcmwrite (baseline)"),
    ("scan", "scan (hash + classify), 1 worker"),
    ("stage1", "stage 1 blacklist, 1 worker"),
    ("stage2", "stage 2 whitelist, 1 worker"),
    ("pipeline1", "whole pipeline, 1 worker"),
    ("pipeline2", "whole pipeline, 2 workers"),
]


def run_child(name: str, work: Path) -> dict:
    command = [sys.executable, __file__, "--measure", name, "--work", str(work)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"measurement {name} failed")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def table(results: dict, files: int, megabytes: float) -> str:
    base = results["pydicom"]["seconds"]
    copy = results["cp"]["seconds"]
    lines = [
        "| measurement | files/s | MB/s | × pydicom round trip | × cp -r | peak RSS (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in ROWS:
        seconds = results[name]["seconds"]
        lines.append(
            f"| {label} | {files / seconds:.0f} | {megabytes / seconds:.0f} | "
            f"{base / seconds:.2f} | {copy / seconds:.2f} | {results[name]['peak_mb']:.0f} |"
        )
    scaling = results["pipeline1"]["seconds"] / results["pipeline2"]["seconds"]
    lines.append("")
    lines.append(f"Scaling from 1 to 2 workers: {scaling:.2f}× (target ≥ 1.70×).")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--files", type=int, default=300, help="realistic CT slices (~525 KB each)")
    parser.add_argument(
        "--work", type=Path, default=None, help="work folder (default: a temp folder)"
    )
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.work)))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="anon-bench-"))
    try:
        print(f"generating {args.files} realistic CT slices in {work} ...", flush=True)
        generate(work / "input", args.files)
        megabytes = sum(p.stat().st_size for p in (work / "input").rglob("*") if p.is_file()) / 1e6
        results = {}
        for name, label in ROWS:
            results[name] = run_child(name, work)
            print(f"  {label}: {results[name]['seconds']:.2f}s", flush=True)
        report = table(results, args.files, megabytes)
        header = (
            f"{dt.date.today()}, {os.cpu_count()} cores ({platform.machine()}), Python "
            f"{platform.python_version()}, {args.files} files, {megabytes:.0f} MB, warm page cache"
        )
        print(f"\n{header}\n\n{report}")
        if args.markdown:
            args.markdown.write_text(f"### {header}\n\n{report}\n")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
