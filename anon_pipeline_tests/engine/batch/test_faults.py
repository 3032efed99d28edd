"""Faults around the files: a full disk, files that change or vanish mid-run, files
that cannot be read. Each ends in a clear outcome; nothing earlier is lost."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anon_pipeline.engine.batch.pipeline import (
    BatchPaths,
    Policy,
    StepOptions,
    anonymize_batch,
    blacklist_step,
    scan_step,
)
from anon_pipeline.engine.disk import atomic
from anon_pipeline.engine.disk.atomic import OutputFolderError
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.files.scan import Kind, classify_file, scan_batch
from anon_pipeline.engine.release.verification import check_accounted
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY, tree_digest


@pytest.fixture
def paths(tmp_path) -> BatchPaths:
    write_cd_batch(tmp_path / "incoming" / "cd", [fake_patient(1)], series=1, slices=4)
    return BatchPaths(
        tmp_path / "incoming" / "cd", tmp_path / "secure" / "cd", tmp_path / "release" / "cd"
    )


def run(paths, blacklist, whitelist):
    return anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))


def test_a_full_disk_stops_the_run_names_the_folder_and_keeps_earlier_outputs(
    paths, blacklist, whitelist, monkeypatch
):
    run(paths, blacklist, whitelist)
    before = tree_digest(paths.release_dir), tree_digest(paths.stage1_dir)
    writes = []
    real_writev = atomic.os.writev

    def filling_writev(descriptor, parts):
        writes.append(descriptor)
        if len(writes) > 2:  # the third output file fills the disk half way
            real_writev(descriptor, [memoryview(parts[0])[: len(parts[0]) // 2]])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(descriptor, parts)

    monkeypatch.setattr(atomic.os, "writev", filling_writev)
    with pytest.raises(OutputFolderError) as error:
        run(paths, blacklist, whitelist)
    assert "No space left on device" in str(error.value)
    assert "blacklisted" in str(error.value)  # the folder it could not write to
    assert (tree_digest(paths.release_dir), tree_digest(paths.stage1_dir)) == before
    stray = [p for p in paths.secure_dir.parent.rglob(".*") if ".staging-" in p.name]
    assert stray == []


def test_an_output_is_written_whole_however_the_kernel_splits_the_writes(tmp_path, monkeypatch):
    """writev may write less than it is given; what it left is written next, and a write
    that fails leaves no part-written file behind."""
    parts = [b"header", memoryview(bytes(range(256)) * 40)[7:9000], b"", b"x" * 3000, b"end"]
    real_writev = atomic.os.writev
    calls = []

    def short_writev(descriptor, pieces):
        calls.append(len(pieces))
        first = memoryview(pieces[0])
        return real_writev(descriptor, [first[: max(1, min(len(first), 1000))]])

    monkeypatch.setattr(atomic.os, "writev", short_writev)
    atomic.write_new_file(tmp_path / "a" / "out.dcm", parts)
    assert (tmp_path / "a" / "out.dcm").read_bytes() == b"".join(parts)
    assert len(calls) > len(parts)
    with pytest.raises(FileExistsError):  # never overwrites
        atomic.write_new_file(tmp_path / "a" / "out.dcm", [b"other"])
    assert (tmp_path / "a" / "out.dcm").read_bytes() == b"".join(parts)

    def failing_writev(descriptor, pieces):
        real_writev(descriptor, [b"half"])
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic.os, "writev", failing_writev)
    with pytest.raises(OutputFolderError, match="Input/output error"):
        atomic.write_new_file(tmp_path / "a" / "broken.dcm", parts)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["out.dcm"]


def test_files_changed_or_removed_after_the_scan_are_held(paths, blacklist, whitelist):
    scan_step(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    images = sorted(paths.batch_dir.rglob("IM*"))
    images[0].write_bytes(images[0].read_bytes() + b"late")
    images[1].unlink()
    blacklist_step(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    outcomes = {
        row["row"]: row["disposition"] for row in read_rows(paths.stage1_dir / "outcomes.parquet")
    }
    by_path = {row["relative_path"]: outcomes[row["row"]] for row in read_rows(paths.scan)}
    relative = [str(image.relative_to(paths.batch_dir)) for image in images[:2]]
    assert by_path[relative[0]] == "held: changed since it was scanned"
    assert by_path[relative[1]] == "held: unreadable (FileNotFoundError)"
    assert sum(d == "anonymized" for d in by_path.values()) == 2


def test_a_folder_that_cannot_be_listed_gets_a_row_not_silence(
    tmp_path, blacklist, whitelist, monkeypatch
):
    """os.walk skips a folder it cannot list without a word, and the files in it would be
    missing from the manifest and from the accounting check alike. The folder gets a
    held row with the reason instead; the other folders go through."""
    batch = tmp_path / "incoming" / "cd"
    write_cd_batch(batch, [fake_patient(2)], series=2, slices=3)
    hidden, shown = sorted({image.parent for image in batch.rglob("IM*")})
    real_scandir = os.scandir

    def denied(path="."):
        if not isinstance(path, int) and Path(path) == hidden:  # rmtree passes descriptors
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    paths = BatchPaths(batch, tmp_path / "secure" / "cd", tmp_path / "release" / "cd")
    report = run(paths, blacklist, whitelist)
    rows = {row["relative_path"]: row["disposition"] for row in read_rows(paths.manifest)}
    folder = str(hidden.relative_to(batch))
    assert rows[folder] == "held: unreadable (folder: Permission denied)"
    assert not any(path.startswith(folder + os.sep) for path in rows)
    shown_images = [path for path in rows if path.startswith(str(shown.relative_to(batch)))]
    assert [rows[path] for path in shown_images] == ["anonymized"] * 3
    assert report.files_in == len(rows) and check_accounted(paths).passed


def test_an_unreadable_file_is_recorded_with_the_reason(tmp_path, monkeypatch):
    (tmp_path / "IM1").write_bytes(b"x" * 200)
    real = Path.read_bytes

    def denied(self):
        if self.name == "IM1":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    row = classify_file(tmp_path, 0, "IM1")
    assert row.kind is Kind.UNREADABLE and row.detail == "Permission denied"


def test_a_batch_folder_that_is_gone_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="batch folder does not exist: cd_gone"):
        scan_batch(tmp_path / "cd_gone", workers=1)


# Runs a whole batch in a process the permission bits apply to, and prints the manifest's
# dispositions by path.
RESTRICTED_RUN = """
import json, sys
from pathlib import Path
from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.rules.rule_set import load_shipped_rule_set
from anon_pipeline.engine.disk.tables import read_rows
batch, secure, release, key = sys.argv[1:5]
paths = BatchPaths(Path(batch), Path(secure), Path(release))
policy = Policy(load_shipped_rule_set("blacklist"), load_shipped_rule_set("whitelist"),
                bytes.fromhex(key))
anonymize_batch(paths, policy, StepOptions(workers=1))
print(json.dumps({row["relative_path"]: row["disposition"] for row in read_rows(paths.manifest)}))
"""
# Root reads everything through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; without them
# (setpriv, util-linux) root meets the permission bits like anyone else.
WITHOUT_OVERRIDES = [
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
]


def test_real_permission_denied_on_a_file_and_a_folder_gives_held_rows(tmp_path):
    """Not simulated: a file and a folder with mode 000, and a run that the permission
    bits apply to (tests run as root, so the run drops root's override capabilities)."""
    batch = tmp_path / "incoming" / "cd"
    write_cd_batch(batch, [fake_patient(3)], series=2, slices=2)
    closed_folder, open_folder = sorted({image.parent for image in batch.rglob("IM*")})
    closed_file = sorted(open_folder.glob("IM*"))[0]
    before = tree_digest(batch)
    closed_file.chmod(0)
    closed_folder.chmod(0)
    outputs = [str(tmp_path / zone / "cd") for zone in ("secure", "release")]
    command = [sys.executable, "-c", RESTRICTED_RUN, str(batch), *outputs, TEST_KEY.hex()]
    if os.geteuid() == 0:
        command = ["setpriv", *WITHOUT_OVERRIDES, *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    finally:
        closed_folder.chmod(0o755)
        closed_file.chmod(0o644)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout.splitlines()[-1])
    assert (
        rows[str(closed_folder.relative_to(batch))]
        == "held: unreadable (folder: Permission denied)"
    )
    assert rows[str(closed_file.relative_to(batch))] == "held: unreadable (Permission denied)"
    others = [path for path in rows if path.startswith(str(open_folder.relative_to(batch)))]
    assert sorted(rows[path] for path in others) == [
        "anonymized",
        "held: unreadable (Permission denied)",
    ]
    assert tree_digest(batch) == before  # the input folder is never modified


def test_a_run_removes_what_a_killed_run_left_half_written(paths, blacklist, whitelist):
    """A table half-written when a run was killed (its hidden staging name) is removed
    when the next run of the batch starts; finished outputs stay."""
    paths.secure_dir.mkdir(parents=True)
    left = paths.secure_dir / ".uid_map.parquet.staging-0badc0de"
    left.write_bytes(b"half")
    kept = paths.secure_dir / "notes.txt"
    kept.write_text("an operator's note")
    scan_step(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    assert not left.exists() and kept.exists()
