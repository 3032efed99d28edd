"""Benchmark: files/s of each stage and of the whole pipeline, next to baselines
measured in the same run on the same files (`cp -r`, a pydicom read + write).

    python benchmarks/run.py [--files 1000] [--repeat 5] [--markdown docs/benchmarks.md]
    python benchmarks/run.py --memory 2000      # peak memory at 2,000 vs 20,000 files

Each measurement runs in its own process, in `--repeat` rounds of all of them. The
table shows each one's fastest run, and every ratio is the median over the rounds
of the ratio between runs of the same round: this machine and CI's are shared and
their speed drifts by up to a factor of two over minutes, which best-of-N times
alone would turn into wrong ratios. Peak memory is each process's high-water mark (VmHWM), sampled
for the measuring process and every worker it starts. Ratios matter, not absolute
times. Where the page cache can be dropped (root on Linux), `cp -r` and the
pipeline are also measured from a cold cache with a final `sync`: disk speed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pydicom import dcmread, dcmwrite

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
from anon_pipeline.engine.disk.keys import KEY_BYTES
from anon_pipeline.engine.disk.parallel import map_chunks, shared_pool
from anon_pipeline.engine.files.scan import scan_batch
from anon_pipeline.engine.files.stage import Stage, StageJob, run_stage
from anon_pipeline.engine.rules.rule_set import load_shipped_rule_set
from anon_pipeline.synthetic.cds import fake_patient, make_realistic_ct_slice

KEY = bytes(range(KEY_BYTES))
SLICES_PER_SERIES = 100
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
CALLGRIND_FLAG = "ANON_BENCH_CALLGRIND"

# name -> (label, baseline it is compared with)
ROWS = {
    "cp": ("cp -r (baseline)", "cp"),
    "pydicom": ("pydicom dcmread + dcmwrite of the input (baseline)", "pydicom"),
    "read_write": ("read + write each file in Python, nothing parsed (I/O floor)", "pydicom"),
    "scan": ("scan (hash + classify), 1 worker", "pydicom"),
    "stage1": ("stage 1 blacklist, 1 worker", "pydicom"),
    "pydicom_stage1": ("pydicom dcmread + dcmwrite of stage 1's output (baseline)", None),
    "stage2": ("stage 2 whitelist, 1 worker", "pydicom_stage1"),
    "pipeline1": ("whole pipeline, 1 worker", "pydicom"),
    "pipeline2": ("whole pipeline, 2 workers", "pydicom"),
}
# Other anonymisers, measured when installed: name -> label. dicognito runs with the
# interpreter in DICOGNITO_PYTHON (or this one); gdcmanon (Debian's libgdcm-tools) runs
# PS3.15's basic profile, which needs a certificate: a throwaway one from openssl.
PEER_ROWS = {
    "dicognito": "dicognito 0.19 (peer, pydicom-based, 1 process)",
    "gdcmanon": "gdcmanon, basic profile (peer, C++, 1 process)",
}
# name -> (stage, label): each stage and the pydicom round trip of its input in one
# process, alternating every PAIRED_SLICE files, so that the machine's drift (up to 2×
# within a minute here) hits both sides alike.
PAIRED_ROWS = {
    "paired_stage1": (Stage.BLACKLIST, "stage 1 blacklist"),
    "paired_stage2": (Stage.WHITELIST, "stage 2 whitelist"),
}
PAIRED_SLICE = 50
# Each stage with 1 and with 2 workers once the pool has started: how the per-file work
# scales, without the pool's start (about 0.5 s of a core), which a 1,000-file run pays.
WARM_POOL = "warm_pool"
COLD_ROWS = {
    "cold_cp": ("cp -r + sync, cold cache (baseline)", "cold_cp"),
    "cold_pipeline1": ("whole pipeline + sync, cold cache, 1 worker", "cold_cp"),
}


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


def pydicom_round_trip(source: Path, target: Path, paths: list[Path] | None = None) -> None:
    """dcmread + dcmwrite of every file under `source` (or of `paths`, under it)."""
    with quiet_pydicom():
        for path in paths or sorted(p for p in source.rglob("*") if p.is_file()):
            output = target / path.relative_to(source)
            output.parent.mkdir(parents=True, exist_ok=True)
            dcmwrite(output, dcmread(path))


SPIN = "x = 0\nfor i in range(20_000_000):\n    x += i"


def machine_scaling() -> float:
    """What two processes get over one on this machine for pure CPU work (a Python loop):
    the ceiling for any 2-worker ratio, since shared cores rarely give a full 2×."""
    command = [sys.executable, "-c", SPIN]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    one = time.perf_counter() - started
    started = time.perf_counter()
    running = [subprocess.Popen(command) for _ in range(2)]
    for process in running:
        process.wait()
    two = time.perf_counter() - started
    return 2 * one / two


def read_write(source: Path, target: Path) -> None:
    """Each file read whole and written to a new file: what any per-file tool pays."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        output = target / path.relative_to(source)
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "xb") as handle:
            handle.write(path.read_bytes())


def dicognito_python() -> str:
    return os.environ.get("DICOGNITO_PYTHON") or sys.executable


def installed_peers() -> list[str]:
    """The peers this machine can run."""
    found = []
    check = [dicognito_python(), "-c", "import dicognito"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        found.append("dicognito")
    if shutil.which("gdcmanon") and shutil.which("openssl"):
        found.append("gdcmanon")
    return found


def peer_command(name: str, source: Path, out: Path, work: Path) -> list[str]:
    if name == "dicognito":
        return [dicognito_python(), "-m", "dicognito", "--quiet", "-o", str(out), str(source)]
    certificate, key = work / "peer-certificate.pem", work / "peer-key.pem"
    if not certificate.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=benchmark",
                "-keyout",
                str(key),
                "-out",
                str(certificate),
            ],
            check=True,
            capture_output=True,
        )
    out.mkdir(parents=True, exist_ok=True)
    return [
        "gdcmanon",
        "-e",
        "-c",
        str(certificate),
        "--continue",
        "-r",
        "-i",
        str(source),
        "-o",
        str(out),
    ]


def paired(name: str, work: Path, source: Path) -> dict:
    """A stage and the pydicom round trip of the same files, alternating slice by slice
    (which goes first alternates too); returns both sums."""
    stage, _ = PAIRED_ROWS[name]
    blacklist = stage is Stage.BLACKLIST
    rules = load_shipped_rule_set("blacklist" if blacklist else "whitelist")
    stage_input = source if blacklist else work / "out-stage1-kept" / "dicom"
    scanned = scan_batch(stage_input, workers=1)
    out = work / f"out-{name}"
    seconds = {"stage": 0.0, "pydicom": 0.0}
    with PeakMemory() as memory:
        for index, start in enumerate(range(0, len(scanned), PAIRED_SLICE)):
            rows = scanned[start : start + PAIRED_SLICE]
            sides = ("stage", "pydicom") if index % 2 == 0 else ("pydicom", "stage")
            for side in sides:
                started = time.perf_counter()
                if side == "stage":
                    parts = out / "stage" / f"parts-{index}"
                    run_stage(
                        StageJob(stage, rules, KEY, stage_input, out / "stage" / "dicom", parts),
                        rows,
                        1,
                    )
                else:
                    paths = [stage_input / row.relative_path for row in rows]
                    pydicom_round_trip(stage_input, out / "pydicom", paths)
                seconds[side] += time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds["stage"], "baseline_seconds": seconds["pydicom"], **memory.summary()}


def warm_pool(work: Path, source: Path) -> dict:
    """Seconds of each stage with 1 and with 2 workers, the pool started beforehand (by
    a first run with 2 workers, which is not counted)."""
    seconds: dict[str, float] = {}
    with shared_pool():
        for stage in (Stage.BLACKLIST, Stage.WHITELIST):
            blacklist = stage is Stage.BLACKLIST
            rules = load_shipped_rule_set("blacklist" if blacklist else "whitelist")
            stage_input = source if blacklist else work / "out-stage1-kept" / "dicom"
            scanned = scan_batch(stage_input, workers=1)
            out = work / f"out-{WARM_POOL}"
            for run, workers in enumerate((2, 1, 2)):  # the first run starts the pool
                shutil.rmtree(out, ignore_errors=True)
                key = bytes((byte + run) % 256 for byte in KEY)  # memos as cold as in a batch
                started = time.perf_counter()
                run_stage(
                    StageJob(stage, rules, key, stage_input, out / "dicom", out / "parts"),
                    scanned,
                    workers,
                )
                seconds[f"{stage.value}-{workers}"] = time.perf_counter() - started
            shutil.rmtree(out, ignore_errors=True)
    return {"seconds": sum(seconds.values()), **seconds}


class PeakMemory:
    """High-water marks (VmHWM) of this process and of its pool workers (the fork
    server's children, which rusage of this process would never see), sampled four
    times a second: a high-water mark only has to be read once before its process ends,
    and rarer samples keep the sampler's own CPU time out of the measurement."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.sample()

    def sample(self) -> None:
        me = os.getpid()
        pids = [me]
        for child in children(me):
            if is_fork_server(child):
                pids += children(child)
        for pid in pids:
            peak = high_water_mark(pid)
            if peak:
                self.peaks[pid] = max(peak, self.peaks.get(pid, 0))

    def summary(self) -> dict[str, float]:
        me = os.getpid()
        workers = [peak for pid, peak in self.peaks.items() if pid != me]
        return {
            "main_mb": self.peaks.get(me, 0) / 1024,
            "worker_mb": max(workers, default=0) / 1024,
        }


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return found


def high_water_mark(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # kB
    except OSError:
        pass
    return 0


def is_fork_server(pid: int) -> bool:
    try:
        return b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    DROP_CACHES.write_text("3\n")


def measure(name: str, work: Path, source: Path) -> dict:
    """Run one measurement in this process; return seconds and peak memory."""
    if name in PAIRED_ROWS or name == WARM_POOL:
        import pyarrow  # as below: a start-up cost, not per-file work

        pyarrow.array([0])
        return paired(name, work, source) if name in PAIRED_ROWS else warm_pool(work, source)
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    import pyarrow  # its first table imports pandas (0.5 s): a start-up cost, not per-file work

    pyarrow.array([0])
    work_of_row = prepared_work(name, work, source, out)
    if name.startswith("cold_"):
        drop_caches()
    with PeakMemory() as memory, counted_instructions():
        started = time.perf_counter()
        work_of_row()
        if name.startswith("cold_"):
            subprocess.run(["sync"], check=True)
        seconds = time.perf_counter() - started
    if name == "stage1":  # stage 2 and its baseline read these
        keep = work / "out-stage1-kept"
        shutil.rmtree(keep, ignore_errors=True)
        out.rename(keep)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, **memory.summary()}


def prepared_work(name: str, work: Path, source: Path, out: Path) -> Callable[[], object]:
    """A row's work, ready to run: what it needs first (rules, a scan) is done here,
    outside the time and the instructions measured."""
    stage1_out = work / "out-stage1-kept" / "dicom"
    if name in ("stage1", "stage2"):
        stage_input = source if name == "stage1" else stage1_out
        scanned = scan_batch(stage_input, workers=1)
        stage = Stage.BLACKLIST if name == "stage1" else Stage.WHITELIST
        rules = load_shipped_rule_set(stage.value)
        job = StageJob(stage, rules, KEY, stage_input, out / "dicom", out / "parts")
        return lambda: run_stage(job, scanned, 1)
    if "pipeline" in name:
        policy = Policy(load_shipped_rule_set("blacklist"), load_shipped_rule_set("whitelist"), KEY)
        paths = BatchPaths(source, out / "secure", out / "release")
        return lambda: anonymize_batch(paths, policy, StepOptions(workers=int(name[-1])))
    if name in PEER_ROWS:
        command = peer_command(name, source, out, work)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        return lambda: subprocess.run(command, check=True, **quiet)
    copy = ["cp", "-r", str(source), str(out)]
    return {
        "cp": lambda: subprocess.run(copy, check=True),
        "cold_cp": lambda: subprocess.run(copy, check=True),
        "pydicom": lambda: pydicom_round_trip(source, out),
        "read_write": lambda: read_write(source, out),
        "pydicom_stage1": lambda: pydicom_round_trip(stage1_out, out),
        "scan": lambda: scan_batch(source, workers=1),
    }[name]


def measure_command(name: str, work: Path, source: Path) -> list[str]:
    """This script, run again to measure one row in a process of its own."""
    return [
        sys.executable,
        __file__,
        "--measure",
        name,
        "--work",
        str(work),
        "--source",
        str(source),
    ]


def run_child(name: str, work: Path, source: Path) -> dict:
    command = measure_command(name, work, source)
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


@contextlib.contextmanager
def counted_instructions() -> Iterator[None]:
    """Under `--instructions`, switch callgrind's counting on for the measured work only
    (not the imports, not the set-up)."""
    if not os.environ.get(CALLGRIND_FLAG):
        yield
        return
    toggle = ["callgrind_control", "--instr=on", str(os.getpid())]
    subprocess.run(toggle, check=True, capture_output=True)
    try:
        yield
    finally:
        toggle[1] = "--instr=off"
        subprocess.run(toggle, check=True, capture_output=True)


def instructions_of(name: str, work: Path, source: Path) -> int:
    """User-space instructions of one measurement, counted by valgrind's callgrind:
    the same for the same code and files whatever else the machine is doing (the
    kernel's share of file I/O is not counted, on either side of a ratio)."""
    return callgrind_instructions(
        measure_command(name, work, source), work / f"callgrind-{name}.out"
    )


def callgrind_instructions(command: list[str], counts: Path) -> int:
    """The instructions `command` (a Python process that wraps its measured work in
    `counted_instructions`) runs on its main thread while counting is on, by valgrind's
    callgrind.

    Only the main thread, where the measured work runs: valgrind runs one thread at a
    time, so how long DuckDB's idle workers spin (`sem_trywait`) follows its scheduling,
    and counting them once gave 142.8 M instructions a file where two other counts of
    the same run gave 22.7 M. The other threads did about 2 % of the work when counted
    apart (2026-12-04)."""
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"]
    valgrind.append(f"--callgrind-out-file={counts}")
    environment = {**os.environ, CALLGRIND_FLAG: "1", "PYTHONHASHSEED": "0"}
    subprocess.run([*valgrind, *command], check=True, capture_output=True, env=environment)
    main_thread = counts.with_name(f"{counts.name}-01")  # callgrind numbers threads from 1
    totals = [line for line in main_thread.read_text().splitlines() if line.startswith("totals:")]
    return int(totals[0].split()[1])


def instructions_table(work: Path, files: int) -> str:
    """Instructions per file of each stage and of the pydicom round trip of its input."""
    print(f"generating {files} realistic CT slices in {work} ...", flush=True)
    source = work / "input"
    generate(source, files)
    counts = {}
    for name in ("pydicom", "stage1", "pydicom_stage1", "stage2"):  # stage1 makes stage 2's input
        counts[name] = instructions_of(name, work, source) / files
        print(f"  {name}: {counts[name] / 1e6:.2f} M instructions per file", flush=True)
    lines = [
        "| stage | M instructions per file | pydicom round trip of its input | × pydicom |",
        "| --- | ---: | ---: | ---: |",
    ]
    for stage, baseline, label in (
        ("stage1", "pydicom", "stage 1 blacklist"),
        ("stage2", "pydicom_stage1", "stage 2 whitelist"),
    ):
        lines.append(
            f"| {label} | {counts[stage] / 1e6:.2f} | {counts[baseline] / 1e6:.2f} | "
            f"{counts[baseline] / counts[stage]:.2f} |"
        )
    return "\n".join(lines)


def fastest(runs: list[dict]) -> dict:
    best = min(runs, key=lambda run: run["seconds"])
    return {
        **best,
        "main_mb": max(r["main_mb"] for r in runs),
        "worker_mb": max(r["worker_mb"] for r in runs),
    }


def paired_ratio(runs: dict[str, list[dict]], faster: str, slower: str) -> float:
    """Median over rounds of slower/faster seconds, each round's two runs taken minutes
    apart at most: robust to the drift that makes best-of-N times disagree."""
    ratios = [s["seconds"] / f["seconds"] for f, s in zip(runs[faster], runs[slower], strict=True)]
    return statistics.median(ratios)


def table(runs: dict[str, list[dict]], rows: dict, files: int, megabytes: float) -> str:
    lines = [
        "| measurement | files/s | MB/s | × its baseline | × cp -r | peak RSS main / worker (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (label, baseline) in rows.items():
        best = fastest(runs[name])
        seconds = best["seconds"]
        ratio = f"{paired_ratio(runs, name, baseline):.2f}" if baseline else ""
        copy = paired_ratio(runs, name, "cold_cp" if name.startswith("cold_") else "cp")
        worker = f"{best['worker_mb']:.0f}" if best["worker_mb"] else "-"
        lines.append(
            f"| {label} | {files / seconds:.0f} | {megabytes / seconds:.0f} | {ratio} | "
            f"{copy:.2f} | {best['main_mb']:.0f} / {worker} |"
        )
    return "\n".join(lines)


def paired_table(runs: dict[str, list[dict]], files: int) -> str:
    """Each stage against the pydicom round trip of its input, measured in one process,
    alternating every PAIRED_SLICE files: the ratio least touched by the machine's drift."""
    lines = [
        f"Each stage and a pydicom round trip of its input, in one process, alternating every "
        f"{PAIRED_SLICE} files:",
        "",
        "| stage | files/s | pydicom round trip, files/s | × pydicom (median) | rounds |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, (_, label) in PAIRED_ROWS.items():
        ratios = [run["baseline_seconds"] / run["seconds"] for run in runs[name]]
        best = fastest(runs[name])
        baseline = min(run["baseline_seconds"] for run in runs[name])
        lines.append(
            f"| {label} | {files / best['seconds']:.0f} | {files / baseline:.0f} | "
            f"{statistics.median(ratios):.2f} | {', '.join(f'{r:.2f}' for r in ratios)} |"
        )
    return "\n".join(lines)


def memory_comparison(work: Path, small: int, repeat: int) -> str:
    """The whole pipeline (2 workers) on `small` and 10 × `small` files: peak memory;
    and the same batches with 1 worker, for the scaling of larger batches (each run
    starts its worker pool once, which a 1,000-file batch barely amortises)."""
    large = small * 10
    print(f"generating {large} realistic CT slices for the memory comparison ...", flush=True)
    generate(work / "large", large)
    small_dir = work / "small"
    for path in sorted(p for p in (work / "large").rglob("*") if p.is_file())[:small]:
        target = small_dir / path.relative_to(work / "large")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    lines = [
        "| files | files/s, 2 workers | files/s, 1 worker | 2 workers ÷ 1 | "
        "peak RSS main (MB) | peak RSS largest worker (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    results = {}
    for files, folder in ((small, small_dir), (large, work / "large")):
        result = fastest([run_child("pipeline2", work, folder) for _ in range(repeat)])
        one = fastest([run_child("pipeline1", work, folder) for _ in range(repeat)])
        results[files] = result
        rates = f"{files / result['seconds']:.0f} | {files / one['seconds']:.0f}"
        lines.append(
            f"| {files} | {rates} | {one['seconds'] / result['seconds']:.2f} | "
            f"{result['main_mb']:.0f} | {result['worker_mb']:.0f} |"
        )
        print(lines[-1], flush=True)
    growth = results[large]["worker_mb"] / results[small]["worker_mb"] - 1
    main_growth = results[large]["main_mb"] / results[small]["main_mb"] - 1
    lines += [
        "",
        f"Worker peak memory from {small} to {large} files: {growth:+.0%} "
        f"(target within ±20 %); main process: {main_growth:+.0%}. Two Python loops "
        f"at once on this machine: {machine_scaling():.2f}× one.",
    ]
    return "\n".join(lines)


def machine_description() -> str:
    return f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}"


def two_column_table(columns: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    """A two-column Markdown table."""
    lines = [f"| {what} | {value} |" for what, value in rows]
    return "\n".join([f"| {columns[0]} | {columns[1]} |", "| --- | --- |", *lines])


def publish(header: str, report: str, markdown: Path | None) -> None:
    """Print a benchmark's table, and write it as a Markdown section if asked."""
    print(f"\n{header}\n\n{report}")
    if markdown:
        markdown.write_text(f"### {header}\n\n{report}\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--files", type=int, default=1000, help="realistic CT slices (~527 KB each)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds of every measurement")
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        metavar="N",
        help="instead: peak memory at N and 10 N files",
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="instead: instructions per file of each stage and its pydicom baseline, "
        "counted by valgrind on N files (deterministic; needs valgrind)",
    )
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.work, args.source)))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="anon-bench-"))
    machine = machine_description()
    try:
        if args.memory:
            report = memory_comparison(work, args.memory, 1)
            header = f"{dt.date.today()}, {machine}, memory at {args.memory} vs {args.memory * 10}"
        elif args.instructions:
            report = instructions_table(work, args.instructions)
            header = f"{dt.date.today()}, {machine}, instructions on {args.instructions} files"
        else:
            report, header = speed_table(work, args.files, args.repeat, machine)
        publish(header, report, args.markdown)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def speed_table(work: Path, files: int, repeat: int, machine: str) -> tuple[str, str]:
    print(f"generating {files} realistic CT slices in {work} ...", flush=True)
    source = work / "input"
    generate(source, files)
    megabytes = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) / 1e6
    rows = dict(ROWS)
    rows.update({name: (PEER_ROWS[name], "pydicom") for name in installed_peers()})
    cold = os.access(DROP_CACHES, os.W_OK)
    if cold:
        rows.update(COLD_ROWS)
    # Rounds of every measurement, fastest of each counts: a slow spell of a shared
    # machine then hits every row alike instead of whichever ran during it.
    runs: dict[str, list[dict]] = {name: [] for name in rows}
    for round_number in range(1, repeat + 1):
        for name, (label, _) in rows.items():
            runs[name].append(run_child(name, work, source))
            print(f"  round {round_number}, {label}: {runs[name][-1]['seconds']:.2f}s", flush=True)
    report = table(runs, rows, files, megabytes)
    paired_runs = {name: [] for name in PAIRED_ROWS}
    for round_number in range(1, repeat + 1):
        for name, (_, label) in PAIRED_ROWS.items():
            paired_runs[name].append(run_child(name, work, source))
            print(
                f"  round {round_number}, {label} and the pydicom round trip, interleaved: "
                f"{paired_runs[name][-1]['seconds']:.2f}s",
                flush=True,
            )
    report += "\n\n" + paired_table(paired_runs, files)
    scaling = paired_ratio(runs, "pipeline2", "pipeline1")
    per_round = ", ".join(
        f"{one['seconds'] / two['seconds']:.2f}"
        for one, two in zip(runs["pipeline1"], runs["pipeline2"], strict=True)
    )
    report += (
        f"\n\nScaling from 1 to 2 workers, whole pipeline (one pool start included): "
        f"{scaling:.2f}× (rounds: {per_round}; target ≥ 1.70×). Two Python loops at "
        f"once on this machine: {machine_scaling():.2f}× one."
    )
    warm = [run_child(WARM_POOL, work, source) for _ in range(repeat)]
    for stage in (Stage.BLACKLIST, Stage.WHITELIST):
        ratios = [run[f"{stage.value}-1"] / run[f"{stage.value}-2"] for run in warm]
        report += (
            f"\nScaling of {stage.value} with the pool already started: "
            f"{statistics.median(ratios):.2f}× (rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)})."
        )
    if not cold:
        report += "\nCold-cache rows skipped: the page cache cannot be dropped here (needs root)."
    header = (
        f"{dt.date.today()}, {machine}, {files} files, {megabytes:.0f} MB, "
        f"{repeat} rounds: files/s of the fastest run, ratios the median of the "
        "rounds' paired ratios"
    )
    return report, header


if __name__ == "__main__":
    sys.exit(main())
