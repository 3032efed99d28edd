"""Fast-disk staging: copies within the budget, removed after, in place when it cannot."""

import json
import os
import subprocess

import pytest

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.scratch import (
    LEDGER,
    STAGED_MARK,
    Scratch,
    batch_bytes,
    ledger,
    reserve,
    staged_batch,
)
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY, tree_digest


@pytest.fixture
def batch(tmp_path):
    folder = tmp_path / "incoming" / "cd_001"
    write_cd_batch(folder, [fake_patient(4)], series=1, slices=2)
    os.symlink("README.TXT", folder / "LINK")
    return folder


def staged_entries(scratch):
    return [p.name for p in scratch.folder.iterdir() if p.name.startswith(STAGED_MARK)]


def test_a_batch_within_the_budget_is_read_from_a_private_copy_removed_after(batch, tmp_path):
    scratch = Scratch(tmp_path / "scratch", 10 * batch_bytes(batch))
    lines = []
    with staged_batch(batch, scratch, lines.append) as folder:
        assert folder != batch and folder.parent == scratch.folder
        assert tree_digest(folder) == tree_digest(batch)  # symlinks stay symlinks
        assert os.stat(folder).st_mode & 0o077 == 0
        reserved = json.loads((scratch.folder / LEDGER).read_text())
        assert [entry["bytes"] for entry in reserved.values()] == [batch_bytes(batch)]
    assert not folder.exists() and staged_entries(scratch) == []
    assert json.loads((scratch.folder / LEDGER).read_text()) == {}
    assert lines == [
        f"batch staged in scratch: {batch_bytes(batch)} bytes of a "
        f"{scratch.budget_bytes}-byte budget"
    ]


def test_a_batch_larger_than_the_budget_is_processed_in_place(batch, tmp_path):
    scratch = Scratch(tmp_path / "scratch", batch_bytes(batch) - 1)
    lines = []
    with staged_batch(batch, scratch, lines.append) as folder:
        assert folder == batch
    assert "larger than the scratch budget" in lines[0] and "processed in place" in lines[0]
    assert staged_entries(scratch) == []


def test_the_budget_is_shared_and_never_exceeded(batch, tmp_path):
    size = batch_bytes(batch)
    scratch = Scratch(tmp_path / "scratch", size + size // 2)
    lines = []
    with (
        staged_batch(batch, scratch, lines.append) as first,
        staged_batch(batch, scratch, lines.append) as second,
    ):
        assert first != batch and second == batch
    assert "in use by other batches" in lines[1]


def test_copies_left_by_a_run_that_died_are_removed_and_their_budget_freed(batch, tmp_path):
    scratch = Scratch(tmp_path / "scratch", batch_bytes(batch) + 10)
    process = subprocess.Popen(["true"])
    process.wait()
    token, _ = reserve(scratch, batch_bytes(batch))
    leftover = scratch.folder / f"{STAGED_MARK}{token}"
    leftover.mkdir()
    with ledger(scratch) as entries:
        entries[token]["pid"] = process.pid
    with staged_batch(batch, scratch) as folder:
        assert folder != batch
    assert not leftover.exists()


def test_a_batch_that_cannot_be_copied_whole_is_processed_in_place(batch, tmp_path):
    os.mkfifo(batch / "PIPE")  # copying a FIFO would block: refused, so the copy fails
    scratch = Scratch(tmp_path / "scratch", 10 * batch_bytes(batch))
    lines = []
    with staged_batch(batch, scratch, lines.append) as folder:
        assert folder == batch
    assert "copy failed" in lines[0]
    assert staged_entries(scratch) == []


def test_the_copy_is_removed_when_the_work_fails(batch, tmp_path):
    scratch = Scratch(tmp_path / "scratch", 10 * batch_bytes(batch))
    with pytest.raises(RuntimeError), staged_batch(batch, scratch) as folder:
        raise RuntimeError("stage failed")
    assert not folder.exists()
    assert json.loads((scratch.folder / LEDGER).read_text()) == {}


def test_a_staged_run_gives_the_same_outputs_and_leaves_the_input_alone(
    batch, tmp_path, blacklist, whitelist
):
    before = tree_digest(batch)
    results = {}
    for name, scratch in (("direct", None), ("staged", Scratch(tmp_path / "scratch", 10**9))):
        paths = BatchPaths(batch, tmp_path / name / "secure", tmp_path / name / "release")
        anonymize_batch(
            paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1, scratch=scratch)
        )
        manifest = read_rows(paths.manifest)
        results[name] = (
            tree_digest(paths.release_files),
            sorted((row["relative_path"], row["disposition"]) for row in manifest),
        )
    assert results["staged"] == results["direct"]
    assert tree_digest(batch) == before
    assert staged_entries(Scratch(tmp_path / "scratch", 1)) == []
