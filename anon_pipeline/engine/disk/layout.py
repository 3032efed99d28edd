"""The data root's zones (DESIGN.md): where each batch's files and tables live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from anon_pipeline.engine.disk.folders import (
    ApprovalsFolder,
    BatchSecureFolder,
    ReleaseFolder,
    RoundsFolder,
    Stage1Folder,
    Stage2Folder,
)
from anon_pipeline.engine.disk.keys import KEY_FILE_NAME, create_key_file

SECURE_MODE = 0o700
DEFAULT_MARKER = ".copy_complete"  # the copy station's "this batch is complete" file


@dataclass(frozen=True)
class DataRoot:
    """ROOT/incoming (read-only CD copies), ROOT/secure (0700), ROOT/release."""

    root: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def secure(self) -> Path:
        return self.root / "secure"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def key_file(self) -> Path:
        return self.secure / KEY_FILE_NAME

    @property
    def reviewed_rules(self) -> Path:
        """Reviewers' decisions, layered over the shipped whitelist (review decide)."""
        return self.secure / "reviewed_rules.yaml"

    @property
    def approvals(self) -> Path:
        """One sign-off record per approved batch (anon-pipeline approve)."""
        return self.secure / "approvals"

    @property
    def approvals_folder(self) -> ApprovalsFolder:
        return ApprovalsFolder(self.approvals)

    @property
    def review_rounds(self) -> RoundsFolder:
        """Review rounds and the values each approved (`review_round`)."""
        return RoundsFolder(self.secure / "review")

    @property
    def audit_database(self) -> Path:
        return self.secure / "audit.duckdb"

    @property
    def released_index(self) -> Path:
        """Which batch released, or produced, each instance (`released_index`)."""
        return self.secure / "released_index.duckdb"

    @property
    def released(self) -> Path:
        """Approved batches, hard-linked from release/ with their audit log: what leaves."""
        return self.root / "released"

    @property
    def scratch(self) -> Path:
        """Default place for fast-disk staging (DESIGN.md, zones): transient, private."""
        return self.root / "scratch"

    def secure_batch(self, batch: str) -> Path:
        return self.secure / "batches" / batch

    def release_batch(self, batch: str) -> Path:
        return self.release / batch


def init_root(root: Path, create_key: bool = True) -> DataRoot:
    """Create the zones (secure with mode 0700) and, if asked, a new key; never overwrite a key."""
    data_root = DataRoot(Path(root))
    data_root.incoming.mkdir(parents=True, exist_ok=True)
    data_root.release.mkdir(parents=True, exist_ok=True)
    data_root.secure.mkdir(parents=True, exist_ok=True, mode=SECURE_MODE)
    os.chmod(data_root.secure, SECURE_MODE)  # mkdir's mode is masked by the umask
    if create_key:
        create_key_file(data_root.key_file)
    return data_root


@dataclass(frozen=True)
class BatchPaths:
    """Where one batch's inputs and outputs live."""

    batch_dir: Path
    secure_dir: Path
    release_dir: Path

    @property
    def batch(self) -> str:
        """The batch's name: its folder's, which is its Dagster partition key."""
        return self.batch_dir.name

    @classmethod
    def in_root(cls, root: DataRoot, batch: str) -> BatchPaths:
        return cls(root.incoming / batch, root.secure_batch(batch), root.release_batch(batch))

    @property
    def secure(self) -> BatchSecureFolder:
        return BatchSecureFolder(self.secure_dir)

    @property
    def stage1(self) -> Stage1Folder:
        return self.secure.stage1

    @property
    def stage2(self) -> Stage2Folder:
        return self.secure.stage2

    @property
    def release(self) -> ReleaseFolder:
        return ReleaseFolder(self.release_dir)

    # The files callers name most, by the folder objects' names.
    @property
    def scan(self) -> Path:
        return self.secure.scan

    @property
    def stage1_dir(self) -> Path:
        return self.stage1.path

    @property
    def stage1_files(self) -> Path:
        return self.stage1.files

    @property
    def identifiers(self) -> Path:
        return self.stage1.identifiers

    @property
    def stage2_dir(self) -> Path:
        return self.stage2.path

    @property
    def parts(self) -> Path:
        return self.stage2.parts

    @property
    def run_record(self) -> Path:
        return self.stage2.run_record

    @property
    def manifest(self) -> Path:
        return self.stage2.manifest

    @property
    def release_files(self) -> Path:
        return self.release.files

    @property
    def inventory(self) -> Path:
        return self.release.inventory

    @property
    def contact_sheet(self) -> Path:
        return self.secure.contact_sheet

    @property
    def checks_record(self) -> Path:
        """What the per-file checks last found, and on which outputs (signoff)."""
        return self.secure.checks_record

    @property
    def uid_map(self) -> Path:
        return self.secure.uid_map

    @property
    def review_queue(self) -> Path:
        return self.secure.review_queue
