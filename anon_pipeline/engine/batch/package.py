"""Stage-1 packages: what a hospital's stage 1 hands the server, and how the server
decides to trust it.

`anon-pipeline blacklist CD OUT` at the hospital writes OUT, which travels:

  OUT/dicom/<study>/<series>/<instance>.dcm  the stage-1 files
  OUT/stage1_manifest.parquet  one row per input file: kind, size, disposition, output
                               name, content hashes; no path, no UID, no error text
  OUT/stage1_package.json      format, tool, rule-set version, key fingerprint, counts,
                               the manifest's SHA-256
  OUT/STAGE1_COMPLETE          written last: an HMAC of the descriptor under the key

and OUT.hospital/, which stays: the full manifest (original paths and UIDs) and the
values stage 1 removed. The server adopts a package as the batch's stage-1 output
instead of blacklisting it again (which would pseudonymise the pseudonyms), after
checking all of it; anything that does not verify is refused whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from anon_pipeline import __version__
from anon_pipeline.engine.dicom.dicomfile import content_hash
from anon_pipeline.engine.dicom.identifiers import search_file, search_for
from anon_pipeline.engine.disk.atomic import write_bytes_atomically
from anon_pipeline.engine.disk.folders import (
    COMPLETE_MARKER,
    DESCRIPTOR,
    FILES_FOLDER,
    PACKAGE_MANIFEST,
    PackageFolder,
    Stage1Folder,
)
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER
from anon_pipeline.engine.disk.parallel import Progress, default_workers, map_chunks
from anon_pipeline.engine.disk.tables import (
    MANIFEST_SCHEMA,
    OUTCOME_SCHEMA,
    PART_SCHEMAS,
    columns_of,
    read_rows,
    write_columns,
    write_manifest,
)
from anon_pipeline.engine.files.scan import Kind, ScannedFile
from anon_pipeline.engine.files.stage import FileOutcome, Outcome, Stage, StageReport
from anon_pipeline.engine.rules.rule_set import RuleSet

PACKAGE_FORMAT = "anon_pipeline stage-1 package"
FORMAT_VERSION = 2  # 2: the descriptor records the hospital's identifying-value search
MAX_DESCRIPTOR_BYTES = 1_000_000
MAX_NAMED = 3  # file names quoted in a refusal (hashed-UID names: PHI-free)
MAX_EXAMPLES = 20  # files with a finding the descriptor names
OUTCOME_FIELDS = frozenset(OUTCOME_SCHEMA.names)


class PackageRefused(Exception):
    """A batch that claims to be a stage-1 package does not verify; the message names
    the batch and the reason, never a value."""


def key_fingerprint(key: bytes) -> str:
    """Names the key without revealing it: equal keys, equal fingerprints."""
    return hmac.new(key, b"anon_pipeline key fingerprint", hashlib.sha256).hexdigest()[:16]


def seal(key: bytes, descriptor: bytes) -> str:
    """What the completion marker holds: only a holder of the key can make it."""
    return hmac.new(key, descriptor, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class HospitalSearch:
    """The identifying-value search that stage 1 ran over its own output before sealing
    the package: the server has no values to search with (they stay at the hospital),
    so this is the check's outcome for the batch. `found` names files (hashed-UID
    names), element paths and the kinds of value, never a value."""

    files: int
    found: int  # files that hold an identifying value
    examples: tuple[str, ...] = ()  # the first MAX_EXAMPLES of them, with where and whose

    def as_descriptor(self) -> dict[str, Any]:
        return {"files": self.files, "found": self.found, "examples": list(self.examples)}

    @classmethod
    def from_descriptor(cls, descriptor: dict[str, Any]) -> HospitalSearch | None:
        recorded = descriptor.get("identifier_search")
        if not isinstance(recorded, dict):
            return None
        examples = tuple(str(example) for example in recorded.get("examples", []))
        return cls(int(recorded.get("files", 0)), int(recorded.get("found", 0)), examples)

    def summary(self) -> str:
        if not self.found:
            return f"no identifying value in any of its {self.files} files"
        shown = "; ".join(self.examples[:MAX_NAMED])
        return f"identifying values in {self.found} of its {self.files} files, e.g. {shown}"


def search_chunk(
    shared: tuple[Path, tuple[tuple[str, str], ...]], _index: int, names: list[str]
) -> list[str]:
    """The files among `names` (under shared's folder) that hold an identifying value,
    each as 'name: Keyword in path'."""
    folder, values = shared
    search = search_for(values)
    found = []
    for name in names:
        try:
            hit = search_file(search, (folder / name).read_bytes())
        except OSError:
            found.append(f"{name}: unreadable")
            continue
        if hit is not None:
            found.append(f"{name}: {hit}")
    return found


def search_stage1_output(
    files: Path,
    outcomes: list[FileOutcome],
    values: list[tuple[str, str]],
    workers: int | None = None,
    progress: Progress | None = None,
) -> HospitalSearch:
    """Stage 1's own output searched for the values it removed, before the package is
    sealed: what leaves the hospital must not carry them either."""
    names = sorted(
        o.output_name for o in outcomes if o.outcome is Outcome.ANONYMIZED and o.output_name
    )
    shared = (files, tuple(sorted(set(values))))
    found = sorted(map_chunks(search_chunk, shared, names, workers or default_workers(), progress))
    return HospitalSearch(len(names), len(found), tuple(found[:MAX_EXAMPLES]))


def hospital_row(row: int) -> str:
    """A package row's stand-in for the input path, which stays at the hospital."""
    return f"hospital/row-{row:07d}"


def travelling(scanned: list[ScannedFile], outcomes: list[FileOutcome]) -> tuple[list, list]:
    """The rows without what would identify: paths, input hashes, UIDs, error texts."""
    rows = [
        replace(
            row,
            relative_path=hospital_row(row.row),
            content_hash=None,
            detail=None,
            sop_instance_uid=None,
        )
        for row in scanned
    ]
    return rows, [replace(outcome, error=None) for outcome in outcomes]


def write_package(
    output: Path,
    scanned: list[ScannedFile],
    outcomes: list[FileOutcome],
    report: StageReport,
    policy: tuple[RuleSet, bytes],
    search: HospitalSearch,
) -> None:
    """Write the travelling manifest, the descriptor and, last, the sealed marker into
    `output` (which already holds dicom/)."""
    rule_set, key = policy
    package = PackageFolder(output)
    rows, travelling_outcomes = travelling(scanned, outcomes)
    write_manifest(package.manifest, rows, travelling_outcomes)
    descriptor = {
        "format": PACKAGE_FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "rule_set": rule_set.name,
        "rule_set_version": rule_set.version,
        "key_fingerprint": key_fingerprint(key),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files_in": len(scanned),
        "outcomes": dict(sorted(Counter(o.outcome.value for o in outcomes).items())),
        "reasons": dict(sorted(report.reasons.items())),
        "manifest_sha256": hashlib.sha256(package.manifest.read_bytes()).hexdigest(),
        "identifier_search": search.as_descriptor(),
    }
    encoded = json.dumps(descriptor, indent=2).encode()
    write_bytes_atomically(package.descriptor, encoded)
    write_bytes_atomically(package.complete_marker, (seal(key, encoded) + "\n").encode())


def is_package(batch_dir: Path) -> bool:
    """Whether a batch folder is a stage-1 package: its top level holds a descriptor
    that says so. A folder that only looks like one (its name, a dicom/ folder, a file
    of another format under the descriptor's name) is a raw CD."""
    path = Path(batch_dir) / DESCRIPTOR
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_DESCRIPTOR_BYTES:
            return False
        descriptor = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(descriptor, dict) and descriptor.get("format") == PACKAGE_FORMAT


@dataclass(frozen=True)
class Package:
    """A verified package: its descriptor, its rows as scan rows and stage-1 outcomes."""

    descriptor: dict[str, Any]
    scanned: list[ScannedFile]
    outcomes: list[FileOutcome]

    @property
    def search(self) -> HospitalSearch | None:
        return HospitalSearch.from_descriptor(self.descriptor)

    def metadata(self) -> dict[str, Any]:
        """What the server shows of the hospital's stage 1 (counts and versions)."""
        return {
            "stage1_site": "hospital (stage-1 package, adopted: not blacklisted again)",
            "stage1_tool_version": self.descriptor["tool_version"],
            "stage1_created_at": self.descriptor["created_at"],
            "key_fingerprint": self.descriptor["key_fingerprint"],
            "hospital_identifier_search": self.search.summary() if self.search else "none",
            "hospital_files_in": self.descriptor["files_in"],
            **{f"hospital_files_{k}": v for k, v in self.descriptor["outcomes"].items()},
        }


def read_package(batch_dir: Path, rule_set: RuleSet, key: bytes) -> Package:
    """Verify what a package claims of itself, in order, and return it; raise
    PackageRefused with the first reason it fails: complete, of a format, rules and key
    this server has, sealed by that key, with the manifest it describes. Its files are
    `check_package_files`'s (the scan checks them; adopting the package need not again)."""
    batch_dir = Path(batch_dir)
    refuse = refusal(batch_dir)
    complete, descriptor_path = batch_dir / COMPLETE_MARKER, batch_dir / DESCRIPTOR
    if not complete.is_file():
        raise refuse(
            f"incomplete: no {COMPLETE_MARKER} (stage 1 did not finish, or the copy is not "
            "complete); copy the whole package folder again"
        )
    encoded = descriptor_path.read_bytes()
    descriptor = json.loads(encoded)
    check_descriptor(descriptor, rule_set, key, refuse)
    if not hmac.compare_digest(complete.read_text().strip(), seal(key, encoded)):
        raise refuse(f"{DESCRIPTOR} was changed after stage 1 sealed it")
    manifest = batch_dir / PACKAGE_MANIFEST
    if not manifest.is_file() or (
        hashlib.sha256(manifest.read_bytes()).hexdigest() != descriptor.get("manifest_sha256")
    ):
        raise refuse(f"{PACKAGE_MANIFEST} is missing or differs from the one stage 1 wrote")
    search = HospitalSearch.from_descriptor(descriptor)
    if search is None or search.found:
        raise refuse(
            "stage 1's own search at the hospital found "
            + (search.summary() if search else "nothing recorded")
            + "; add the attributes named to the blacklist and blacklist the CD again"
        )
    scanned, outcomes = package_rows(read_rows(manifest))
    if len(scanned) != descriptor.get("files_in"):
        raise refuse(
            f"{PACKAGE_MANIFEST} has {len(scanned)} rows, the descriptor says "
            f"{descriptor.get('files_in')}"
        )
    return Package(descriptor, scanned, outcomes)


def refusal(batch_dir: Path) -> Callable[[str], PackageRefused]:
    """The refusal of one batch's package, with its reason (never a file's name that is
    not a stage-1 output: it may carry a patient's)."""
    return lambda reason: PackageRefused(
        f"batch {batch_dir.name}: stage-1 package refused: {reason}"
    )


def check_descriptor(
    descriptor: dict[str, Any], rule_set: RuleSet, key: bytes, refuse: Callable[[str], Exception]
) -> None:
    """The descriptor names a format this server reads, its blacklist and its key."""
    if descriptor.get("format_version") != FORMAT_VERSION:
        raise refuse(
            f"package format {descriptor.get('format_version')!r} is not one this "
            f"server reads ({FORMAT_VERSION})"
        )
    if descriptor.get("rule_set_version") != rule_set.version:
        raise refuse(
            f"made with blacklist rules {descriptor.get('rule_set_version')!r}, which this "
            f"server does not know (its blacklist is {rule_set.version}); blacklist the CD "
            "again at the hospital with the server's rule files"
        )
    if descriptor.get("key_fingerprint") != key_fingerprint(key):
        raise refuse(
            f"made with another key (fingerprint {descriptor.get('key_fingerprint')!r}, this "
            f"server's is {key_fingerprint(key)}); stage 1 must use the deployment's key, or "
            "the same patient would get other pseudonyms"
        )


def check_package_files(
    batch_dir: Path,
    package: Package,
    workers: int | None = None,
    progress: Progress | None = None,
    marker: str = DEFAULT_MARKER,
) -> None:
    """The package's listing is its manifest's (nothing missing, nothing extra but the
    copy marker) and every file has the hash stage 1 recorded; else PackageRefused."""
    batch_dir = Path(batch_dir)
    refuse = refusal(batch_dir)
    expected = {
        o.output_name: o.output_hash
        for o in package.outcomes
        if o.outcome is Outcome.ANONYMIZED and o.output_name is not None
    }
    check_listing(batch_dir, expected, marker, refuse)
    differing = sorted(
        name
        for name in map_chunks(
            differing_files,
            batch_dir,
            sorted(expected.items()),
            workers or default_workers(),
            progress,
        )
    )
    if differing:
        raise refuse(
            f"{len(differing)} file(s) differ from the hashes in its manifest (changed after "
            f"stage 1?), e.g. {', '.join(differing[:MAX_NAMED])}"
        )


def package_rows(rows: list[dict[str, Any]]) -> tuple[list[ScannedFile], list[FileOutcome]]:
    scanned, outcomes = [], []
    for row in rows:
        scan_fields = {
            name: row[name]
            for name in MANIFEST_SCHEMA.names
            if name not in OUTCOME_FIELDS or name == "row"
        }
        scanned.append(ScannedFile(**{**scan_fields, "kind": Kind(row["kind"])}))
        outcomes.append(FileOutcome.from_row(row))
    return scanned, outcomes


def check_listing(
    batch_dir: Path,
    expected: dict[str, str | None],
    marker: str,
    refuse: Callable[[str], Exception],
) -> None:
    """The package holds its files and nothing else (the copy station's marker aside)."""
    files = batch_dir / FILES_FOLDER
    found: set[str] = set()
    for root, _, names in os.walk(files):
        found.update(os.path.relpath(os.path.join(root, name), files) for name in names)
    missing, extra = sorted(set(expected) - found), sorted(found - set(expected))
    if missing:
        raise refuse(
            f"{len(missing)} file(s) of its manifest are missing, e.g. "
            f"{', '.join(missing[:MAX_NAMED])}"
        )
    if extra:  # not named: a file that is not a stage-1 output may carry any name
        raise refuse(f"{len(extra)} file(s) in dicom/ not in its manifest")
    allowed = {FILES_FOLDER, DESCRIPTOR, PACKAGE_MANIFEST, COMPLETE_MARKER, marker}
    others = sorted(set(os.listdir(batch_dir)) - allowed)
    if others:  # not named either (a folder named after a patient, say)
        raise refuse(
            f"{len(others)} other entr(ies) beside the package's own files: a "
            "package holds nothing else"
        )


def differing_files(batch_dir: Path, _index: int, files: list[tuple[str, str | None]]) -> list[str]:
    """The names among `files` whose bytes do not have their manifest hash."""
    differing = []
    for name, expected in files:
        try:
            data = (batch_dir / FILES_FOLDER / name).read_bytes()
        except OSError:
            differing.append(name)
            continue
        if content_hash(data) != expected:
            differing.append(name)
    return differing


def adopt_package(
    batch_dir: Path, package: Package, stage1: Stage1Folder, rule_set: RuleSet
) -> StageReport:
    """The package as this batch's stage-1 output, in the staging twin of blacklisted/:
    its files hard-linked (copied across file systems), its outcomes, and no identifiers
    (the values stage 1 removed stay at the hospital)."""
    source_files = PackageFolder(batch_dir).files
    for outcome in package.outcomes:
        if outcome.outcome is not Outcome.ANONYMIZED or not outcome.output_name:
            continue
        source, target = source_files / outcome.output_name, stage1.files / outcome.output_name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileNotFoundError:  # gone since the scan: stage 2 holds it as unreadable
            continue
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(source, target)
    stage1.files.mkdir(exist_ok=True)
    write_columns(stage1.outcomes, columns_of(package.outcomes, OUTCOME_SCHEMA), OUTCOME_SCHEMA)
    empty: dict[str, list[Any]] = {name: [] for name in PART_SCHEMAS["identifiers"].names}
    write_columns(stage1.identifiers, empty, PART_SCHEMAS["identifiers"])
    write_bytes_atomically(stage1.descriptor, json.dumps(package.descriptor).encode())
    return StageReport(
        Stage.BLACKLIST,
        rule_set.version,
        files_in=len(package.scanned),
        outcomes=dict(package.descriptor["outcomes"]),
        reasons=dict(package.descriptor["reasons"]),
        bytes_out=sum(o.output_size or 0 for o in package.outcomes),
    )
