"""The automated half of verification: independent re-reads of a batch's outputs.

Each check re-reads what was written rather than trusting what the stages
reported. Findings name output files (hashed names) and attribute keywords,
never values, so they are safe to show in Dagster.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from anon_pipeline.engine.batch.package import DESCRIPTOR, HospitalSearch, is_package
from anon_pipeline.engine.batch.package import FILES_FOLDER as PACKAGE_FILES_FOLDER
from anon_pipeline.engine.disk.layout import BatchPaths
from anon_pipeline.engine.disk.parallel import Progress, default_workers, map_chunks
from anon_pipeline.engine.disk.tables import UID_PAIRS, read_rows
from anon_pipeline.engine.files.scan import list_batch
from anon_pipeline.engine.release.output_checks import (
    Failure,
    FileFindings,
    Identifiers,
    ReleasedFile,
    Sources,
    check_chunk,
)

MAX_LISTED = 20


@dataclass
class Findings:
    """Output files (hashed names) that failed a check, with PHI-free details."""

    checked: int = 0
    failed: list[str] = field(default_factory=list)
    searched_at: str | None = None  # where a search ran, if not here (a stage-1 package)

    @property
    def passed(self) -> bool:
        return not self.failed

    def metadata(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "failed": len(self.failed),
            "examples": "\n".join(self.failed[:MAX_LISTED]) or "none",
            **({"searched_at": self.searched_at} if self.searched_at else {}),
        }


@dataclass
class OutputChecks:
    """All per-file findings of one pass over the released files."""

    private_attributes: Findings = field(default_factory=Findings)
    original_uids: Findings = field(default_factory=Findings)
    identifying_values: Findings = field(default_factory=Findings)
    parse_and_pixels: Findings = field(default_factory=Findings)
    pixel_meaning: Findings = field(default_factory=Findings)


def released_files(paths: BatchPaths) -> list[ReleasedFile]:
    """The manifest's anonymized rows: output name, the hashes to compare with, the input.
    A manifest written before the scan fingerprinted pixel meaning has none to compare:
    its files fail that check until the batch is rerun."""
    names = pq.read_schema(paths.manifest).names
    meaning = "pixel_meaning" if "pixel_meaning" in names else "NULL"
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"SELECT output_name, pixel_hash, output_hash, {meaning}, relative_path "
            "FROM read_parquet(?) WHERE outcome = 'anonymized' ORDER BY output_name",
            [str(paths.manifest)],
        ).fetchall()
    return [ReleasedFile(*row) for row in rows]


def original_uids(paths: BatchPaths) -> frozenset[str]:
    with duckdb.connect() as connection:
        rows = connection.execute(
            "SELECT DISTINCT original_uid FROM read_parquet(?)",
            [str(paths.parts / UID_PAIRS / "*.parquet")],
        ).fetchall()
    return frozenset(uid for (uid,) in rows)


def files_on_disk(folder: Path) -> list[str]:
    """Every file under `folder`, as a path relative to it."""
    found = []
    for root, folders, names in os.walk(folder):
        folders.sort()
        found += [os.path.relpath(os.path.join(root, name), folder) for name in names]
    return sorted(found)


def check_outputs(
    paths: BatchPaths, workers: int | None = None, progress: Progress | None = None
) -> OutputChecks:
    """Re-read every released file once, in parallel, and run the per-file checks on it."""
    released = released_files(paths)
    identifiers = [(row["keyword"], row["value"]) for row in read_rows(paths.identifiers)]
    shared = Sources(
        paths.release_files,
        paths.batch_dir,
        Identifiers(tuple(identifiers)),
    )
    originals = original_uids(paths)
    on_disk = files_on_disk(paths.release_files)
    checks = OutputChecks()
    for findings in vars(checks).values():
        findings.checked = len(on_disk)
    listed = {file.output_name for file in released}
    for extra in sorted(set(on_disk) - listed):
        checks.parse_and_pixels.failed.append(f"{extra}: not in the manifest")
    for file_findings in map_chunks(
        check_chunk, shared, released, workers or default_workers(), progress
    ):  # each file's UIDs are compared as it comes back, never kept
        record_file(checks, file_findings, originals)
    for findings in vars(checks).values():
        findings.failed.sort()
    hospital = hospital_findings(paths)  # adopted: the values stayed at the hospital
    if hospital is not None:
        checks.identifying_values = hospital
    return checks


PROBLEMS = {
    Failure.PARSE: "does not parse",
    Failure.PIXELS: "pixel data differs from the input",
    Failure.ALTERED: "bytes differ from those the run wrote (manifest output_hash)",
}


def record_file(checks: OutputChecks, file: FileFindings, originals: frozenset[str]) -> None:
    """One file's findings, each into its check's (names and paths, never values)."""
    name = file.output_name
    if not originals.isdisjoint(file.uids):
        checks.original_uids.failed.append(name)
    if file.identifying is not None:
        checks.identifying_values.failed.append(f"{name}: {file.identifying}")
    for failure in file.failures:
        if failure == Failure.PRIVATE:
            checks.private_attributes.failed.append(name)
        elif failure == Failure.MEANING:
            checks.pixel_meaning.failed.append(f"{name}: {file.meaning_changes}")
        else:
            checks.parse_and_pixels.failed.append(f"{name}: {PROBLEMS[failure]}")


def hospital_findings(paths: BatchPaths) -> Findings | None:
    """The identifying-value check of a batch whose stage 1 ran at the hospital: the
    search stage 1 ran there over its own output before sealing the package (this server
    never had the values). None for a batch blacklisted here (no adopted descriptor). A
    package without a search, or with a finding, was refused when it arrived."""
    if not is_package(paths.stage1_dir):
        return None
    descriptor = json.loads(paths.stage1.descriptor.read_bytes())
    search = HospitalSearch.from_descriptor(descriptor)
    if search is None:
        return Findings(0, ["no identifying-value search recorded by the hospital"], "hospital")
    site = "hospital: stage 1 searched its own output before sealing the package"
    return Findings(search.files, list(search.examples), site)


def check_accounted(paths: BatchPaths) -> Findings:
    """Every file under the batch folder (and every folder it could not list) has one
    manifest row with a disposition. For a stage-1 package, whose rows are the hospital's
    input files: one row per file stage 1 read there, every package file one stage-1
    output, and every row a disposition."""
    if is_package(paths.batch_dir):
        return check_package_accounted(paths)
    listed = [entry.relative_path for entry in list_batch(paths.batch_dir)]
    rows = read_rows(paths.manifest)
    findings = Findings(checked=len(listed))
    manifest_paths = [row["relative_path"] for row in rows]
    if sorted(manifest_paths) != sorted(listed):
        missing = len(set(listed) - set(manifest_paths))
        extra = len(set(manifest_paths) - set(listed))
        findings.failed.append(
            f"{len(listed)} files on disk, {len(rows)} manifest rows "
            f"({missing} files without a row, {extra} rows without a file)"
        )
    return with_undisposed_rows(findings, rows)


def check_package_accounted(paths: BatchPaths) -> Findings:
    rows = read_rows(paths.manifest)
    descriptor = json.loads((paths.batch_dir / DESCRIPTOR).read_bytes())
    outputs = {
        row["output_name"]
        for row in read_rows(paths.stage1.outcomes)
        if row["outcome"] == "anonymized"
    }
    on_disk = set(files_on_disk(paths.batch_dir / PACKAGE_FILES_FOLDER))
    findings = Findings(checked=len(rows))
    if len(rows) != descriptor["files_in"]:
        findings.failed.append(
            f"{len(rows)} manifest rows for the {descriptor['files_in']} files stage 1 read"
        )
    if on_disk != outputs:
        findings.failed.append(
            f"{len(on_disk - outputs)} package files without a stage-1 row, "
            f"{len(outputs - on_disk)} stage-1 outputs missing from the package"
        )
    return with_undisposed_rows(findings, rows)


def with_undisposed_rows(findings: Findings, rows: list[dict]) -> Findings:
    """The findings, with a failure for manifest rows that have no disposition."""
    without = [row["row"] for row in rows if not row["disposition"]]
    if without:
        findings.failed.append(f"rows without a disposition: {without[:MAX_LISTED]}")
    return findings
