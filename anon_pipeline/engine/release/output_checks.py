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
from collections.abc import Iterator
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from anon_pipeline.engine.dicom.dicomfile import (
    PIXEL_KEYWORDS,
    content_hash,
    pixel_data_hash,
)
from anon_pipeline.engine.dicom.identifiers import (
    SEARCHED_VRS,
    Hit,
    IdentifierSearch,
    Region,
    fragment_regions,
    meta_regions,
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
    SPAN_TAG,
    SPAN_UNDEFINED,
    SPAN_VALUE_START,
    SPAN_VR,
    Element,
    Part10,
    Span,
    Unsupported,
    parse_part10,
    value_end,
)
from anon_pipeline.engine.files.runner import each_file

# SpecificCharacterSet values whose text the byte search folds itself (no value: the
# default repertoire; Latin-1, Latin-2, UTF-8). Text in any other character set (ISO
# 2022 escapes, Cyrillic, Greek...) is searched for in what pydicom decodes.
BYTE_SEARCHED_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 192"})
CHARSET_TAG = int(Tag("SpecificCharacterSet"))
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


@lru_cache(maxsize=4)
def search_for(identifiers: Identifiers) -> IdentifierSearch:
    return IdentifierSearch(identifiers.values)


def check_chunk(sources: Sources, _index: int, files: list[ReleasedFile]) -> list[FileFindings]:
    search = search_for(sources.identifiers)
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


def search_file(search: IdentifierSearch, data: bytes) -> Hit | None:
    """Only the identifying-value search, for a file of stage 1's own output (the
    hospital's search before it seals a package); a file neither reader can read is
    reported where its text could not be searched."""
    try:
        return read_headers(data, search).identifying
    except Exception:
        facts = read_with_pydicom(data, search)
    if facts is None:
        return Hit("unreadable", "(the file does not parse: its text cannot be searched)")
    return facts.identifying


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


class HeaderWalk:
    """One pass over a parsed file's elements at any depth: private tags, UIDs and the
    regions of text to search, each with its keyword path."""

    def __init__(self, data: bytes, part: Part10) -> None:
        self.data = data
        self.has_private = False
        self.uids: set[str] = set(meta_uids(part))
        self.regions: list[Region] = meta_regions(part.meta)

    def add(self, tag: int, vr: str, start: int, end: int, prefix: str) -> None:
        if tag >> 16 & 1:
            self.has_private = True
        elif vr == "UN":
            raise Unsupported("public element of VR UN")
        if vr == "UI":
            self.uids.update(split_values(self.data[start:end]))
        elif vr in SEARCHED_VRS and end > start:
            self.regions.append((vr, prefix, tag, self.data[start:end]))
            if tag == CHARSET_TAG:
                charsets = split_values(self.data[start:end]) or [""]
                if len(charsets) > 1 or charsets[0] not in BYTE_SEARCHED_CHARSETS:
                    raise Unsupported("text in a character set the byte search does not cover")

    def add_items(self, element: Element, prefix: str) -> None:
        keyword = keyword_for_tag(element.tag) or f"({element.tag:08X})"
        for number, item in enumerate(element.items or [], 1):
            inner = f"{prefix}{keyword}[{number}]>"
            for child in item.elements:
                self.add(child.tag, child.vr, child.value_start, child.value_end, inner)
                if child.items:
                    self.add_items(child, inner)


def read_headers(data: bytes, search: IdentifierSearch) -> FileFacts:
    """The facts from element headers and the few values they point at. Raises
    Unsupported when pydicom must read the file: the raw parser declines it, an element
    of a public tag has VR UN (pydicom would read its value with the dictionary's VR), or
    a character set the byte search does not cover means the text must be decoded."""
    part = parse_part10(data)
    walk = HeaderWalk(data, part)
    for span in part.spans:
        tag, vr = span[SPAN_TAG], span[SPAN_VR]
        walk.add(tag, vr, span[SPAN_VALUE_START], value_end(span), "")
        if vr == "SQ":
            walk.add_items(part.element(data, span), "")
        elif span[SPAN_UNDEFINED] and tag in PIXEL_TAGS:
            walk.regions += fragment_regions(data[span[SPAN_VALUE_START] : value_end(span)], "")
    meaning = raw_entries(part, data)
    return FileFacts(
        walk.has_private,
        frozenset(walk.uids),
        raw_pixel_hash(part, data),
        search.find(walk.regions),
        meaning,
    )


def meta_uids(part: Part10) -> list[str]:
    """The file meta group's UIDs (MediaStorageSOPInstanceUID...), which pydicom's walk of
    the dataset would never show."""
    found = []
    for tag, value in part.meta.items():
        if dictionary_has_tag(tag) and dictionary_VR(tag) == "UI":
            found += split_values(value)
    return found


def split_values(value: bytes) -> list[str]:
    text = value.decode("latin-1").rstrip("\0 ")
    return [part.strip("\0 ") for part in text.split("\\")] if text else []


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
        elements = list(walk(dataset, ""))
        meta = list(dataset.file_meta) if dataset.file_meta else []
        hit = find_in_dataset(search, dataset, elements, meta)
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


def walk(dataset: Dataset, prefix: str) -> Iterator[tuple[str, DataElement]]:
    """Every element at any depth with its keyword path's prefix."""
    for element in dataset:
        yield prefix, element
        if element.VR == "SQ":
            keyword = element.keyword or f"({element.tag:08X})"
            for number, item in enumerate(element.value, 1):
                yield from walk(item, f"{prefix}{keyword}[{number}]>")


def find_in_dataset(
    search: IdentifierSearch,
    dataset: Dataset,
    elements: list[tuple[str, DataElement]],
    meta: list[DataElement],
) -> Hit | None:
    """The identifying-value search over what pydicom decoded: text elements as text,
    UN values and frame metadata as bytes."""
    texts: list[str] = []
    text_regions: list[Region] = []
    byte_regions: list[Region] = []
    for prefix, element in [*(("FileMetaInformation>", e) for e in meta), *elements]:
        value = element.value
        if element.VR not in SEARCHED_VRS or value is None or value == "":
            continue
        if isinstance(value, bytes):
            byte_regions.append((element.VR, prefix, int(element.tag), value))
            continue
        text_regions.append((element.VR, prefix, int(element.tag), b""))
        is_multiple = isinstance(value, MultiValue | list)
        texts.append("\\".join(map(str, value)) if is_multiple else str(value))
    syntax = dataset.file_meta.get("TransferSyntaxUID") if dataset.file_meta else None
    if syntax is not None and syntax.is_encapsulated and "PixelData" in dataset:
        byte_regions += fragment_regions(dataset.PixelData, "")
    return search.find_text(text_regions, texts) or search.find(byte_regions)
