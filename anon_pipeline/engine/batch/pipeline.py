"""One batch, step by step: scan, stage 1, stage 2, and the tables verification needs.

Each step reads what the step before it wrote and replaces its own outputs whole,
so the Dagster assets (one per step) and the CLI (all steps in a row) share one
code path. Layout of a batch (DESIGN.md, zones):

  secure/batches/<batch>/                                        (mode 0700)
      scan.parquet                 raw manifest: every file, its kind and hashes
      blacklisted/dicom/...        stage-1 files
      blacklisted/outcomes.parquet, identifiers.parquet (values stage 1 took away)
      whitelisted/manifest.parquet every input file with its final disposition
      whitelisted/outcomes.parquet, parts/ (per-chunk side tables of stage 2)
      uid_map.parquet, review_queue.parquet
  release/<batch>/
      dicom/<study>/<series>/<instance>.dcm, inventory.parquet
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import anon_pipeline.engine.batch.released_index as released_index
from anon_pipeline.engine.batch.arrivals import record_arrival
from anon_pipeline.engine.batch.package import (
    PackageFolder,
    PackageRefused,
    adopt_package,
    check_package_files,
    is_package,
    read_package,
    search_stage1_output,
    write_package,
)
from anon_pipeline.engine.disk.atomic import (
    remove_leftovers_in,
    staged_directory,
    write_bytes_atomically,
)
from anon_pipeline.engine.disk.folders import (
    FolderSecureRecords,
    HospitalRecords,
    ReleaseFolder,
    check_output_depth,
    windows_long_paths,
)
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER, SECURE_MODE, BatchPaths
from anon_pipeline.engine.disk.parallel import Progress, shared_pool
from anon_pipeline.engine.disk.scratch import Log, Scratch, staged_batch
from anon_pipeline.engine.disk.tables import (
    IDENTIFIERS,
    OUTCOME_SCHEMA,
    SCAN_SCHEMA,
    columns_of,
    read_rows,
    write_columns,
    write_distinct,
    write_identifiers,
    write_inventory,
    write_manifest,
    write_review_queue,
    write_uid_map,
)
from anon_pipeline.engine.files.outcomes import nothing_new
from anon_pipeline.engine.files.scan import Kind, ScannedFile, scan_batch
from anon_pipeline.engine.files.stage import (
    FileOutcome,
    Outcome,
    Stage,
    StageJob,
    StageReport,
    run_stage,
)
from anon_pipeline.engine.rules.rule_set import RuleSet

PhaseProgress = Callable[[str, int, int], None]  # (phase, files done, files total)
SERVER_SITE = "server (raw CD copy, blacklisted here)"


@dataclass(frozen=True)
class Policy:
    """What every batch is held to: both rule sets and the deployment's key. Two runs
    (or two sites) with the same policy give the same bytes for the same file."""

    blacklist: RuleSet
    whitelist: RuleSet
    key: bytes


@dataclass(frozen=True)
class StepOptions:
    """How a step runs and reports: the same batch gives the same outputs with any
    workers, progress, scratch and log. `marker` names the copy station's completion
    file, which is never part of the batch."""

    workers: int | None = None
    progress: PhaseProgress | None = None
    scratch: Scratch | None = None  # a fast disk to stage the batch on
    log: Log | None = None  # where a step says what it staged, in words without PHI
    marker: str = DEFAULT_MARKER

    def phase(self, name: str) -> Progress | None:
        """The progress callback bound to one phase's name."""
        return phase(self.progress, name)


DEFAULT_OPTIONS = StepOptions()


@dataclass
class ScanReport:
    """PHI-free facts about what arrived."""

    files: int
    bytes: int
    kinds: dict[str, int]
    seconds: float
    origin: dict[str, Any] = field(default_factory=lambda: {"stage1_site": SERVER_SITE})

    def metadata(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            **{f"kind_{kind.value}": self.kinds.get(kind.value, 0) for kind in Kind},
            "seconds": round(self.seconds, 3),
            **self.origin,
        }


@dataclass
class BatchReport:
    """PHI-free summary of a processed batch: what the CLI prints."""

    files_in: int
    outcomes: dict[str, int]
    reasons: dict[str, int]
    studies: int
    series: int
    review_attributes: int
    seconds: float

    @property
    def nothing_new(self) -> str | None:
        """The line to show when the batch holds only instances other batches hold."""
        return nothing_new(self.outcomes, self.reasons)


def phase(progress: PhaseProgress | None, name: str) -> Progress | None:
    """Bind a phase name to a progress callback."""
    if progress is None:
        return None
    return lambda done, total: progress(name, done, total)


def read_scan(path: Path) -> list[ScannedFile]:
    return [ScannedFile(**{**row, "kind": Kind(row["kind"])}) for row in read_rows(path)]


def read_outcomes(path: Path) -> list[FileOutcome]:
    return [FileOutcome.from_row(row) for row in read_rows(path)]


def stage2_inputs(scanned: list[ScannedFile], stage1: list[FileOutcome]) -> list[ScannedFile]:
    """Stage-1 outputs described as scan rows (same row numbers), so stage 2 needs no rescan."""
    by_row = {file.row: file for file in scanned}
    return [
        replace(
            by_row[outcome.row],
            relative_path=outcome.output_name or "",
            size=outcome.output_size or 0,
            content_hash=outcome.output_hash,
        )
        for outcome in stage1
        if outcome.outcome is Outcome.ANONYMIZED
    ]


def final_outcomes(stage1: list[FileOutcome], stage2: list[FileOutcome]) -> list[FileOutcome]:
    """A row's final outcome is stage 2's if it passed stage 1, else stage 1's."""
    second = {outcome.row: outcome for outcome in stage2}
    return [second.get(outcome.row, outcome) for outcome in stage1]


def scan_step(
    paths: BatchPaths, policy: Policy, options: StepOptions = DEFAULT_OPTIONS
) -> ScanReport:
    """List and classify every file of the batch; write the raw manifest (secure). A
    stage-1 package is verified whole instead (its files against their hashes, its rules
    and key against the policy's blacklist and key), and its manifest's rows become the
    batch's; one that does not verify raises PackageRefused before anything is written."""
    started = time.perf_counter()
    origin = {"stage1_site": SERVER_SITE}
    workers, progress, marker = options.workers, options.phase("scan"), options.marker
    for folder in (paths.secure_dir, paths.release_dir):  # one run per batch at a time
        remove_leftovers_in(folder)
    with staged_batch(paths.batch_dir, options.scratch, options.log) as batch_dir:
        if is_package(batch_dir):
            package = read_package(batch_dir, policy.blacklist, policy.key)
            check_package_files(batch_dir, package, workers, progress, marker)
            scanned, origin = package.scanned, package.metadata()
        else:
            scanned = scan_batch(batch_dir, workers, progress, marker)
    paths.secure_dir.mkdir(parents=True, exist_ok=True, mode=SECURE_MODE)
    write_columns(paths.scan, columns_of(scanned, SCAN_SCHEMA), SCAN_SCHEMA)
    return ScanReport(
        files=len(scanned),
        bytes=sum(row.size for row in scanned),
        kinds=dict(Counter(row.kind.value for row in scanned)),
        seconds=time.perf_counter() - started,
        origin=origin,
    )


def blacklist_step(
    paths: BatchPaths, policy: Policy, options: StepOptions = DEFAULT_OPTIONS
) -> StageReport:
    """Stage 1 over the scanned batch; replaces blacklisted/ whole. A stage-1 package is
    adopted instead, never blacklisted again: its pseudonyms would be pseudonymised."""
    scanned = read_scan(paths.scan)
    rule_set, key = policy.blacklist, policy.key
    with (
        staged_batch(paths.batch_dir, options.scratch, options.log) as batch_dir,
        staged_directory(paths.stage1_dir, SECURE_MODE) as staging,
    ):
        stage1 = paths.stage1.twin(staging)
        if is_package(batch_dir):  # verified file by file at the scan; stage 2 rehashes
            package = read_package(batch_dir, rule_set, key)
            report = adopt_package(batch_dir, package, stage1, rule_set)
            return report.with_origin(package.metadata())
        report, outcomes = run_stage(
            StageJob(Stage.BLACKLIST, rule_set, key, batch_dir, stage1.files, stage1.parts),
            scanned,
            options.workers,
            options.phase("blacklist"),
        )
        write_columns(stage1.outcomes, columns_of(outcomes, OUTCOME_SCHEMA), OUTCOME_SCHEMA)
        write_identifiers(stage1.parts, stage1.identifiers)
        shutil.rmtree(stage1.parts)
    return report


def whitelist_step(
    paths: BatchPaths,
    policy: Policy,
    options: StepOptions = DEFAULT_OPTIONS,
    *,
    operator: str | None = None,
    index: Path | None = None,
    arrival: str | None = None,
) -> StageReport:
    """Stage 2 over stage 1's outputs; replaces release/<batch>/ and whitelisted/ whole.
    Records who ran it: the sign-off must come from someone else. With the released
    index, an instance another batch released or produced is skipped (same bytes) or
    held (other bytes), and what this batch produced is recorded there afterwards.
    `arrival`: the listing signature a sensor-started run was requested for, recorded
    in the data root so that a new Dagster instance knows the batch is done."""
    rule_set = policy.whitelist
    scanned = read_scan(paths.scan)
    stage1 = read_outcomes(paths.stage1.outcomes)
    inputs = stage2_inputs(scanned, stage1)
    # Stage 1 names its outputs as stage 2 will (hashed UIDs): the index is asked once.
    claimed = released_index.claims(index, [row.relative_path for row in inputs], paths.batch)
    with (
        staged_directory(paths.stage2_dir, SECURE_MODE) as secure_staging,
        staged_directory(paths.release_dir) as release_staging,
    ):
        secure = paths.stage2.twin(secure_staging)
        release = paths.release.twin(release_staging)
        report, stage2 = run_stage(
            StageJob(
                Stage.WHITELIST,
                rule_set,
                policy.key,
                paths.stage1_files,
                release.files,
                secure.parts,
                claimed=claimed,
            ),
            inputs,
            options.workers,
            options.phase("whitelist"),
        )
        write_columns(secure.outcomes, columns_of(stage2, OUTCOME_SCHEMA), OUTCOME_SCHEMA)
        # In the same swap as the files it describes: a crash must never leave new
        # files beside no inventory, or an old one.
        write_inventory(secure.parts, release.inventory)
        final = final_outcomes(stage1, stage2)
        write_manifest(secure.manifest, scanned, final)
        run = {
            "operator": operator or getpass.getuser(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "whitelist_version": rule_set.version,
            "blacklist_version": policy.blacklist.version,
        }
        write_bytes_atomically(secure.run_record, json.dumps(run, indent=2).encode())
    produced = [
        (o.output_name, o.output_hash or "")
        for o in stage2
        if o.outcome is Outcome.ANONYMIZED and o.output_name
    ]
    released_index.record_pending(index, paths.batch, produced)
    if arrival is not None:
        record_arrival(paths.secure.arrival_record, arrival)
    return report.with_final(len(scanned), (outcome.disposition for outcome in final))


def made_under_older_rules(paths: BatchPaths, blacklist: RuleSet, whitelist: RuleSet) -> bool:
    """Whether the batch was whitelisted (its run record) under other rule sets than
    these: a reviewer's decision since, or a rule change, makes it stale. A batch never
    whitelisted is not stale, only new (the arrival sensor's)."""
    try:
        run = json.loads(paths.run_record.read_bytes())
    except (FileNotFoundError, ValueError):
        return False
    if run.get("whitelist_version") != whitelist.version:
        return True
    return run.get("blacklist_version", blacklist.version) != blacklist.version


def uid_map_step(paths: BatchPaths) -> int:
    """original -> hashed UID for the batch (secure); returns the number of pairs."""
    return write_uid_map(paths.parts, paths.uid_map)


def review_queue_step(paths: BatchPaths) -> int:
    """Attributes no rule covered (secure, with samples); returns the number of attributes."""
    return write_review_queue(paths.parts, paths.review_queue)


def inventory_step(paths: BatchPaths) -> int:
    """The attribute-value inventory of the released files; returns its number of rows.
    whitelist_step writes it in the same swap as the files, so it is only counted here
    (and built from the parts if a release written by an older version lacks it)."""
    if not paths.inventory.exists():
        return write_inventory(paths.parts, paths.inventory)
    return pq.ParquetFile(paths.inventory).metadata.num_rows


def anonymize_batch(
    paths: BatchPaths,
    policy: Policy,
    options: StepOptions = DEFAULT_OPTIONS,
    *,
    operator: str | None = None,
    index: Path | None = None,
) -> BatchReport:
    """Every step for one batch, in order (what the Dagster assets do one by one); with a
    scratch folder, the batch is staged once for the two steps that read it; with the
    data root's released index, instances other batches hold are skipped or held."""
    started = time.perf_counter()
    with shared_pool():  # one pool start for the three phases
        with staged_batch(paths.batch_dir, options.scratch, options.log) as batch_dir:
            staged = replace(paths, batch_dir=batch_dir)
            unstaged = replace(options, scratch=None)  # staged once, here
            scan_step(staged, policy, unstaged)
            blacklist_step(staged, policy, unstaged)
        report = whitelist_step(paths, policy, options, operator=operator, index=index)
    uid_map_step(paths)
    review_attributes = review_queue_step(paths)  # the inventory came with whitelist_step
    return BatchReport(
        files_in=report.files_in,
        outcomes=dict(sorted(report.outcomes.items())),
        reasons=dict(sorted(report.reasons.items())),
        studies=report.studies,
        series=report.series,
        review_attributes=review_attributes,
        seconds=round(time.perf_counter() - started, 3),
    )


def blacklist_folder(
    input_dir: Path,
    output_dir: Path,
    records_dir: Path,
    rule_set: RuleSet,
    key: bytes,
    options: StepOptions = DEFAULT_OPTIONS,
) -> StageReport:
    """Stage 1 alone, for the offline hospital computer. OUTPUT becomes a stage-1 package
    (`package`: the files, a manifest without paths or values, a sealed descriptor), which
    travels to the server; RECORDS gets what stays at the hospital: the full manifest
    (original paths and UIDs) and the values stage 1 removed. Needs no DuckDB or Dagster."""
    if is_package(input_dir):
        raise PackageRefused(
            f"{Path(input_dir).name} is a stage-1 package already: carry it to the server as "
            "it is (blacklisting it again would pseudonymise its pseudonyms)"
        )
    if sys.platform == "win32":  # before any work: a file that cannot be written mid-CD
        check_output_depth(Path(output_dir).resolve(), sys.platform, windows_long_paths())
    with (
        shared_pool(),
        staged_batch(input_dir, options.scratch, options.log) as source,
        staged_directory(Path(output_dir), SECURE_MODE) as output,
        staged_directory(Path(records_dir), SECURE_MODE) as records_staging,
    ):
        records = HospitalRecords(records_staging)
        files = PackageFolder(output).files
        job = StageJob(Stage.BLACKLIST, rule_set, key, source, files, records.parts)
        scanned, report, outcomes = scan_and_run(job, options)
        write_manifest(records.manifest, scanned, outcomes)
        write_distinct(records.parts, IDENTIFIERS, records.identifiers)
        shutil.rmtree(records.parts)
        values = [(r["keyword"], r["value"]) for r in read_rows(records.identifiers)]
        search = search_stage1_output(
            files, outcomes, values, options.workers, options.phase("search")
        )
        write_package(output, scanned, outcomes, report, (rule_set, key), search)
    if search.found:  # after the swap: the package and the records stay, as evidence
        raise PackageRefused(
            f"{Path(output_dir).name}: stage 1's output still holds {search.summary()}; "
            "the server will refuse this package: add the attributes named to the blacklist "
            "and blacklist the CD again"
        )
    return report


def scan_and_run(
    job: StageJob, options: StepOptions
) -> tuple[list[ScannedFile], StageReport, list[FileOutcome]]:
    """A folder's scan, then one stage over it: the single-stage commands' work."""
    scanned = scan_batch(job.input_dir, options.workers, options.phase("scan"), options.marker)
    report, outcomes = run_stage(job, scanned, options.workers, options.phase(job.stage.value))
    return scanned, report, outcomes


def whitelist_folder(
    input_dir: Path,
    output_dir: Path,
    secure_dir: Path,
    rule_set: RuleSet,
    key: bytes,
    options: StepOptions = DEFAULT_OPTIONS,
) -> StageReport:
    """Stage 2 alone: OUTPUT/dicom/... and OUTPUT/inventory.parquet; the manifest, the
    hashed-UID map and the review queue (values from before whitelisting) go to `secure_dir`.
    A stage-1 package is refused: `anonymize_batch` verifies and adopts it."""
    if is_package(input_dir):
        raise PackageRefused(
            f"{Path(input_dir).name} is a stage-1 package: run `anon-pipeline anonymize` on "
            "it (or drop it into incoming/), which verifies it before stage 2"
        )
    with (
        shared_pool(),
        staged_directory(Path(secure_dir), SECURE_MODE) as secure_staging,
        staged_directory(Path(output_dir)) as output_staging,
    ):
        secure, output = FolderSecureRecords(secure_staging), ReleaseFolder(output_staging)
        job = StageJob(Stage.WHITELIST, rule_set, key, input_dir, output.files, secure.parts)
        scanned, report, outcomes = scan_and_run(job, options)
        write_manifest(secure.manifest, scanned, outcomes)
        write_uid_map(secure.parts, secure.uid_map)
        write_review_queue(secure.parts, secure.review_queue)
        write_inventory(secure.parts, output.inventory)
        shutil.rmtree(secure.parts)
    return report
