"""What a file's pixel data means: the attributes that decide how it is read and where
each frame lies, as a fingerprint taken from the input at the scan and from the
released file at verification.

Equal pixel bytes are not enough: a released image that lost its frame count, its
spacing, a frame's position or its rescale still has every pixel, but they no longer
mean the same thing. The fingerprint holds each such attribute's value bytes as
stored (text padding aside) at the top level and inside the functional groups, where
multi-frame objects keep their geometry per frame. Both readers give the same bytes:
the raw parser's offsets, or pydicom's unconverted elements for files it declines.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from anon_pipeline.engine.dicom.rawparse import (
    SPAN_TAG,
    SPAN_VALUE_START,
    SPAN_VR,
    Element,
    Part10,
    parse_part10,
    value_end,
)

# PS3.3 C.7.6.3 Image Pixel, C.7.6.6 Multi-frame, C.7.6.2 Image Plane, C.11.1 Modality
# LUT, C.7.6.16.2 functional group macros (pixel measures, plane position and
# orientation, pixel value transformation), palette colour lookup tables.
MEANING_KEYWORDS = (
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "PixelAspectRatio",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "LUTDescriptor",
    "LUTData",
    "ModalityLUTType",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
)
MEANING_TAGS: dict[int, str] = {}
for _keyword in MEANING_KEYWORDS:
    _tag = tag_for_keyword(_keyword)
    if _tag is None:  # a typo here would silently leave an attribute unchecked
        raise ValueError(f"{_keyword} is not in pydicom's data dictionary")
    MEANING_TAGS[_tag] = _keyword
# Sequences whose items hold meaning attributes, at any depth below them.
DESCENDED_TAGS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "ModalityLUTSequence",
    )
)
TEXT_TAGS = frozenset(
    tag for tag in MEANING_TAGS if dictionary_VR(tag) in {"CS", "DS", "IS", "LO", "SH"}
)
MAX_CHANGES_LISTED = 3
SYNTAX_OF_ENCODING = {  # (implicit VR, little endian) -> transfer syntax
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}

Entry = tuple[str, bytes]  # (where: keyword path with 1-based item numbers, value bytes)


def stored_value(tag: int, value: bytes) -> bytes:
    """The value as compared: text without its padding, binary as it is."""
    return value.rstrip(b"\0 ") if tag in TEXT_TAGS else value


def raw_entries(part: Part10, data: bytes) -> list[Entry]:
    """The meaning attributes of a file the raw parser read."""
    entries: list[Entry] = [("TransferSyntaxUID", str(part.transfer_syntax).encode())]
    for span in part.spans:
        tag = span[SPAN_TAG]
        if tag in MEANING_TAGS:
            entries.append(
                (
                    MEANING_TAGS[tag],
                    stored_value(tag, data[span[SPAN_VALUE_START] : value_end(span)]),
                )
            )
        elif tag in DESCENDED_TAGS and span[SPAN_VR] == "SQ":
            entries.extend(raw_items(part.element(data, span), "", data))
    return entries


def raw_items(sequence: Element, prefix: str, data: bytes) -> Iterator[Entry]:
    name = prefix + (keyword_for_tag(sequence.tag) or f"{sequence.tag:08X}")
    for number, item in enumerate(sequence.items or [], start=1):
        where = f"{name}[{number}]>"
        for element in item.elements:
            if element.vr == "SQ":
                yield from raw_items(element, where, data)
            elif element.tag in MEANING_TAGS:
                value = data[element.value_start : element.value_end]
                yield where + MEANING_TAGS[element.tag], stored_value(element.tag, value)


def dataset_entries(dataset: Dataset) -> list[Entry]:
    """The meaning attributes of a file pydicom read (and nothing has converted yet)."""
    syntax = dataset.file_meta.get("TransferSyntaxUID", "") if dataset.file_meta else ""
    if not syntax:  # a file without meta: the encoding pydicom found
        implicit, little_endian = dataset.original_encoding
        syntax = SYNTAX_OF_ENCODING.get((bool(implicit), bool(little_endian)), "")
    return [("TransferSyntaxUID", str(syntax).encode()), *dataset_items(dataset, "", True)]


def dataset_items(dataset: Dataset, where: str, top_level: bool) -> Iterator[Entry]:
    for tag in dataset.keys():  # noqa: SIM118 (iterating a Dataset converts its elements)
        element = dataset.get_item(tag)
        if tag in MEANING_TAGS:
            yield where + MEANING_TAGS[tag], stored_value(tag, value_bytes(element, dataset))
        elif (not top_level or tag in DESCENDED_TAGS) and dataset[tag].VR == "SQ":
            name = where + (keyword_for_tag(tag) or f"{int(tag):08X}")
            for number, item in enumerate(dataset[tag].value, start=1):
                yield from dataset_items(item, f"{name}[{number}]>", False)


def value_bytes(element: RawDataElement | DataElement, dataset: Dataset) -> bytes:
    """An element's value as stored: the raw bytes, or for one pydicom's reader already
    converted (empty values, for one), the bytes pydicom writes for it."""
    if isinstance(element, RawDataElement):
        return element.value or b""
    if element.value is None or element.value == "":
        return b""
    implicit, little_endian = dataset.original_encoding
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = bool(implicit), bool(little_endian)
    write_data_element(buffer, element)
    header = 8 if implicit or element.VR not in EXPLICIT_VR_LENGTH_32 else 12
    return buffer.getvalue()[header:]


def entries_of(data: bytes, part: Part10 | None = None) -> list[Entry]:
    """The meaning attributes of a file's bytes, by the raw parser if it reads them,
    else by pydicom; raises when neither can."""
    if part is None:
        try:
            part = parse_part10(data)
        except Exception:  # the raw parser declines it: pydicom reads it
            return dataset_entries(dcmread(io.BytesIO(data), force=True))
    return raw_entries(part, data)


def fingerprint(entries: list[Entry]) -> str:
    digest = hashlib.sha256()
    for where, value in entries:
        digest.update(where.encode() + b"\0" + len(value).to_bytes(4, "little") + value)
    return digest.hexdigest()[:32]


def fingerprint_of(data: bytes, part: Part10 | None = None) -> str | None:
    """The fingerprint of a DICOM file's bytes (the scan's: files it found to be DICOM;
    pydicom's forced read takes nearly any bytes, so this says nothing of others), or
    None when even that read fails."""
    try:
        return fingerprint(entries_of(data, part))
    except Exception:  # not readable as DICOM: the scan records why elsewhere
        return None


def changes(before: list[Entry], after: list[Entry]) -> list[str]:
    """What differs between an input's and a released file's meaning attributes, by
    keyword path (never a value): 'lost NumberOfFrames', 'changed PerFrame...'."""
    old, new = dict(before), dict(after)
    found = [f"lost {where}" for where in old if where not in new]
    found += [f"changed {where}" for where in old if where in new and new[where] != old[where]]
    found += [f"added {where}" for where in new if where not in old]
    return found


def describe(found: list[str]) -> str:
    """The changes, the first few by name (PHI-free)."""
    listed = "; ".join(found[:MAX_CHANGES_LISTED])
    more = len(found) - MAX_CHANGES_LISTED
    return listed + (f"; and {more} more" if more > 0 else "")
