"""Benchmark: a review round over 1,000 batches, from the page to the bulk sign-off.

    python benchmarks/review_round.py [--batches 1000] [--files 40]

Each batch is synthetic but complete as sign-off sees it: a CD folder of empty files,
its manifest, the released (empty) files, an inventory of ~160 values (most shared by
every batch, as a CT series' are; positions and times per file; a few per batch), an
empty review queue, and the checks recorded as passed on those outputs, as the Dagster
checks leave them. Measured: building the round and its page, the page's size, and
approving every batch (which reuses the recorded checks: a `stat` per file, no read).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from run import machine_description, publish, two_column_table

from anon_pipeline.engine.batch.pipeline import BatchPaths
from anon_pipeline.engine.disk.layout import init_root
from anon_pipeline.engine.disk.tables import PART_SCHEMAS, VALUES, write_columns, write_manifest
from anon_pipeline.engine.files.outcomes import ANONYMIZED
from anon_pipeline.engine.files.scan import Kind, ScannedFile
from anon_pipeline.engine.files.stage import FileOutcome
from anon_pipeline.engine.release.review_round import (
    approve_round,
    build_round,
    save_round,
    write_page,
)
from anon_pipeline.engine.release.signoff import record_checks, release_state
from anon_pipeline.engine.release.verification import OutputChecks
from anon_pipeline.engine.rules.rule_set import load_shipped_rule_set

SHARED = {
    "Manufacturer": ("LO", "ACME"),
    "ManufacturerModelName": ("LO", "Synthetica 64"),
    "Modality": ("CS", "CT"),
    "BodyPartExamined": ("CS", "CHEST"),
    "KVP": ("DS", "120"),
    "ConvolutionKernel": ("SH", "B30f"),
    "PhotometricInterpretation": ("CS", "MONOCHROME2"),
    "Rows": ("US", "512"),
    "Columns": ("US", "512"),
    "PixelSpacing": ("DS", "0.7\\0.7"),
    "PatientID": ("LO", None),
    "StudyInstanceUID": ("UI", None),
}
INVENTORY_SCHEMA = PART_SCHEMAS[VALUES]
QUEUE_COLUMNS = ("tag", "keyword", "vr", "files", "paths", "sample_values")


def make_batch(root, index: int, files: int) -> None:
    batch = f"cd_{index:05d}"
    paths = BatchPaths.in_root(root, batch)
    paths.batch_dir.mkdir(parents=True)
    paths.release_files.mkdir(parents=True)
    paths.stage2_dir.mkdir(parents=True)
    scanned, outcomes = [], []
    for row in range(files):
        (paths.batch_dir / f"IM{row:04d}").touch()
        name = f"2.25.{index}/2.25.{index}1/2.25.{index}{row:04d}.dcm"
        (paths.release_files / name).parent.mkdir(parents=True, exist_ok=True)
        (paths.release_files / name).touch()
        scanned.append(ScannedFile(row, f"IM{row:04d}", 0, Kind.IMAGE))
        outcomes.append(FileOutcome(row, ANONYMIZED, name, 0, "0" * 32))
    write_manifest(paths.manifest, scanned, outcomes)
    rows = []
    for keyword, (vr, value) in SHARED.items():
        rows.append((keyword, vr, value if value is not None else f"{index:016X}", files))
    for row in range(files):  # a position and a time per file
        rows.append(("ImagePositionPatient", "DS", f"-100\\-100\\-{index}.{row}", 1))
        rows.append(("AcquisitionTime", "TM", f"10{row % 60:02d}{index % 60:02d}", 1))
    rows.append(("SoftwareVersions", "LO", f"VB{index % 40}", files))  # a few per batch
    columns = {
        "tag_path": [
            f"(0000,{n:04X})" if k not in ("ImagePositionPatient",) else "(0020,0032)"
            for n, (k, *_rest) in enumerate(rows)
        ],
        "keyword_path": [r[0] for r in rows],
        "vr": [r[1] for r in rows],
        "value": [r[2] for r in rows],
        "files": [r[3] for r in rows],
    }
    write_columns(paths.inventory, columns, INVENTORY_SCHEMA)
    empty_queue = {name: pa.array([], pa.string()) for name in QUEUE_COLUMNS}
    pq.write_table(pa.table(empty_queue), paths.review_queue)
    paths.run_record.write_text(
        json.dumps({"operator": "olaf", "finished_at": "2026-12-01", "whitelist_version": "bench"})
    )
    checks = OutputChecks()
    for findings in vars(checks).values():
        findings.checked = files
    record_checks(paths, checks, release_state(paths))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--files", type=int, default=40, help="files per batch")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    whitelist = load_shipped_rule_set("whitelist")
    with tempfile.TemporaryDirectory(prefix="review-round-") as folder:
        root = init_root(Path(folder) / "root", create_key=False)
        started = time.perf_counter()
        for index in range(args.batches):
            make_batch(root, index, args.files)
        setup = time.perf_counter() - started
        started = time.perf_counter()
        review = build_round(root, whitelist)
        save_round(root, review)
        page = write_page(root, review)
        build = time.perf_counter() - started
        size = page.stat().st_size
        started = time.perf_counter()
        approved, refused = approve_round(root, review.round_id, "Basia")
        approve_seconds = time.perf_counter() - started
        assert len(approved) == args.batches and not refused, refused
        reused = sum(json.loads(p.read_text())["checks_reused"] for p in root.approvals.iterdir())
        started = time.perf_counter()
        second = build_round(root, whitelist, review.batches[:1])  # after approval
        second_seconds = time.perf_counter() - started
    header = (
        f"Review round: {time.strftime('%Y-%m-%d')}, {machine_description()}, "
        f"{args.batches:,} batches of {args.files} files, `make bench-review`"
    )
    counts = f"{len(review.new_values)} / {len(review.summarised)} / {len(review.produced)}"
    rows = [
        ("round and page built (every inventory read once, fingerprints)", f"{build:.1f} s"),
        ("page size", f"{size / 1e6:.2f} MB"),
        ("values listed / number attributes summarised / rule-made attributes", counts),
        (f"bulk approval of {args.batches:,} batches", f"{approve_seconds:.1f} s"),
        ("approvals that reused the recorded checks", f"{reused:,}"),
        ("a later round over one of them: values still listed", f"{len(second.new_values)}"),
        ("building that later round", f"{second_seconds:.2f} s"),
        ("setup (synthetic batches)", f"{setup:.0f} s"),
    ]
    report = two_column_table(("measured", "value"), rows)
    publish(header, report, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
