"""One batch end to end: scan, stage 1, stage 2, and the tables verification needs.

Layout of a processed batch (DESIGN.md, zones):
  secure_dir/   manifest.parquet, blacklisted/ (stage-1 files), uid_map.parquet,
                review_queue.parquet                                  (mode 0700)
  release_dir/  dicom/<study>/<series>/<instance>.dcm, inventory.parquet, summary.json
Both folders are built beside their targets and swapped in whole.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from anon_pipeline.engine.atomic import staged_directory, write_bytes_atomically
from anon_pipeline.engine.layout import SECURE_MODE
from anon_pipeline.engine.parallel import Progress
from anon_pipeline.engine.rules import RuleSet
from anon_pipeline.engine.scan import ScannedFile, scan_batch
from anon_pipeline.engine.stage import FileOutcome, Outcome, Stage, StageReport, run_stage
from anon_pipeline.engine.tables import (
    MANIFEST_SCHEMA,
    write_inventory,
    write_review_queue,
    write_rows,
    write_uid_map,
)

PhaseProgress = Callable[[str, int, int], None]  # (phase, files done, files total)
STAGE1_FOLDER = "blacklisted"
RELEASE_FOLDER = "dicom"


@dataclass
class BatchReport:
    """PHI-free summary of a processed batch: what the demo prints and Dagster shows."""

    files_in: int
    kinds: dict[str, int]
    outcomes: dict[str, int]
    reasons: dict[str, int]
    studies: int
    series: int
    hashed_uids: int
    review_attributes: int
    blacklist_version: str
    whitelist_version: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def manifest_rows(scanned: list[ScannedFile], outcomes: list[FileOutcome]) -> list[dict[str, Any]]:
    """Scan facts joined with each row's final outcome: one row per input file."""
    by_row = {outcome.row: outcome for outcome in outcomes}
    rows = []
    for file in scanned:
        outcome = by_row[file.row]
        rows.append(
            {
                **{k: v for k, v in vars(file).items()},
                "kind": file.kind.value,
                "outcome": outcome.outcome.value,
                "disposition": outcome.disposition,
                "output_name": outcome.output_name,
                "output_size": outcome.output_size,
                "output_hash": outcome.output_hash,
                "output_pixel_hash": outcome.output_pixel_hash,
                "error": outcome.error,
            }
        )
    return rows


def stage2_inputs(scanned: list[ScannedFile], stage1: list[FileOutcome]) -> list[ScannedFile]:
    """Stage-1 outputs described as scan rows (same row numbers), so stage 2 needs no rescan."""
    by_row = {file.row: file for file in scanned}
    return [
        replace(
            by_row[outcome.row],
            relative_path=outcome.output_name,
            size=outcome.output_size,
            content_hash=outcome.output_hash,
        )
        for outcome in stage1
        if outcome.outcome is Outcome.ANONYMIZED
    ]


def final_outcomes(stage1: list[FileOutcome], stage2: list[FileOutcome]) -> list[FileOutcome]:
    """A row's final outcome is stage 2's if it passed stage 1, else stage 1's."""
    second = {outcome.row: outcome for outcome in stage2}
    return [second.get(outcome.row, outcome) for outcome in stage1]


def anonymize_batch(
    batch_dir: Path,
    secure_dir: Path,
    release_dir: Path,
    *,
    blacklist: RuleSet,
    whitelist: RuleSet,
    key: bytes,
    workers: int | None = None,
    progress: PhaseProgress | None = None,
) -> BatchReport:
    """Scan, blacklist and whitelist one batch; replace its secure and release folders whole."""
    started = time.perf_counter()
    scanned = scan_batch(batch_dir, workers, phase(progress, "scan"))
    with (
        staged_directory(Path(secure_dir), SECURE_MODE) as secure,
        staged_directory(Path(release_dir)) as release,
    ):
        work = secure / ".work"
        report1, stage1 = run_stage(
            Stage.BLACKLIST, batch_dir, scanned, secure / STAGE1_FOLDER, work / "stage1",
            blacklist, key, workers, phase(progress, "blacklist"),
        )  # fmt: skip
        report2, stage2 = run_stage(
            Stage.WHITELIST, secure / STAGE1_FOLDER, stage2_inputs(scanned, stage1),
            release / RELEASE_FOLDER, work / "stage2", whitelist, key, workers,
            phase(progress, "whitelist"),
        )  # fmt: skip
        outcomes = final_outcomes(stage1, stage2)
        write_rows(secure / "manifest.parquet", manifest_rows(scanned, outcomes), MANIFEST_SCHEMA)
        hashed_uids = write_uid_map(work / "stage2", secure / "uid_map.parquet")
        review_attributes = write_review_queue(work / "stage2", secure / "review_queue.parquet")
        write_inventory(work / "stage2", release / "inventory.parquet")
        shutil.rmtree(work)
        report = batch_report(scanned, outcomes, report1, report2, hashed_uids, review_attributes)
        report.seconds = round(time.perf_counter() - started, 3)
        summary = json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n"
        write_bytes_atomically(release / "summary.json", summary.encode())
    return report


def batch_report(
    scanned: list[ScannedFile],
    outcomes: list[FileOutcome],
    report1: StageReport,
    report2: StageReport,
    hashed_uids: int,
    review_attributes: int,
) -> BatchReport:
    def count(values: list[str]) -> dict[str, int]:
        return {value: values.count(value) for value in sorted(set(values))}

    return BatchReport(
        files_in=len(scanned),
        kinds=count([file.kind.value for file in scanned]),
        outcomes=count([outcome.outcome.value for outcome in outcomes]),
        reasons=count([outcome.disposition.split(" (")[0] for outcome in outcomes]),
        studies=report2.studies,
        series=report2.series,
        hashed_uids=hashed_uids,
        review_attributes=review_attributes,
        blacklist_version=report1.rule_set_version,
        whitelist_version=report2.rule_set_version,
        seconds=0.0,
    )


def phase(progress: PhaseProgress | None, name: str) -> Progress | None:
    """Bind a phase name to a progress callback."""
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def blacklist_folder(
    input_dir: Path,
    output_dir: Path,
    *,
    rule_set: RuleSet,
    key: bytes,
    workers: int | None = None,
    progress: PhaseProgress | None = None,
) -> StageReport:
    """Stage 1 alone, for the offline hospital computer: OUTPUT/dicom/... and
    OUTPUT/manifest.parquet (original paths and UIDs: keep the output in a secure place)."""
    scanned = scan_batch(input_dir, workers, phase(progress, "scan"))
    with staged_directory(Path(output_dir), SECURE_MODE) as output:
        report, outcomes = run_stage(
            Stage.BLACKLIST, input_dir, scanned, output / RELEASE_FOLDER, output / ".work",
            rule_set, key, workers, phase(progress, "blacklist"),
        )  # fmt: skip
        shutil.rmtree(output / ".work")
        write_rows(output / "manifest.parquet", manifest_rows(scanned, outcomes), MANIFEST_SCHEMA)
    return report


def whitelist_folder(
    input_dir: Path,
    output_dir: Path,
    secure_dir: Path,
    *,
    rule_set: RuleSet,
    key: bytes,
    workers: int | None = None,
    progress: PhaseProgress | None = None,
) -> StageReport:
    """Stage 2 alone: OUTPUT/dicom/... and OUTPUT/inventory.parquet; the manifest, the
    hashed-UID map and the review queue (values from before whitelisting) go to `secure_dir`."""
    scanned = scan_batch(input_dir, workers, phase(progress, "scan"))
    with (
        staged_directory(Path(secure_dir), SECURE_MODE) as secure,
        staged_directory(Path(output_dir)) as output,
    ):
        report, outcomes = run_stage(
            Stage.WHITELIST, input_dir, scanned, output / RELEASE_FOLDER, secure / ".work",
            rule_set, key, workers, phase(progress, "whitelist"),
        )  # fmt: skip
        write_rows(secure / "manifest.parquet", manifest_rows(scanned, outcomes), MANIFEST_SCHEMA)
        write_uid_map(secure / ".work", secure / "uid_map.parquet")
        write_review_queue(secure / ".work", secure / "review_queue.parquet")
        write_inventory(secure / ".work", output / "inventory.parquet")
        shutil.rmtree(secure / ".work")
    return report
