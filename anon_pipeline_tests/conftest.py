"""Synthetic data builders every test reuses: a study, a CD batch, a processed batch.

All data is generated here (or comes from pydicom's bundled test files); never
real patient data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from pydicom.dataset import Dataset

from anon_pipeline.engine.batch.pipeline import (
    BatchPaths,
    BatchReport,
    Policy,
    StepOptions,
    anonymize_batch,
)
from anon_pipeline.engine.disk import parallel
from anon_pipeline.engine.rules.rule_set import RuleSet, load_shipped_rule_set
from anon_pipeline.synthetic.cds import FakePatient, fake_patient, write_cd_batch

TEST_KEY = bytes(range(32))


def query(sql: str) -> list[tuple]:
    """Rows of a DuckDB query over the Parquet tables a test produced."""
    with duckdb.connect() as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="session", autouse=True)
def pools_even_for_small_batches():
    """Test batches are small; with workers=2 they should still go through a real pool
    (pickling, worker processes), which production starts only for larger batches."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "MIN_POOL_ITEMS", 0)
        yield


@pytest.fixture(scope="session")
def key() -> bytes:
    return TEST_KEY


@pytest.fixture(scope="session")
def blacklist() -> RuleSet:
    return load_shipped_rule_set("blacklist")


@pytest.fixture(scope="session")
def whitelist() -> RuleSet:
    return load_shipped_rule_set("whitelist")


@pytest.fixture(scope="session")
def patients() -> list[FakePatient]:
    return [fake_patient(1), fake_patient(2), fake_patient(3)]


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> content hash (or link target) of everything under `folder`."""
    digest = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                digest[relative] = "link:" + os.readlink(path)
            elif path.is_file():
                digest[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest[relative] = f"dir:{oct(path.stat().st_mode)}"
    return digest


def write_dataset(path: Path, dataset: Dataset) -> Path:
    """Save a synthetic dataset as a Part 10 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


@dataclass(frozen=True)
class ProcessedBatch:
    """A CD batch and what `anonymize_batch` made of it."""

    batch_dir: Path
    secure_dir: Path
    release_dir: Path
    report: BatchReport
    patients: list[FakePatient]

    @property
    def paths(self) -> BatchPaths:
        return BatchPaths(self.batch_dir, self.secure_dir, self.release_dir)

    def release_files(self) -> list[Path]:
        return sorted(self.paths.release_files.rglob("*.dcm"))

    def stage1_files(self) -> list[Path]:
        return sorted(self.paths.stage1_files.rglob("*.dcm"))


def process_cd(
    root: Path, patients: list[FakePatient], key: bytes, workers: int = 2
) -> ProcessedBatch:
    batch_dir = root / "incoming" / "cd_001"
    write_cd_batch(batch_dir, patients, series=2, slices=3)
    return run_pipeline(batch_dir, root, key, patients, workers)


def run_pipeline(
    batch_dir: Path, root: Path, key: bytes, patients: list[FakePatient], workers: int = 2
) -> ProcessedBatch:
    secure_dir, release_dir = root / "secure" / batch_dir.name, root / "release" / batch_dir.name
    report = anonymize_batch(
        BatchPaths(batch_dir, secure_dir, release_dir),
        Policy(load_shipped_rule_set("blacklist"), load_shipped_rule_set("whitelist"), key),
        StepOptions(workers=workers),
    )
    return ProcessedBatch(batch_dir, secure_dir, release_dir, report, patients)


@pytest.fixture(scope="session")
def processed_cd(
    tmp_path_factory: pytest.TempPathFactory, patients: list[FakePatient]
) -> ProcessedBatch:
    """One CD (3 patients x 2 series x 3 slices, DICOMDIR, extras) through both stages,
    with two worker processes: shared by the read-only end-to-end tests."""
    return process_cd(tmp_path_factory.mktemp("processed"), patients, TEST_KEY, workers=2)
