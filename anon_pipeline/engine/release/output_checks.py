"""The per-file half of verification: one released file re-read from its bytes.

Independent of the code that wrote the file: nothing here trusts the stages' own
record of what they did, only the manifest's hashes taken from the input (pixel data)
and from the written bytes (output). The cheap way first: every identifying value in
one multi-pattern search over the file's bytes, element headers from the raw parser,
UIDs and private tags read where the headers say. A file the raw parser will not
decide, or whose character set is not one the byte search covers, is read by pydicom
instead, which also decodes its text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick_rs
from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from anon_pipeline.engine.dicom.dicomfile import (
    PIXEL_KEYWORDS,
    content_hash,
    pixel_data_hash,
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
    SPAN_VALUE_START,
    SPAN_VR,
    Element,
    Part10,
    Span,
    Unsupported,
    parse_part10,
    value_end,
    walk_elements,
)
from anon_pipeline.engine.files.runner import each_file
from anon_pipeline.engine.rules.transform import TEXT_VRS

# The character sets this data arrives in (ISO_IR 100, ISO_IR 101 for Polish, ISO_IR 192),
# as Python names: each identifying value is searched for in the raw bytes in each. Text
# in any other character set (ISO 2022 escapes, Cyrillic, Greek...) is searched for in
# what pydicom decodes with the file's own.
IDENTIFIER_ENCODINGS = ("latin-1", "iso8859-2", "utf-8")
# SpecificCharacterSet values whose text is one of IDENTIFIER_ENCODINGS byte for byte
# (no value: the default repertoire, which pydicom decodes as Latin-1).
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
    """What one file failed, the keyword of an identifying value it holds, every UID it
    holds (the caller knows the originals), and which attributes that give the pixels
    their meaning differ from the input's (keyword paths, never values)."""

    output_name: str
    failures: list[Failure]
    identifying_keyword: str | None
    uids: frozenset[str]
    meaning_changes: str | None = None


class Sources(NamedTuple):
    """Where a worker reads: the released files, the batch's inputs (to say what changed
    when a file's pixel meaning differs) and the identifying values to search for."""

    files_dir: Path
    batch_dir: Path
    identifiers: Identifiers


@dataclass(frozen=True)
class Identifiers:
    """The values stage 1 took away, as byte forms and as texts -> attribute keyword.
    Per batch and small; each worker builds its searchers once (`searchers`)."""

    forms: tuple[tuple[bytes, str], ...]
    texts: tuple[tuple[str, str], ...]


class Searcher:
    """All identifying values at once (Aho-Corasick), leftmost-longest like the regular
    expression it replaces: one pass over a file, whatever the number of patients."""

    def __init__(self, patterns: tuple[tuple[bytes, str], ...] | tuple[tuple[str, str], ...]):
        self.keywords = [keyword for _, keyword in patterns]
        needles: list[Any] = [pattern for pattern, _ in patterns]
        self.automaton: Any = None
        if needles:
            kind = (
                ahocorasick_rs.BytesAhoCorasick
                if isinstance(needles[0], bytes)
                else (ahocorasick_rs.AhoCorasick)
            )
            self.automaton = kind(needles, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)

    def first_keyword(self, haystack: bytes | str) -> str | None:
        if self.automaton is None:
            return None
        matches = self.automaton.find_matches_as_indexes(haystack)
        return self.keywords[matches[0][0]] if matches else None


@lru_cache(maxsize=4)
def searchers(identifiers: Identifiers) -> tuple[Searcher, Searcher]:
    return Searcher(identifiers.forms), Searcher(identifiers.texts)


def check_chunk(sources: Sources, _index: int, files: list[ReleasedFile]) -> list[FileFindings]:
    byte_searcher, text_searcher = searchers(sources.identifiers)
    return each_file(
        sources.files_dir,
        files,
        attrgetter("output_name"),
        lambda released, data: check_file(sources, released, data, byte_searcher, text_searcher),
        lambda released, _error: FileFindings(
            released.output_name, [Failure.PARSE], None, frozenset()
        ),
    )


def check_file(
    sources: Sources,
    released: ReleasedFile,
    data: bytes,
    byte_searcher: Searcher,
    text_searcher: Searcher,
) -> FileFindings:
    """Every per-file check on one released file, from one read of its bytes."""
    name = released.output_name
    failures = []
    if content_hash(data) != released.output_hash:
        failures.append(Failure.ALTERED)  # after the run, or by a run stopped between swaps
    keyword = byte_searcher.first_keyword(data)
    facts: FileFacts | None
    try:
        facts = read_headers(data)
    except Exception:  # Unsupported, or anything odd in the raw parse: pydicom decides
        facts = read_with_pydicom(data, text_searcher if keyword is None else None)
    if facts is None:
        return FileFindings(name, [*failures, Failure.PARSE], keyword, frozenset())
    if facts.has_private:
        failures.append(Failure.PRIVATE)
    if facts.pixel_hash != released.pixel_hash:
        failures.append(Failure.PIXELS)
    changed = None
    if facts.meaning is None or fingerprint(facts.meaning) != released.pixel_meaning:
        failures.append(Failure.MEANING)
        changed = meaning_changes(sources.batch_dir / released.input_path, facts.meaning)
    return FileFindings(name, failures, keyword or facts.text_keyword, facts.uids, changed)


def meaning_changes(input_path: Path, released: list[Entry] | None) -> str:
    """Which attributes that give the pixels their meaning differ, read again from the
    input (only for a file that failed: the scan kept just a fingerprint)."""
    if released is None:
        return "its pixel attributes cannot be read"
    try:
        before = entries_of(input_path.read_bytes())
    except Exception:  # gone or unreadable since the scan
        return "differs from the input's, which cannot be read again to say how"
    return describe(changes(before, released)) or "differs from the fingerprint the scan took"


class FileFacts(NamedTuple):
    has_private: bool
    uids: frozenset[str]
    pixel_hash: str | None
    text_keyword: str | None  # an identifying value found in the decoded text
    meaning: list[Entry] | None  # the attributes that say what the pixels mean


def read_headers(data: bytes) -> FileFacts:
    """The facts from element headers and the few values they point at. Raises
    Unsupported when pydicom must read the file: the raw parser declines it, an element
    of a public tag has VR UN (pydicom would read its value with the dictionary's VR), or
    a character set the byte search does not cover means the text must be decoded."""
    part = parse_part10(data)
    has_private, uids = False, set(meta_uids(part))
    for element in every_element(part, data):
        tag, vr = element.tag, element.vr
        if tag >> 16 & 1:
            has_private = True
        elif vr == "UN":
            raise Unsupported("public element of VR UN")
        if vr == "UI":
            uids.update(split_values(data[element.value_start : element.value_end]))
        elif tag == CHARSET_TAG:
            charsets = split_values(data[element.value_start : element.value_end]) or [""]
            if len(charsets) > 1 or charsets[0] not in BYTE_SEARCHED_CHARSETS:
                raise Unsupported("text in a character set the byte search does not cover")
    meaning = raw_entries(part, data)
    return FileFacts(has_private, frozenset(uids), raw_pixel_hash(part, data), None, meaning)


def every_element(part: Part10, data: bytes) -> Iterator[Element | SpanView]:
    """The dataset's elements at any depth (top-level ones as cheap views)."""
    for span in part.spans:
        if span[SPAN_VR] == "SQ":
            element = part.element(data, span)
            yield element
            for item in element.items or []:
                yield from walk_elements(item.elements)
        else:
            yield SpanView(span[SPAN_TAG], span[SPAN_VR], span[SPAN_VALUE_START], value_end(span))


class SpanView(NamedTuple):
    tag: int
    vr: str
    value_start: int
    value_end: int


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


def read_with_pydicom(data: bytes, text_searcher: Searcher | None) -> FileFacts | None:
    """The same facts from pydicom's reading (None if it cannot read the file); with a
    searcher, identifying values are also looked for in the text as pydicom decodes it
    with the file's own character set."""
    try:
        dataset = dcmread(io.BytesIO(data))
        meaning = dataset_entries(dataset)  # before anything converts the elements
        elements = list(walk(dataset))
        meta = list(dataset.file_meta) if dataset.file_meta else []
        texts = decoded_texts(elements) if text_searcher is not None else ""
        pixel_hash = pixel_data_hash(dataset)
    except Exception:
        return None
    uids: set[str] = set()
    for element in [*meta, *elements]:
        if element.VR == "UI" and element.value:
            values = element.value if element.VM > 1 else [element.value]
            uids.update(str(value) for value in values)
    keyword = text_searcher.first_keyword(texts) if text_searcher and texts else None
    has_private = any(element.tag.is_private for element in elements)
    return FileFacts(has_private, frozenset(uids), pixel_hash, keyword, meaning)


def walk(dataset: Dataset) -> Iterator[DataElement]:
    for element in dataset:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from walk(item)


def decoded_texts(elements: list[DataElement]) -> str:
    """The values of the text elements as pydicom decodes them, one per line."""
    return "\n".join(
        str(element.value) for element in elements if element.VR in TEXT_VRS and element.value
    )
