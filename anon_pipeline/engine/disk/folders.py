"""Every folder a step writes, as a small object that names its files: each file name
is spelled here once. An object works on the final folder or on its staging twin (the
step writes the twin, then swaps it in whole: `atomic.staged_directory`).

The tree of a data root (DESIGN.md, zones):

    incoming/<batch>/                       a CD copy, or a hospital's PackageFolder (read only)
    secure/                                 (0700)
        anon_pipeline.key, reviewed_rules.yaml, released_index.duckdb, audit.duckdb
        approvals/<batch>.json              ApprovalsFolder
        review/rounds/<round>.json          RoundsFolder
        review/approved_values/<round>.parquet
        batches/<batch>/                    BatchSecureFolder: scan, uid map, review queue,
                                            checks record, contact sheet
            blacklisted/                    Stage1Folder: dicom/, outcomes, identifiers
            whitelisted/                    Stage2Folder: outcomes, manifest, run record, parts/
    release/<batch>/                        ReleaseFolder: dicom/, inventory
    released/<batch>/                       ReleasedFolder: dicom/ (links), inventory, audit

The commands over plain folders use the same objects: `blacklist CD OUT` writes a
PackageFolder (OUT) and HospitalRecords (OUT.hospital); `whitelist IN OUT` writes a
ReleaseFolder (OUT) and a FolderSecureRecords beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

FILES_FOLDER = "dicom"  # the DICOM files of a stage's output, under its folder
# The longest name a stage gives a file under its folder: three hashed UIDs (2.25. and
# up to 39 digits each), two separators and ".dcm", plus "dicom/" and a staging mark.
LONGEST_OUTPUT_NAME = len(FILES_FOLDER) + 1 + 3 * (5 + 39) + 2 + 4 + 24
WINDOWS_MAX_PATH = 259  # MAX_PATH (260) less the terminating NUL, without long paths


class PathTooLong(ValueError):
    """An output folder too deep for the platform's path limit: names the folder (one the
    operator chose), never a file of the CD."""


def check_output_depth(folder: Path, platform: str, long_paths: bool = False) -> None:
    """Refuse, before any work, an output folder whose files would pass Windows' 260
    characters (where long paths are not enabled): a file that cannot be written
    half-way through a CD helps nobody."""
    if platform != "win32" or long_paths:
        return
    longest = len(str(folder)) + 1 + LONGEST_OUTPUT_NAME
    if longest > WINDOWS_MAX_PATH:
        raise PathTooLong(
            f"{folder}: too deep for Windows' {WINDOWS_MAX_PATH + 1}-character paths "
            f"(its files would need up to {longest}); choose a folder of at most "
            f"{WINDOWS_MAX_PATH - 1 - LONGEST_OUTPUT_NAME} characters, such as "
            "E:\\pkg\\CD0001, or enable long paths (LongPathsEnabled)"
        )


def windows_long_paths() -> bool:
    """Whether Windows lets this program pass MAX_PATH (LongPathsEnabled; Python 3.6+
    declares itself long-path aware)."""
    try:
        import winreg  # type: ignore[import-not-found,unused-ignore]

        with winreg.OpenKey(  # type: ignore[attr-defined,unused-ignore]
            winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined,unused-ignore]
            r"SYSTEM\CurrentControlSet\Control\FileSystem",
        ) as key:
            return bool(winreg.QueryValueEx(key, "LongPathsEnabled")[0])  # type: ignore[attr-defined,unused-ignore]
    except (ImportError, OSError):
        return False


OUTCOMES = "outcomes.parquet"
IDENTIFIERS = "identifiers.parquet"
MANIFEST = "manifest.parquet"
INVENTORY = "inventory.parquet"
UID_MAP = "uid_map.parquet"
REVIEW_QUEUE = "review_queue.parquet"
PART_FILE = "rows.parquet"  # one side table's rows, under parts/<table>/ (`tables.SideTables`)


@dataclass(frozen=True)
class Folder:
    """A folder a step writes whole."""

    path: Path

    def twin(self, staging: Path) -> Self:
        """The same folder's layout at its staging twin."""
        return type(self)(Path(staging))


@dataclass(frozen=True)
class Stage1Folder(Folder):
    """secure/batches/<batch>/blacklisted/: stage 1's files and what it did to them."""

    @property
    def files(self) -> Path:
        return self.path / FILES_FOLDER

    @property
    def outcomes(self) -> Path:
        return self.path / OUTCOMES

    @property
    def identifiers(self) -> Path:
        """The values stage 1 took away: what the leak check searches for (secure)."""
        return self.path / IDENTIFIERS

    @property
    def parts(self) -> Path:
        """Per-chunk side tables while the stage runs; removed before the swap."""
        return self.path / "parts"

    @property
    def descriptor(self) -> Path:
        """An adopted package's descriptor (the hospital's counts and identifier search)."""
        return self.path / DESCRIPTOR


@dataclass(frozen=True)
class Stage2Folder(Folder):
    """secure/batches/<batch>/whitelisted/: stage 2's outcomes and the batch's manifest."""

    @property
    def outcomes(self) -> Path:
        return self.path / OUTCOMES

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    @property
    def run_record(self) -> Path:
        return self.path / "run.json"

    @property
    def parts(self) -> Path:
        """Per-chunk side tables (UID pairs, unlisted attributes, values): kept, the
        uid map and the review queue are built from them."""
        return self.path / "parts"


@dataclass(frozen=True)
class ReleaseFolder(Folder):
    """release/<batch>/ (or a whitelist command's OUT): the files and their inventory."""

    @property
    def files(self) -> Path:
        return self.path / FILES_FOLDER

    @property
    def inventory(self) -> Path:
        return self.path / INVENTORY


@dataclass(frozen=True)
class ReleasedFolder(ReleaseFolder):
    """released/<batch>/: what leaves, with its PHI-free audit log."""

    @property
    def audit(self) -> Path:
        return self.path / "audit.json"


@dataclass(frozen=True)
class BatchSecureFolder(Folder):
    """secure/batches/<batch>/: the batch's secure tables and records."""

    @property
    def scan(self) -> Path:
        return self.path / "scan.parquet"

    @property
    def stage1(self) -> Stage1Folder:
        return Stage1Folder(self.path / "blacklisted")

    @property
    def stage2(self) -> Stage2Folder:
        return Stage2Folder(self.path / "whitelisted")

    @property
    def uid_map(self) -> Path:
        return self.path / UID_MAP

    @property
    def review_queue(self) -> Path:
        return self.path / REVIEW_QUEUE

    @property
    def checks_record(self) -> Path:
        """What the per-file checks last found, and on which outputs (signoff)."""
        return self.path / "checks.json"

    @property
    def contact_sheet(self) -> Path:
        return self.path / "contact_sheet.png"

    @property
    def arrival_record(self) -> Path:
        """The listing signature the batch was processed with (a sensor-started run's run
        key): how a new or reset Dagster instance over this root knows the batch is done."""
        return self.path / "arrival.json"


DESCRIPTOR = "stage1_package.json"
PACKAGE_MANIFEST = "stage1_manifest.parquet"
COMPLETE_MARKER = "STAGE1_COMPLETE"


@dataclass(frozen=True)
class PackageFolder(Folder):
    """OUT/ of `blacklist CD OUT`: a stage-1 package, which travels (`batch.package`)."""

    @property
    def files(self) -> Path:
        return self.path / FILES_FOLDER

    @property
    def manifest(self) -> Path:
        """One row per input file, without paths, UIDs or values."""
        return self.path / PACKAGE_MANIFEST

    @property
    def descriptor(self) -> Path:
        return self.path / DESCRIPTOR

    @property
    def complete_marker(self) -> Path:
        """Written last: the seal, an HMAC of the descriptor under the key."""
        return self.path / COMPLETE_MARKER


@dataclass(frozen=True)
class RecordsFolder(Folder):
    """What a single-stage command over plain folders keeps beside its output: the
    manifest, and its side tables in a hidden parts folder while it runs."""

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    @property
    def parts(self) -> Path:
        return self.path / ".parts"


@dataclass(frozen=True)
class HospitalRecords(RecordsFolder):
    """OUT.hospital/ of `blacklist CD OUT`: what stays at the hospital (full manifest with
    original paths and UIDs, the values stage 1 removed)."""

    @property
    def identifiers(self) -> Path:
        return self.path / IDENTIFIERS


@dataclass(frozen=True)
class FolderSecureRecords(RecordsFolder):
    """The secure tables of `whitelist IN OUT`: manifest, uid map, review queue."""

    @property
    def uid_map(self) -> Path:
        return self.path / UID_MAP

    @property
    def review_queue(self) -> Path:
        return self.path / REVIEW_QUEUE


APPROVAL_SUFFIX = ".json"


@dataclass(frozen=True)
class ApprovalsFolder(Folder):
    """secure/approvals/: one sign-off record per approved batch, named after it."""

    def approval(self, batch: str) -> Path:
        return self.path / f"{batch}{APPROVAL_SUFFIX}"

    def records(self) -> list[Path]:
        """Every approval record, by name."""
        return sorted(self.path.glob(f"*{APPROVAL_SUFFIX}"))


@dataclass(frozen=True)
class RoundsFolder(Folder):
    """secure/review/: the review rounds and the values each approved."""

    def round_record(self, round_id: str) -> Path:
        return self.path / "rounds" / f"{round_id}.json"

    @property
    def rounds(self) -> Path:
        return self.path / "rounds"

    def page(self, round_id: str) -> Path:
        """The round's self-contained HTML page (secure zone: it shows released values)."""
        return self.path / f"{round_id}.html"

    def approved_values(self, round_id: str) -> Path:
        return self.path / "approved_values" / f"{round_id}.parquet"

    @property
    def approved(self) -> Path:
        return self.path / "approved_values"
