"""Scan a batch folder: one manifest row per file, its hash and its kind.

The scan is the inventory of what arrived; every later outcome is attached to
one of its rows, so `input files = manifest rows` holds by construction. The
input folder is only read: never written, moved or followed through symlinks.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, replace
from enum import StrEnum
from operator import itemgetter
from pathlib import Path

from anon_pipeline.engine.dicom.dicomfile import (
    DicomFileError,
    content_hash,
    looks_like_dicom,
    parse_dicom,
    pixel_data_hash,
)
from anon_pipeline.engine.dicom.pixel_meaning import fingerprint_of
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER
from anon_pipeline.engine.disk.parallel import Progress, default_workers, map_chunks
from anon_pipeline.engine.files.runner import each_file
from anon_pipeline.engine.files.streaming import classify_bytes


class Kind(StrEnum):
    IMAGE = "image"
    DICOM_OTHER = "dicom_other"
    DICOMDIR = "dicomdir"
    NON_DICOM = "non_dicom"
    CORRUPT = "corrupt"
    EMPTY = "empty"
    SYMLINK = "symlink"
    UNREADABLE = "unreadable"
    DUPLICATE = "duplicate"
    MARKER = "marker"  # the copy station's completion marker at the batch's top level


PROCESSABLE = frozenset({Kind.IMAGE, Kind.DICOM_OTHER})


@dataclass(frozen=True, slots=True)  # a batch's worth of them: no __dict__ each
class ScannedFile:
    """One manifest row. Holds PHI (paths, original UIDs): secure zone only."""

    row: int
    relative_path: str
    size: int
    kind: Kind
    content_hash: str | None = None
    detail: str | None = None  # why corrupt/unreadable, or which row this duplicates
    sop_instance_uid: str | None = None
    pixel_hash: str | None = None
    pixel_meaning: str | None = None  # fingerprint of what the pixels mean (pixel_meaning)
    uid_conflict: bool = False  # another file of different content claims the same UID

    @property
    def is_processable(self) -> bool:
        return self.kind in PROCESSABLE and not self.uid_conflict


@dataclass(frozen=True)
class Listed:
    """An entry of a batch folder that is not a folder it could read: a file to classify
    (kind None), a symlink (never followed) or a folder it could not list, which gets a
    row of its own since the files in it are unknown."""

    relative_path: str
    kind: Kind | None = None
    detail: str | None = None


def list_batch(batch_dir: Path) -> list[Listed]:
    """Every entry under `batch_dir` that is not a folder it could read, sorted by path."""
    batch_dir = Path(batch_dir)
    if not batch_dir.is_dir():
        raise FileNotFoundError(f"batch folder does not exist: {batch_dir.name}")
    entries: list[Listed] = []

    def unlistable(error: OSError) -> None:  # os.walk would skip the folder silently
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        relative = os.path.relpath(error.filename or batch_dir, batch_dir)
        entries.append(Listed(relative, Kind.UNREADABLE, f"folder: {reason}"))

    for root, folders, files in os.walk(batch_dir, onerror=unlistable, followlinks=False):
        for folder in folders:
            if os.path.islink(os.path.join(root, folder)):
                relative = os.path.relpath(os.path.join(root, folder), batch_dir)
                entries.append(Listed(relative, Kind.SYMLINK))
        for name in files:
            path = os.path.join(root, name)
            symlink = Kind.SYMLINK if os.path.islink(path) else None
            entries.append(Listed(os.path.relpath(path, batch_dir), symlink))
    return sorted(entries, key=lambda entry: entry.relative_path)


def unreadable_row(entry: tuple[int, str], error: OSError) -> ScannedFile:
    reason = os.strerror(error.errno) if error.errno else type(error).__name__
    return ScannedFile(entry[0], entry[1], 0, Kind.UNREADABLE, detail=reason)


def classify_file(batch_dir: Path, row: int, relative_path: str) -> ScannedFile:
    """One file's manifest row, read as the scan reads every file (`each_file`)."""
    entry = [(row, relative_path)]
    return each_file(Path(batch_dir), entry, itemgetter(1), classify_bytes_of, unreadable_row)[0]


def classify_bytes_of(entry: tuple[int, str], data: bytes) -> ScannedFile:
    """One file's row from its bytes: size, hash, kind, and the UIDs the stages need."""
    row, relative_path = entry
    base = ScannedFile(row, relative_path, len(data), Kind.EMPTY, content_hash(data))
    if not data:
        return base
    if not looks_like_dicom(data):
        return replace(base, kind=Kind.NON_DICOM)
    try:  # the streaming path's parser first; pydicom decides whatever it does not handle
        fast = classify_bytes(data)
        return replace(
            base,
            kind=Kind(fast.kind),
            sop_instance_uid=fast.sop_instance_uid,
            pixel_hash=fast.pixel_hash,
            pixel_meaning=fast.pixel_meaning,
        )
    except Exception:  # anything unusual: the straightforward path below decides
        pass
    try:
        parsed = parse_dicom(data)
    except DicomFileError as error:
        return replace(base, kind=Kind.CORRUPT, detail=error.reason)
    try:
        uid = str(parsed.dataset.get("SOPInstanceUID", "") or "") or None
        pixel_hash = pixel_data_hash(parsed.dataset)
    except Exception as error:  # a value pydicom cannot decode: recorded, never a crash
        return replace(base, kind=Kind.CORRUPT, detail=f"malformed ({type(error).__name__})")
    return replace(
        base,
        kind=Kind(parsed.kind),
        sop_instance_uid=uid,
        pixel_hash=pixel_hash,
        pixel_meaning=fingerprint_of(data),
    )


def classify_chunk(
    batch_dir: Path, _chunk_index: int, chunk: list[tuple[int, str]]
) -> list[ScannedFile]:
    return each_file(Path(batch_dir), chunk, itemgetter(1), classify_bytes_of, unreadable_row)


def scan_batch(
    batch_dir: Path,
    workers: int | None = None,
    progress: Progress | None = None,
    marker: str = DEFAULT_MARKER,
) -> list[ScannedFile]:
    """Manifest rows for every file under `batch_dir`, duplicates and UID conflicts marked."""
    entries = list_batch(batch_dir)
    rows: dict[int, ScannedFile] = {}
    to_read = []
    for row, entry in enumerate(entries):
        relative_path = entry.relative_path
        if entry.kind is Kind.SYMLINK:
            rows[row] = ScannedFile(row, relative_path, 0, Kind.SYMLINK, detail="not followed")
        elif entry.kind is Kind.UNREADABLE:
            rows[row] = ScannedFile(row, relative_path, 0, Kind.UNREADABLE, detail=entry.detail)
        elif relative_path == marker:
            size = (Path(batch_dir) / relative_path).stat().st_size
            rows[row] = ScannedFile(row, relative_path, size, Kind.MARKER)
        else:
            to_read.append((row, relative_path))
    for scanned in map_chunks(
        classify_chunk, Path(batch_dir), to_read, workers or default_workers(), progress
    ):
        rows[scanned.row] = scanned
    return mark_duplicates([rows[row] for row in sorted(rows)])


def mark_duplicates(rows: list[ScannedFile]) -> list[ScannedFile]:
    """Same bytes twice: the first (by path) is kept, the rest are duplicates of it.
    Same SOPInstanceUID with different bytes: every such file is in conflict, since
    neither may silently replace the other."""
    first_with_hash: dict[str, int] = {}
    marked = []
    for row in rows:
        if (
            row.kind not in (Kind.SYMLINK, Kind.UNREADABLE, Kind.EMPTY, Kind.MARKER)
            and row.content_hash
        ):
            first = first_with_hash.setdefault(row.content_hash, row.row)
            if first != row.row:
                row = replace(row, kind=Kind.DUPLICATE, detail=f"of row {first}")
        marked.append(row)
    hashes_by_uid: dict[str, set[str]] = defaultdict(set)
    for row in marked:
        if row.kind in PROCESSABLE and row.sop_instance_uid:
            hashes_by_uid[row.sop_instance_uid].add(row.content_hash or "")
    return [
        replace(row, uid_conflict=True)
        if row.kind in PROCESSABLE and len(hashes_by_uid.get(row.sop_instance_uid or "", ())) > 1
        else row
        for row in marked
    ]
