"""Where a file can carry a patient's identifier as text, and whether it does.

The last guard before a person signs a batch off searches each released file for the
values stage 1 took away. It searches only where a leak can sit and be read: the
text-bearing elements at any depth (string VRs, UN values), the file meta group, bytes
after the dataset, and the metadata segments of encapsulated frames (JPEG COM/APPn,
JPEG 2000 COM). It never searches hashed UIDs (the original-UID check compares those)
or native pixel bytes (text in pixels is the pixel check's): four digits of a Study ID
occur in a 39-digit hashed UID or in 512 KB of pixels by chance, and a guard that fails
clean batches at random is a guard people learn to wave through.

Values match as what they would look like there: case and diacritics folded (Łukasz,
ŁUKASZ, Lukasz), names also in their PN component forms (Anna Nowak, Nowak, Anna),
dates also as 1965-03-12 and 12.03.1965, and numbers and short words only as whole
tokens (bounded by non-alphanumerics; a decimal point between digits joins a number,
so 9444 is not in 0.9444). A measurement (IS, DS) is searched only for long numbers:
an instance number of 1024 is not a Study ID of 1024.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

import ahocorasick_rs
from pydicom import dcmread
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from anon_pipeline.engine.dicom.rawparse import (
    PIXEL_TAGS,
    SPAN_END,
    SPAN_TAG,
    SPAN_VALUE_START,
    SPAN_VR,
    Element,
    Part10,
    Unsupported,
    parse_part10,
    tag_of,
    value_end,
)

MIN_IDENTIFIER_LENGTH = 4  # shorter values ("M", "Dr", "Jan") would match by chance
MIN_MEASUREMENT_DIGITS = 8  # a number this long in an IS or DS value is not a count
PREFIX_MATCH_LENGTH = 5  # a word this long also matches with a suffix (Kowalskiego)
# Free text that stage 1 removes because it *may* hold a name: its words are not an
# identifier (a SeriesDescription of "CHEST" is no leak in BodyPartExamined). The
# names inside it are searched for as the names they are.
FREE_TEXT_KEYWORD = re.compile(r"(Description|Comments|History|Text|TextValue|ProtocolName)$")
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"})
DATE_VRS = frozenset({"DA", "DT"})
MEASUREMENT_VRS = frozenset({"IS", "DS"})
SEARCHED_VRS = TEXT_VRS | DATE_VRS | MEASUREMENT_VRS
ENCAPSULATED = "JPEG"  # a region of frame metadata: searched as text
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz") | frozenset(range(0x80, 0x100))
_DIGITS = frozenset(b"0123456789")
_DECIMAL_MARKS = frozenset(b".,")
_SPECIAL_FOLDS = str.maketrans(
    {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE"}
)
DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y.%m.%d", "%Y/%m/%d")


class Kind(StrEnum):
    """How an identifier is matched, from its form."""

    WORD = "word"  # letters only: a name, a place
    NUMBER = "number"  # has a digit: an ID, an accession number, an address
    DATE = "date"  # YYYYMMDD: a birth date


def fold(text: str) -> str:
    """Lower case without diacritics, as a leak may be written: 'Żółć' -> 'zolc'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL_FOLDS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def folding_table(encoding: str) -> bytes:
    """bytes.translate table that folds one 8-bit character set's text to `fold`'s
    ASCII, byte for byte: letters to their folded letter, anything else that is not a
    letter or digit to a space (a token boundary)."""
    table = bytearray(range(256))
    for byte in range(256):
        char = bytes([byte]).decode(encoding, errors="replace")
        folded = fold(char)
        if byte < 0x80:
            table[byte] = ord(folded) if len(folded) == 1 else byte
        elif folded[:1].isascii() and folded[:1].isalnum():
            table[byte] = ord(folded[0])
        else:
            table[byte] = 0x20 if not char.isalnum() else byte
    return bytes(table)


# The 8-bit character sets text arrives in, declared or not (Polish names in Latin-2 or
# Windows-1250 bytes with no SpecificCharacterSet): each is folded and searched.
FOLDING_TABLES = tuple(folding_table(name) for name in ("latin-1", "iso8859-2", "cp1250"))


class Hit(NamedTuple):
    """Where an identifier was found and which attribute's value it is: a keyword path
    and a keyword, never the value."""

    keyword: str  # the attribute stage 1 took the value from (PatientName)
    path: str  # where it sits (RequestAttributesSequence[1]>ScheduledProcedureStepDescription)

    def __str__(self) -> str:
        return f"{self.keyword} in {self.path}"


# A region of a file to search: (VR, path prefix, tag or label, value). A tuple: built
# for every text element of every released file.
Region = tuple[str, str, int | str, bytes]


def region_path(region: Region) -> str:
    _, prefix, name, _ = region
    if isinstance(name, str):
        return prefix + name
    return prefix + (keyword_for_tag(name) or f"({name >> 16:04X},{name & 0xFFFF:04X})")


def kind_of(text: str) -> Kind:
    if len(text) == 8 and text.isdigit():
        try:
            date = dt.datetime.strptime(text, "%Y%m%d")
        except ValueError:
            return Kind.NUMBER
        return Kind.DATE if 1850 <= date.year <= 2100 else Kind.NUMBER
    return Kind.NUMBER if any(c.isdigit() for c in text) else Kind.WORD


def texts_of(value: str) -> set[str]:
    """The forms one value may take in a released file: itself, and for a person's name
    (PN: family^given^middle^prefix^suffix, = between representations) each component
    and the given and family names together in the usual orders."""
    texts = {value.strip()}
    for representation in value.split("="):
        parts = [part.strip() for part in representation.split("^")]
        texts.update(parts)
        if len(parts) >= 2 and parts[0] and parts[1]:
            family, given = parts[0], parts[1]
            texts.update({f"{given} {family}", f"{family} {given}", f"{family}, {given}"})
    return {text for text in texts if len(text) >= MIN_IDENTIFIER_LENGTH}


def date_forms(text: str) -> set[str]:
    date = dt.datetime.strptime(text, "%Y%m%d")
    return {date.strftime(form) for form in DATE_FORMATS}


@dataclass(frozen=True)
class Pattern:
    form: bytes  # folded, UTF-8
    keyword: str
    kind: Kind
    digits: int


def patterns_of(values: Iterable[tuple[str, str]]) -> tuple[Pattern, ...]:
    """Every folded form of the (keyword, value) pairs stage 1 took away, once each."""
    found: dict[bytes, Pattern] = {}
    for keyword, value in sorted(values):
        if not value or FREE_TEXT_KEYWORD.search(keyword):
            continue
        for text in sorted(texts_of(value)):
            kind = kind_of(text)
            for form in sorted(date_forms(text)) if kind is Kind.DATE else [text]:
                encoded = fold(form).encode("utf-8")
                digits = sum(c.isdigit() for c in form)
                found.setdefault(encoded, Pattern(encoded, keyword, kind, digits))
    return tuple(found.values())


class IdentifierSearch:
    """All of a batch's identifiers at once (Aho-Corasick, every overlapping match), so
    a file costs one pass over its text, whatever the number of patients."""

    def __init__(self, values: Iterable[tuple[str, str]]) -> None:
        self.patterns = patterns_of(values)
        self.automaton: Any = None
        if self.patterns:
            self.automaton = ahocorasick_rs.BytesAhoCorasick(
                [pattern.form for pattern in self.patterns],
                matchkind=ahocorasick_rs.MatchKind.Standard,
            )

    def find(self, regions: list[Region]) -> Hit | None:
        """The first identifier in regions of raw bytes, in any of the 8-bit character
        sets and in UTF-8."""
        if self.automaton is None or not regions:
            return None
        buffer = b"\0".join(region[3] for region in regions)
        starts = region_starts(regions)
        if buffer.isascii():
            return self.first_hit(buffer.translate(FOLDING_TABLES[0]), starts, regions)
        for table in FOLDING_TABLES:
            hit = self.first_hit(buffer.translate(table), starts, regions)
            if hit is not None:
                return hit
        decoded = [fold(region[3].decode("utf-8", "replace")).encode("utf-8") for region in regions]
        return self.find_folded(decoded, regions)

    def find_text(self, regions: list[Region], texts: list[str]) -> Hit | None:
        """The first identifier in decoded texts (one per region)."""
        if self.automaton is None or not regions:
            return None
        return self.find_folded([fold(text).encode("utf-8") for text in texts], regions)

    def find_folded(self, folded: list[bytes], regions: list[Region]) -> Hit | None:
        starts, position = [], 0
        for value in folded:
            starts.append(position)
            position += len(value) + 1
        return self.first_hit(b"\0".join(folded), starts, regions)

    def first_hit(self, haystack: bytes, starts: list[int], regions: list[Region]) -> Hit | None:
        for index, start, end in self.automaton.find_matches_as_indexes(haystack, overlapping=True):
            pattern = self.patterns[index]
            region = regions[bisect_right(starts, start) - 1]
            if is_match(pattern, region[0], haystack, start, end):
                return Hit(pattern.keyword, region_path(region))
        return None


@lru_cache(maxsize=4)
def search_for(values: tuple[tuple[str, str], ...]) -> IdentifierSearch:
    """A batch's search, built once per worker process (its values are per batch)."""
    return IdentifierSearch(values)


def region_starts(regions: list[Region]) -> list[int]:
    starts, position = [], 0
    for region in regions:
        starts.append(position)
        position += len(region[3]) + 1
    return starts


def is_match(pattern: Pattern, vr: str, haystack: bytes, start: int, end: int) -> bool:
    """Whether a found form counts where it was found: the kinds of value an element of
    this VR can hold, and whole tokens (a longer word may take a suffix: declension)."""
    if vr in DATE_VRS:
        if pattern.kind is not Kind.DATE:
            return False
        open_right = vr == "DT"  # a date and time: the date's digits go on
    elif vr in MEASUREMENT_VRS:
        if pattern.kind is not Kind.NUMBER or pattern.digits < MIN_MEASUREMENT_DIGITS:
            return False
        open_right = False
    else:
        open_right = pattern.kind is Kind.WORD and len(pattern.form) >= PREFIX_MATCH_LENGTH
    numeric = pattern.kind is not Kind.WORD
    if start > 0:
        before = haystack[start - 1]
        if before in _ALNUM or (
            numeric and before in _DECIMAL_MARKS and start > 1 and haystack[start - 2] in _DIGITS
        ):
            return False
    if end < len(haystack) and not open_right:
        after = haystack[end]
        if after in _ALNUM or (
            numeric
            and after in _DECIMAL_MARKS
            and end + 1 < len(haystack)
            and haystack[end + 1] in _DIGITS
        ):
            return False
    return True


@lru_cache(maxsize=4096)
def searched_vr(tag: int) -> str | None:
    """The dictionary's VR of a meta group tag if it holds text, else None."""
    if not dictionary_has_tag(tag):
        return None
    vr = dictionary_VR(tag)
    return vr if vr in TEXT_VRS else None


def meta_regions(meta: dict[int, bytes]) -> list[Region]:
    """The file meta group's text values (SourceApplicationEntityTitle...)."""
    regions: list[Region] = []
    for tag, value in meta.items():
        vr = searched_vr(tag)
        if vr is not None and value:
            regions.append((vr, "FileMetaInformation>", tag, value))
    return regions


_ITEM_HEADER = struct.Struct("<HHI")
_SEGMENT_LENGTH = struct.Struct(">H")
_JPEG_TEXT_MARKERS = re.compile(rb"\xff[\xe0-\xef\xfe]")
_J2K_COM, _J2K_SOT, _J2K_SOD = 0x64, 0x90, 0x93


def fragment_regions(value: bytes, prefix: str) -> list[Region]:
    """The text segments of encapsulated frames: JPEG COM and APPn segments (EXIF may
    name the patient), JPEG 2000 comments. `value` is the encapsulated pixel data's
    value: items, the first being the basic offset table."""
    regions: list[Region] = []
    position, index = 0, 0
    while position + 8 <= len(value):
        group, element, length = _ITEM_HEADER.unpack_from(value, position)
        if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            break
        fragment = value[position + 8 : position + 8 + length]
        if index > 0:
            for label, text in frame_texts(fragment):
                regions.append((ENCAPSULATED, prefix, f"PixelData>fragment[{index}]>{label}", text))
        position += 8 + length
        index += 1
    return regions


def frame_texts(fragment: bytes) -> Iterator[tuple[str, bytes]]:
    if fragment.startswith(b"\xff\xd8"):
        yield from jpeg_texts(fragment)
    elif fragment.startswith(b"\xff\x4f\xff\x51"):
        yield from j2k_texts(fragment)


def jpeg_texts(fragment: bytes) -> Iterator[tuple[str, bytes]]:
    """COM and APPn payloads. In entropy-coded data a 0xFF byte is followed by 0x00 or a
    restart marker (JPEG; JPEG-LS by a byte below 0x80), so a COM or APPn marker found
    anywhere is a real one: one regular-expression pass, no decoding."""
    for match in _JPEG_TEXT_MARKERS.finditer(fragment):
        start = match.start()
        if start + 4 > len(fragment):
            break
        (length,) = _SEGMENT_LENGTH.unpack_from(fragment, start + 2)
        marker = fragment[start + 1]
        label = "COM" if marker == 0xFE else f"APP{marker - 0xE0}"
        yield label, fragment[start + 4 : start + 2 + length]


def j2k_texts(fragment: bytes) -> Iterator[tuple[str, bytes]]:
    """COM payloads of a JPEG 2000 codestream's main and tile-part headers (packet data
    may hold any bytes, so only the headers are walked, marker by marker)."""
    position, tile_end = 2, len(fragment)
    while position + 4 <= len(fragment):
        if fragment[position] != 0xFF:
            return
        marker = fragment[position + 1]
        if marker == _J2K_SOD:  # packet data to the end of the tile-part
            position = tile_end
            continue
        (length,) = _SEGMENT_LENGTH.unpack_from(fragment, position + 2)
        if marker == _J2K_SOT and position + 10 <= len(fragment):
            psot = int.from_bytes(fragment[position + 6 : position + 10], "big")
            tile_end = position + psot if psot else len(fragment)
        elif marker == _J2K_COM:
            yield "COM", fragment[position + 6 : position + 2 + length]
        position += 2 + length


# SpecificCharacterSet values whose text the byte search folds itself (no value: the
# default repertoire; Latin-1, Latin-2, UTF-8). Text in any other character set (ISO
# 2022 escapes, Cyrillic, Greek...) is searched for in what pydicom decodes.
BYTE_SEARCHED_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 192"})
CHARSET_TAG = tag_of("SpecificCharacterSet")
UNREADABLE = Hit("unreadable", "(the file does not parse: its text cannot be searched)")


class HeaderWalk:
    """One pass over a parsed file's elements at any depth: private tags, UIDs and the
    regions of text to search, each with its keyword path. Raises Unsupported where
    pydicom must read the file instead: a public element of VR UN (pydicom reads its
    value with the dictionary's VR), or a character set the byte search does not fold."""

    def __init__(self, data: bytes, part: Part10) -> None:
        self.data = data
        self.has_private = False
        self.uids: set[str] = set(meta_uids(part))
        self.regions: list[Region] = meta_regions(part.meta)
        for span in part.spans:
            tag, vr = span[SPAN_TAG], span[SPAN_VR]
            self.add(tag, vr, span[SPAN_VALUE_START], value_end(span), "")
            if vr == "SQ":
                self.add_items(part.element(data, span), "")
            elif tag in PIXEL_TAGS and part.transfer_syntax.is_encapsulated:
                # to the span's end: the items, then the sequence delimiter, which ends them
                value = data[span[SPAN_VALUE_START] : span[SPAN_END]]
                self.regions += fragment_regions(value, "")

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


def walk_dataset(dataset: Dataset, prefix: str = "") -> Iterator[tuple[str, DataElement]]:
    """Every element at any depth with its keyword path's prefix."""
    for element in dataset:
        yield prefix, element
        if element.VR == "SQ":
            keyword = element.keyword or f"({element.tag:08X})"
            for number, item in enumerate(element.value, 1):
                yield from walk_dataset(item, f"{prefix}{keyword}[{number}]>")


def find_in_dataset(
    search: IdentifierSearch, dataset: Dataset, elements: list[tuple[str, DataElement]]
) -> Hit | None:
    """The identifying-value search over what pydicom decoded: text elements as text,
    UN values and frame metadata as bytes."""
    texts: list[str] = []
    text_regions: list[Region] = []
    byte_regions: list[Region] = []
    meta = [("FileMetaInformation>", element) for element in dataset.file_meta or []]
    for prefix, element in [*meta, *elements]:
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


def search_file(search: IdentifierSearch, data: bytes) -> Hit | None:
    """Only the identifying-value search over one file's bytes (the hospital's search of
    its own stage-1 output before it seals a package): the raw parser's regions, or
    pydicom's decoding where it declines; a file neither reads is `UNREADABLE`."""
    try:
        return search.find(HeaderWalk(data, parse_part10(data)).regions)
    except Exception:  # Unsupported, or anything odd in the raw parse: pydicom decides
        pass
    try:
        dataset = dcmread(io.BytesIO(data))
        return find_in_dataset(search, dataset, list(walk_dataset(dataset)))
    except Exception:
        return UNREADABLE
