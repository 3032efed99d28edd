"""What the checks and holds read of a file, from its raw elements (converted as pydicom's
reader would), and their verdict memoised by those facts; the scan's classification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom import config as pydicom_config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import BaseTag
from pydicom.uid import MediaStorageDirectoryStorage

from anon_pipeline.engine.dicom.dicomfile import (
    BINARY_VR_SIZES,
    STRING_VR_BYTES,
    check_raw_bytes,
    content_hash,
)
from anon_pipeline.engine.dicom.pixel_meaning import fingerprint_of
from anon_pipeline.engine.dicom.rawparse import (
    MEDIA_STORAGE_CLASS_TAG,
    PIXEL_DATA_TAG,
    PIXEL_TAGS,
    SPAN_TAG,
    SPAN_UNDEFINED,
    SPAN_VALUE_START,
    SPAN_VR,
    Element,
    Part10,
    Span,
    Unsupported,
    parse_part10,
    tag_of,
    value_end,
)
from anon_pipeline.engine.files.inventory import MAX_VALUE_LENGTH
from anon_pipeline.engine.files.streaming.memo import (
    Memo,
)
from anon_pipeline.engine.rules.holds import OVERLAY_FACT_TAGS, hold_reason
from anon_pipeline.engine.rules.rule_set import cached_keyword

CHARSET_TAG = tag_of("SpecificCharacterSet")
SOP_CLASS_TAG, SOP_INSTANCE_TAG = tag_of("SOPClassUID"), tag_of("SOPInstanceUID")
CHECKED_VRS = frozenset(STRING_VR_BYTES) | frozenset(BINARY_VR_SIZES)
META_SOURCE_TAGS = frozenset({SOP_CLASS_TAG, SOP_INSTANCE_TAG})  # the meta group repeats them
PIXEL_ORDER = tuple(map(tag_of, ("PixelData", "FloatPixelData", "DoubleFloatPixelData")))
DIRECTORY_RECORDS_TAG = tag_of("DirectoryRecordSequence")
DEIDENTIFICATION_METHOD_TAG = tag_of("DeidentificationMethod")
# The facts that differ from file to file, which the checks and holds never read.
IDENTITY_TAGS = frozenset(
    map(tag_of, ("SOPInstanceUID", "PatientID", "StudyInstanceUID", "SeriesInstanceUID"))
)
# Top-level elements the holds, the output name, the date shift and the pixel-length
# check read: handed to the same functions the straightforward path uses.
FACT_KEYWORDS = (
    "SpecificCharacterSet",
    "ImageType",
    "SOPClassUID",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BurnedInAnnotation",
)
FACT_TAGS = OVERLAY_FACT_TAGS | IDENTITY_TAGS | frozenset(map(tag_of, FACT_KEYWORDS))
VERDICT_FACTS = tuple(sorted(FACT_TAGS - IDENTITY_TAGS))
VERDICT_SPAN_TAGS = tuple(sorted(PIXEL_TAGS | {DIRECTORY_RECORDS_TAG}))
IDENTITY_FACTS = tuple(sorted(IDENTITY_TAGS | {SOP_CLASS_TAG}))
# Plain values of number, time and date VRs (PS3.5 §6.2), whose inventory text is the
# value itself; any other form is converted by pydicom.
PLAIN_VALUE_PATTERNS = {
    "DS": re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    "IS": re.compile(rb"[+-]?\d{1,9}"),
    "TM": re.compile(rb"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?"),
    "DA": re.compile(rb"\d{8}"),
}
MAX_DS_LENGTH = 16


@dataclass(frozen=True)
class Classified:
    """What the scan needs of a file."""

    kind: str
    sop_instance_uid: str | None
    pixel_hash: str | None
    pixel_meaning: str | None


def raw_element(part: Part10, data: bytes, element: Element) -> RawDataElement:
    """The RawDataElement pydicom's reader would have made of `element`."""
    value = data[element.value_start : element.value_end]
    vr = None if part.implicit and not element.resolved else element.vr
    return RawDataElement(
        BaseTag(element.tag), vr, len(value), value, element.value_start, part.implicit, True
    )


@lru_cache(maxsize=256)
def encodings_for(charset: bytes | None) -> str | list[str]:
    """The encodings pydicom decodes a file's text with, from its SpecificCharacterSet."""
    if charset is None:
        return default_encoding
    raw = RawDataElement(BaseTag(CHARSET_TAG), "CS", len(charset), charset, 0, False, True)
    value = convert_raw_data_element(raw, encoding=default_encoding).value
    if not value:
        raise Unsupported("empty SpecificCharacterSet")
    return convert_encodings(value)


def convert(raw: RawDataElement, encodings: str | list[str]) -> DataElement:
    """Convert as the reader's Dataset converts on first access (the character set
    element itself is always read with the default encoding)."""
    encoding = default_encoding if raw.tag == CHARSET_TAG else encodings
    return convert_raw_data_element(raw, encoding=encoding)


def file_verdict(
    part: Part10, data: bytes, memo: Memo, holds: frozenset[str]
) -> tuple[str, dict[str, str], bytes | None]:
    """The file's kind after `checked_kind`, its identity facts as text (UIDs and PatientID,
    by keyword) and its character set; held files raise. The checks and holds read only
    facts that repeat across a series, so their verdict is memoised by everything they
    read, holds included; the identity facts are per file."""
    verdict_key: list[Any] = [part.meta.get(MEDIA_STORAGE_CLASS_TAG), part.transfer_syntax, holds]
    by_tag = part.by_tag
    for tag in VERDICT_FACTS:
        span = by_tag.get(tag)
        if span is not None:
            verdict_key.append((tag, span[SPAN_VR], part.value(data, span)))
    for tag in VERDICT_SPAN_TAGS:
        span = by_tag.get(tag)
        if span is not None:
            verdict_key.append(
                (tag, span[SPAN_VR], value_end(span) - span[SPAN_VALUE_START], span[SPAN_UNDEFINED])
            )
    identity = [by_tag[tag] for tag in IDENTITY_FACTS if tag in by_tag]
    charset_span = by_tag.get(CHARSET_TAG)
    charset = part.value(data, charset_span) if charset_span else None
    frozen_key = tuple(verdict_key)
    if frozen_key not in memo.verdicts:
        facts = facts_dataset(part, data, memo)
        kind = checked_kind(part, data, facts, check_values=False)
        if hold_reason(facts, kind, holds):
            raise Unsupported("held")
        memo.verdicts[frozen_key] = kind
    texts = {}
    for span in identity:
        plain = plain_uid(part.value(data, span)) if span[SPAN_VR] == "UI" else None
        if plain is None:  # anything but a plain UID: as the reader's Dataset converts it
            element = converted_facts(part, data, memo, [span], charset)[span[SPAN_TAG]]
            plain = str(element.value or "")
        texts[cached_keyword(span[SPAN_TAG])] = plain
    return memo.verdicts[frozen_key], texts, charset


def plain_uid(value: bytes) -> str | None:
    """The text pydicom gives a UI value (decoded, trailing NULs and spaces removed),
    for the plain case: ASCII, one value, no other spaces; None for anything else."""
    text = value.rstrip(b"\0 ")
    if not text.isascii() or b"\\" in text or b" " in text:
        return None
    return text.decode("ascii")


def converts_to_objects() -> bool:
    """Whether pydicom is set to give numbers, dates and times as other objects than
    the ones `plain_value_text` was checked against (its defaults)."""
    return bool(
        pydicom_config.datetime_conversion
        or pydicom_config.use_DS_decimal
        or pydicom_config.use_DS_numpy
        or pydicom_config.use_IS_numpy
    )


def plain_value_text(vr: str, value: bytes) -> str | None:
    """The inventory text pydicom gives a DS, IS, TM or DA value, for the plain case:
    values of the standard's form, separated by backslashes, padded with at most one
    trailing space; None for anything else (pydicom converts it)."""
    pattern = PLAIN_VALUE_PATTERNS.get(vr)
    if pattern is None or converts_to_objects():
        return None
    text = value[:-1] if value.endswith(b" ") else value
    for part in text.split(b"\\"):
        if not pattern.fullmatch(part) or (vr == "DS" and len(part) > MAX_DS_LENGTH):
            return None
    return text.decode("ascii")[:MAX_VALUE_LENGTH]


def converted_facts(
    part: Part10, data: bytes, memo: Memo | None, spans: list[Span], charset: bytes | None
) -> dict[int, DataElement]:
    """Top-level elements converted as the reader's Dataset would convert them (with the
    file's character set); memoised by value."""
    encodings = encodings_for(charset)
    converted: dict[int, DataElement] = {}
    for span in spans:
        raw = raw_element(part, data, part.element(data, span))
        memo_key = (raw.tag, raw.VR, raw.value, charset)
        element = memo.facts.get(memo_key) if memo is not None else None
        if element is None:
            element = convert(raw, encodings)
            if memo is not None:
                memo.facts[memo_key] = element
        converted[raw.tag] = element
    return converted


def facts_dataset(part: Part10, data: bytes, memo: Memo | None = None) -> Dataset:
    """A Dataset of the top-level elements in FACT_TAGS, converted as the reader's Dataset
    would convert them (with the file's character set); memoised by value."""
    spans = [span for span in part.spans if span[0] in FACT_TAGS]  # 0: SPAN_TAG, hot
    charset = next(
        (part.value(data, span) for span in spans if span[SPAN_TAG] == CHARSET_TAG), None
    )
    return Dataset(converted_facts(part, data, memo, spans, charset))  # type: ignore[arg-type]


def checked_kind(part: Part10, data: bytes, facts: Dataset, check_values: bool = True) -> str:
    """The checks `dicomfile.classify_dataset` makes; returns the kind. Failures raise
    (and the straightforward path then records the reason). `check_values=False` leaves
    the top-level values to the caller (the walk checks each as it meets it)."""
    top = part.by_tag
    media_class = (
        part.meta.get(MEDIA_STORAGE_CLASS_TAG, b"").decode("ascii", "replace").rstrip("\0 ")
    )
    if media_class == MediaStorageDirectoryStorage or DIRECTORY_RECORDS_TAG in top:
        raise Unsupported("DICOMDIR")
    if check_values:
        for span in part.spans:
            if span[SPAN_VR] in CHECKED_VRS:
                check_raw_bytes(span[SPAN_TAG], part.value(data, span), span[SPAN_VR])
    if not any(tag in top for tag in PIXEL_TAGS):
        return "dicom_other"
    pixels = top.get(PIXEL_DATA_TAG)
    native = pixels is not None and not part.transfer_syntax.is_encapsulated
    if native and value_end(pixels) - pixels[SPAN_VALUE_START] < get_expected_length(facts):  # type: ignore[arg-type,index]
        raise Unsupported("pixel data short")
    return "image"


def pixel_hash_of(part: Part10, data: bytes) -> str | None:
    top = part.by_tag
    for tag in PIXEL_ORDER:
        if tag in top:
            span = top[tag]
            return content_hash(memoryview(data)[span[SPAN_VALUE_START] : value_end(span)])
    return None


def classify_bytes(data: bytes) -> Classified:
    """The scan's facts about a file, from its bytes; raises when pydicom must decide."""
    part = parse_part10(data)
    facts = facts_dataset(part, data)
    kind = checked_kind(part, data, facts)
    uid = str(facts.get("SOPInstanceUID", "") or "") or None
    return Classified(kind, uid, pixel_hash_of(part, data), fingerprint_of(data, part))
