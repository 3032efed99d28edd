"""Benchmark: the identifying-value check's false alarms and misses over many realistic
batches, and its cost per file next to the byte search it replaced and a pydicom read.

    python benchmarks/leak_check.py [--batches 2000] [--files 200] [--rounds 5]

The first half counts (synthetic/leak_trials.py): clean files failed (false alarms),
planted leaks not found (misses), and how many clean files the old search over all of a
file's bytes would have failed. The second times, on 512x512 16-bit released slices, the
check's search (raw headers, text regions, one Aho-Corasick pass), the old search (one
Aho-Corasick pass over every byte of the file) and pydicom's dcmread, in alternating
rounds within one run; the ratio is the median of the ratios within a round, which this
machine's drifting speed moves little.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from pathlib import Path

import ahocorasick_rs
import numpy as np
from pydicom import dcmread

sys.path.insert(0, str(Path(__file__).parent))
from run import machine_description, publish, two_column_table

from anon_pipeline.engine.dicom.dicomfile import encode_dicom, quiet_pydicom
from anon_pipeline.engine.dicom.identifiers import IdentifierSearch, search_file
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, load_rule_set
from anon_pipeline.synthetic.leak_trials import (
    byte_forms,
    released,
    run_trials,
    trial_patient,
    trial_slice,
)


def released_slices(count: int, policy: tuple) -> tuple[list[bytes], set[tuple[str, str]]]:
    """`count` released 512x512 16-bit slices of one patient, and the values removed."""
    rng = random.Random(7)
    patient = trial_patient(rng)
    files, identifiers = [], set()
    with quiet_pydicom():
        for index in range(count):
            dataset = trial_slice(patient, rng, index)
            dataset.Rows = dataset.Columns = 512
            dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
            pixels = np.random.default_rng(index).integers(0, 4096, (512, 512), dtype=np.uint16)
            dataset.PixelData = pixels.tobytes()
            identifiers |= released(dataset, policy)
            files.append(encode_dicom(dataset, dataset.file_meta.TransferSyntaxUID))
    return files, identifiers


def timed(files: list[bytes], check) -> float:
    started = time.perf_counter()
    for data in files:
        check(data)
    return (time.perf_counter() - started) / len(files) * 1e6


def cost_table(files: list[bytes], identifiers: set[tuple[str, str]], rounds: int) -> str:
    search = IdentifierSearch(identifiers)
    old = ahocorasick_rs.BytesAhoCorasick(
        sorted(byte_forms(identifiers)), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
    )
    ways = {
        "the check's search (text regions)": lambda data: search_file(search, data),
        "the old search (every byte)": old.find_matches_as_indexes,
        "pydicom dcmread (baseline)": lambda data: dcmread(io.BytesIO(data)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, check in ways.items():
            seconds[name].append(timed(files, check))
    new, previous = (
        seconds["the check's search (text regions)"],
        seconds["the old search (every byte)"],
    )
    ratio = statistics.median(a / b for a, b in zip(new, previous, strict=True))
    rows = [(name, f"{statistics.median(values):.0f} µs/file") for name, values in seconds.items()]
    rows.append(("check's search / old search (median of round ratios)", f"{ratio:.2f}"))
    return two_column_table(("per released 512x512 slice", "time"), rows)


def trials_table(batches: int, policy: tuple) -> str:
    started = time.perf_counter()
    tally = run_trials(batches, 3, policy[0], policy[1], seed=2026)
    rows = [
        ("batches (each its own key)", f"{tally.batches:,}"),
        ("clean files", f"{tally.clean_files:,}"),
        ("false alarms (clean files failed)", f"{len(tally.false_alarms)}"),
        ("clean files the old byte search would fail", f"{tally.byte_search_alarms:,}"),
        ("planted leaks", f"{sum(tally.planted.values()):,} ({len(tally.planted)} kinds)"),
        ("misses (planted leaks not found)", f"{len(tally.misses)}"),
        ("seconds", f"{time.perf_counter() - started:.1f}"),
    ]
    for example in [*tally.false_alarms, *tally.misses][:10]:
        print("  ", example)
    return two_column_table(("realistic synthetic batches", "count"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    blacklist = load_rule_set(SHIPPED_RULES_DIR / "blacklist.yaml")
    whitelist = load_rule_set(SHIPPED_RULES_DIR / "whitelist.yaml")
    report = trials_table(args.batches, (blacklist, whitelist))
    files, identifiers = released_slices(args.files, (blacklist, whitelist, bytes(32)))
    report += "\n\n" + cost_table(files, identifiers, args.rounds)
    publish(f"Identifying-value check, {machine_description()}", report, args.markdown)


if __name__ == "__main__":
    main()
