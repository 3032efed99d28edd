"""The per-file half of verification: one released file re-read from its bytes.

Independent of the code that wrote the file: nothing here trusts the stages' own
record of what they did, only the manifest's hashes taken from the input (pixel data)
and from the written bytes (output). The cheap way first: element headers from the raw
parser, UIDs and private tags read where the headers say, and the identifying values
searched for in the text those headers point at (`dicom.identifiers`). A file the raw
parser will not decide, or whose character set is not one the byte search covers, is
read by pydicom instead, which also decodes its text.
"""

from __future__ import annotations

import io
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from pydicom import dcmread
from pydicom.tag import Tag

from anon_pipeline.engine.dicom.dicomfile import (
    PIXEL_KEYWORDS,
    content_hash,
    pixel_data_hash,
)
from anon_pipeline.engine.dicom.identifiers import (
    HeaderWalk,
    Hit,
    IdentifierSearch,
    find_in_dataset,
    search_for,
    walk_dataset,
)
from anon_pipeline.engine.dicom.pixel_meaning import (
    Entry,
    changes,
    dataset_entries,
    describe,
    entries_of,
    fingerprint,
    raw_entries,
)
from anon_pipeline.engine.dicom.rawparse import (
    SPAN_VALUE_START,
    Part10,
    Span,
    parse_part10,
    value_end,
)
from anon_pipeline.engine.files.runner import each_file

PIXEL_TAGS = tuple(int(Tag(keyword)) for keyword in PIXEL_KEYWORDS)


class Failure(StrEnum):
    """What a file can fail besides holding an identifying value (`FileFindings`)."""

    PRIVATE = "private"
    PARSE = "parse"
    PIXELS = "pixels"
    ALTERED = "altered"
    MEANING = "meaning"  # an attribute that says how the pixels are read or placed changed


class ReleasedFile(NamedTuple):
    """A released file to check and the hashes the manifest holds for it."""

    output_name: str
    pixel_hash: str | None  # the input's, from the scan
    output_hash: str | None  # of the bytes the run wrote
    pixel_meaning: str | None  # the input's, from the scan (`pixel_meaning`)
    input_path: str  # in the batch folder (secure: passes only between the processes)


class FileFindings(NamedTuple):
    """What one file failed, where it holds an identifying value and whose, every UID it
    holds (the caller knows the originals), and which attributes that give the pixels
    their meaning differ from the input's (keyword paths, never values)."""

    output_name: str
    failures: list[Failure]
    identifying: Hit | None
    uids: frozenset[str]
    meaning_changes: str | None = None


class Identifiers(NamedTuple):
    """The (keyword, value) pairs stage 1 took away from a batch. Per batch and small;
    each worker builds its search once (`search_for`)."""

    values: tuple[tuple[str, str], ...]


class Sources(NamedTuple):
    """Where a worker reads: the released files, the batch's inputs (to say what changed
    when a file's pixel meaning differs) and the identifying values to search for."""

    files_dir: Path
    batch_dir: Path | None
    identifiers: Identifiers


def check_chunk(sources: Sources, _index: int, files: list[ReleasedFile]) -> list[FileFindings]:
    search = search_for(sources.identifiers.values)
    return each_file(
        sources.files_dir,
        files,
        attrgetter("output_name"),
        lambda released, data: check_file(sources, released, data, search),
        lambda released, _error: FileFindings(
            released.output_name, [Failure.PARSE], None, frozenset()
        ),
    )


def check_file(
    sources: Sources, released: ReleasedFile, data: bytes, search: IdentifierSearch
) -> FileFindings:
    """Every per-file check on one released file, from one read of its bytes."""
    name = released.output_name
    failures = []
    if content_hash(data) != released.output_hash:
        failures.append(Failure.ALTERED)  # after the run, or by a run stopped between swaps
    facts: FileFacts | None
    try:
        facts = read_headers(data, search)
    except Exception:  # Unsupported, or anything odd in the raw parse: pydicom decides
        facts = read_with_pydicom(data, search)
    if facts is None:
        return FileFindings(name, [*failures, Failure.PARSE], None, frozenset())
    if facts.has_private:
        failures.append(Failure.PRIVATE)
    if facts.pixel_hash != released.pixel_hash:
        failures.append(Failure.PIXELS)
    changed = None
    if facts.meaning is None or fingerprint(facts.meaning) != released.pixel_meaning:
        failures.append(Failure.MEANING)
        changed = meaning_changes(sources.batch_dir, released.input_path, facts.meaning)
    return FileFindings(name, failures, facts.identifying, facts.uids, changed)


def meaning_changes(batch_dir: Path | None, input_path: str, released: list[Entry] | None) -> str:
    """Which attributes that give the pixels their meaning differ, read again from the
    input (only for a file that failed: the scan kept just a fingerprint)."""
    if released is None:
        return "its pixel attributes cannot be read"
    try:
        if batch_dir is None:
            raise OSError("no input to compare with")
        before = entries_of((batch_dir / input_path).read_bytes())
    except Exception:  # gone or unreadable since the scan
        return "differs from the input's, which cannot be read again to say how"
    return describe(changes(before, released)) or "differs from the fingerprint the scan took"


class FileFacts(NamedTuple):
    has_private: bool
    uids: frozenset[str]
    pixel_hash: str | None
    identifying: Hit | None
    meaning: list[Entry] | None  # the attributes that say what the pixels mean


def read_headers(data: bytes, search: IdentifierSearch) -> FileFacts:
    """The facts from element headers and the few values they point at. Raises
    Unsupported when pydicom must read the file: the raw parser declines it, an element
    of a public tag has VR UN (pydicom would read its value with the dictionary's VR), or
    a character set the byte search does not cover means the text must be decoded."""
    part = parse_part10(data)
    walk = HeaderWalk(data, part)
    meaning = raw_entries(part, data)
    return FileFacts(
        walk.has_private,
        frozenset(walk.uids),
        raw_pixel_hash(part, data),
        search.find(walk.regions),
        meaning,
    )


def raw_pixel_hash(part: Part10, data: bytes) -> str | None:
    """Hash of the pixel data element's value as stored, as the scan hashed the input's."""
    for tag in PIXEL_TAGS:
        span: Span | None = part.by_tag.get(tag)
        if span is not None:
            return content_hash(memoryview(data)[span[SPAN_VALUE_START] : value_end(span)])
    return None


def read_with_pydicom(data: bytes, search: IdentifierSearch) -> FileFacts | None:
    """The same facts from pydicom's reading (None if it cannot read the file); the
    identifying values are looked for in the text as pydicom decodes it with the file's
    own character set."""
    try:
        dataset = dcmread(io.BytesIO(data))
        meaning = dataset_entries(dataset)  # before anything converts the elements
        elements = list(walk_dataset(dataset))
        meta = list(dataset.file_meta) if dataset.file_meta else []
        hit = find_in_dataset(search, dataset, elements)
        pixel_hash = pixel_data_hash(dataset)
    except Exception:
        return None
    uids: set[str] = set()
    for element in [*meta, *(element for _, element in elements)]:
        if element.VR == "UI" and element.value:
            values = element.value if element.VM > 1 else [element.value]
            uids.update(str(value) for value in values)
    has_private = any(element.tag.is_private for _, element in elements)
    return FileFacts(has_private, frozenset(uids), pixel_hash, hit, meaning)
