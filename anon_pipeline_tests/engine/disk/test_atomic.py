"""Atomic writes and folder swaps: a reader sees the old output or the new one, never a
mix, a failed write leaves nothing behind, and a crash's leftovers are recognised."""

import errno
import os
import re

import pytest

from anon_pipeline.engine.disk import atomic
from anon_pipeline.engine.disk.atomic import (
    OutputFolderError,
    remove_leftovers_in,
    staged_directory,
    temporary_sibling,
    write_bytes_atomically,
    write_new_file,
)


def test_write_new_file_writes_every_part_in_order_and_never_overwrites(tmp_path):
    target = tmp_path / "study" / "series" / "instance.dcm"  # its folders made on the way
    parts = [b"head", memoryview(b"--slice--")[2:7], b"", bytearray(b"tail")]
    write_new_file(target, parts)
    assert target.read_bytes() == b"headslicetail"
    with pytest.raises(FileExistsError):
        write_new_file(target, [b"other"])
    assert target.read_bytes() == b"headslicetail"


def test_write_new_file_writes_more_pieces_than_one_writev_takes(tmp_path):
    pieces = [bytes([n % 251]) * 3 for n in range(atomic.IOV_MAX * 2 + 5)]
    write_new_file(tmp_path / "many", pieces)
    assert (tmp_path / "many").read_bytes() == b"".join(pieces)


def test_a_full_disk_names_the_folder_and_leaves_no_part_written_file(tmp_path, monkeypatch):
    def full(descriptor, parts):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "write_all", full)
    target = tmp_path / "out" / "instance.dcm"
    with pytest.raises(OutputFolderError, match=re.escape(f"cannot write to {target.parent}")):
        write_new_file(target, [b"data"])
    assert not target.exists()


def test_write_bytes_atomically_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"old")
    write_bytes_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "table.parquet"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), temporary_sibling(path) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_a_staged_directory_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "release"
    (target / "old-study").mkdir(parents=True)
    (target / "old-study" / "a.dcm").write_bytes(b"old")
    with staged_directory(target) as staging:
        assert not (staging / "old-study").exists()  # built from nothing, beside it
        (staging / "new-study").mkdir()
        (staging / "new-study" / "b.dcm").write_bytes(b"new")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "new-study",
        "new-study/b.dcm",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["release"]


def test_a_failed_staged_directory_keeps_the_old_one(tmp_path):
    target = tmp_path / "release"
    target.mkdir()
    (target / "a.dcm").write_bytes(b"old")
    with pytest.raises(RuntimeError), staged_directory(target) as staging:
        (staging / "b.dcm").write_bytes(b"half")
        raise RuntimeError("disk full")
    assert [p.name for p in target.iterdir()] == ["a.dcm"]
    assert [p.name for p in tmp_path.iterdir()] == ["release"]


def test_a_crashed_runs_leftovers_are_removed_and_nothing_else(tmp_path):
    for name in (".scan.parquet.staging-0badc0de", ".release.retired-12345678"):
        (tmp_path / name).write_bytes(b"half")
    (tmp_path / ".dicom.staging-00000000").mkdir()
    (tmp_path / ".dicom.staging-00000000" / "x.dcm").write_bytes(b"half")
    kept = [tmp_path / "scan.parquet", tmp_path / ".hidden-note"]
    for path in kept:
        path.write_bytes(b"finished")
    remove_leftovers_in(tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted(kept)
