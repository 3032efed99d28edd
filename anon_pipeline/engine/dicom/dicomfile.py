"""Reading and writing single DICOM files: strict where pydicom is lenient.

pydicom silently accepts a file cut off at an element boundary or mid-value; a
pipeline that must account for every file cannot, so the checks here turn such
files into a clear `corrupt` outcome. Reasons never contain values or paths.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import xxhash
from pydicom import dcmread, dcmwrite
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_has_tag, dictionary_VM, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    correct_ambiguous_vr_element,
    write_data_element,
    write_file_meta_info,
)
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from anon_pipeline import __version__
from anon_pipeline.engine.dicom.rawparse import KNOWN_VRS, UNDEFINED_LENGTH

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# A fixed UID under 2.25 naming this implementation (PS3.7 D.3.3.2: required in file meta).
IMPLEMENTATION_CLASS_UID = "2.25.216497309254184436591093290318914283521"
IMPLEMENTATION_VERSION_NAME = f"ANONPIPE_{__version__.replace('.', '')}"[:16]
# PS3.5 §6.2: the bytes each string VR may hold. Free text may hold TAB, LF, FF, CR and
# ESC (character-set switches); nothing may hold other control bytes, which every
# element header (tag, VR, length) contains.
_TEXT = rb"[^\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]*"
STRING_VR_BYTES = {
    **{
        vr: re.compile(_TEXT, re.DOTALL)
        for vr in ("AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT")
    },
    "UI": re.compile(rb"[0-9.\\\x00 ]*"),
    "DS": re.compile(rb"[0-9+\-.eE \\]*"),
    "IS": re.compile(rb"[0-9+\- \\]*"),
    "DA": re.compile(rb"[0-9.\- \\]*"),
    "TM": re.compile(rb"[0-9.: \\]*"),
    "DT": re.compile(rb"[0-9.+\- \\]*"),
    "AS": re.compile(rb"[0-9DWMY \\]*"),
}
BINARY_VR_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "UV": 8, "SV": 8}


class DicomFileError(Exception):
    """A file that looks like DICOM but cannot be used; `reason` is PHI-free."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedFile:
    """A parsed instance and the facts every stage needs about it."""

    dataset: Dataset
    transfer_syntax: UID
    kind: str  # image | dicom_other | dicomdir


def content_hash(data: bytes) -> str:
    """XXH3-128: about ten times faster than a cryptographic hash on 0.5 MB slices; used
    to find duplicates and changed files, never as a security boundary."""
    return xxhash.xxh3_128_hexdigest(data)


def content_hash_of_parts(parts: Iterable[Any]) -> str:
    """`content_hash` of the parts' bytes joined, without joining them."""
    hasher = xxhash.xxh3_128()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()


def pixel_data_hash(dataset: Dataset) -> str | None:
    """Hash of the pixel data element's bytes as stored (encapsulated stays encapsulated)."""
    for keyword in PIXEL_KEYWORDS:
        if keyword in dataset:
            return content_hash(dataset[keyword].value or b"")
    return None


def looks_like_dicom(data: bytes) -> bool:
    """A Part 10 file ('DICM' after the preamble) or a bare dataset as older CDs hold,
    which starts with a group 0002 or 0008 tag in either byte order (PS3.10 §7.1)."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    return int.from_bytes(data[:2], "little") in (2, 8) or int.from_bytes(data[:2], "big") in (2, 8)


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings and log lines: they quote element values (PHI)."""
    logger = logging.getLogger("pydicom")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was_disabled


def parse_dicom(data: bytes) -> ParsedFile:
    """Parse a whole file from memory, or raise DicomFileError with a PHI-free reason."""
    try:
        dataset = dcmread(io.BytesIO(data), force=True)
    except Exception as error:  # pydicom raises many types on malformed input
        raise DicomFileError(f"unparseable ({type(error).__name__})") from None
    try:
        return classify_dataset(dataset)
    except DicomFileError:
        raise
    except Exception as error:  # malformed values trip pydicom in many places
        raise DicomFileError(f"malformed ({type(error).__name__})") from None


def classify_dataset(dataset: Dataset) -> ParsedFile:
    if len(dataset) == 0:
        raise DicomFileError("no data elements")
    check_last_element_complete(dataset)
    check_raw_elements(dataset)
    transfer_syntax = transfer_syntax_of(dataset)
    if not transfer_syntax.is_transfer_syntax:
        raise DicomFileError("unknown transfer syntax")
    if is_dicomdir(dataset):
        return ParsedFile(dataset, transfer_syntax, "dicomdir")
    if not any(keyword in dataset for keyword in PIXEL_KEYWORDS):
        return ParsedFile(dataset, transfer_syntax, "dicom_other")
    check_native_pixel_length(dataset, transfer_syntax)
    return ParsedFile(dataset, transfer_syntax, "image")


def check_last_element_complete(dataset: Dataset) -> None:
    # Only the last element can run past the end of the data.
    last = dataset.get_item(list(dataset.keys())[-1])
    if (
        isinstance(last, RawDataElement)
        and last.length != UNDEFINED_LENGTH
        and last.value is not None
        and len(last.value) < last.length
    ):
        raise DicomFileError(f"truncated: element {last.tag} runs past the end of the file")


def check_raw_elements(dataset: Dataset) -> None:
    """Check every top-level element while it is still raw (before anything converts it):
    kept elements are copied byte for byte, so a bad VR or a value its VR cannot hold
    makes the file corrupt here. Items inside sequences are checked by the rule walk."""
    for tag in dataset.keys():  # noqa: SIM118 - iterating a Dataset would convert every value
        element = dataset.get_item(tag)
        vr = element.VR
        if vr is not None and vr not in KNOWN_VRS:
            raise DicomFileError(f"element {tag} has an invalid VR")
        if vr is None and dictionary_has_tag(tag):
            vr = dictionary_VR(tag)
        check_raw_value(tag, element, vr or "UN")


def check_raw_value(tag: BaseTag, element: DataElement | RawDataElement, vr: str) -> None:
    """Refuse a raw value its VR cannot hold. Kept values are copied byte for byte, so
    this is what stops a damaged length that swallowed the elements after it (a private
    block with a name, say) from reaching an output inside a harmless-looking element."""
    if isinstance(element, RawDataElement) and element.value:
        check_raw_bytes(tag, element.value, vr)


def check_raw_bytes(tag: int, value: bytes, vr: str) -> None:
    """`check_raw_value` on the value's bytes alone (what the streaming path holds)."""
    if vr in STRING_VR_BYTES:
        body = value.rstrip(b"\x00 ")
        if STRING_VR_BYTES[vr].fullmatch(body) is None:
            raise DicomFileError(f"element {BaseTag(tag)} holds bytes that VR {vr} does not allow")
    elif vr in BINARY_VR_SIZES:
        size = BINARY_VR_SIZES[vr]
        expected = expected_binary_length(tag, size)
        if len(value) % size or (expected is not None and len(value) != expected):
            raise DicomFileError(f"element {BaseTag(tag)} has a length that VR {vr} does not allow")


@lru_cache(maxsize=4096)
def expected_binary_length(tag: int, size: int) -> int | None:
    """The byte length a fixed-multiplicity binary element must have, or None."""
    multiplicity = dictionary_VM(tag) if dictionary_has_tag(tag) else "1-n"
    return int(multiplicity) * size if multiplicity.isdigit() else None


def check_native_pixel_length(dataset: Dataset, transfer_syntax: UID) -> None:
    if transfer_syntax.is_encapsulated or "PixelData" not in dataset:
        return
    try:
        expected = get_expected_length(dataset)
    except Exception as error:  # missing/invalid Rows, Columns, BitsAllocated...
        raise DicomFileError(f"pixel description incomplete ({type(error).__name__})") from None
    actual = len(dataset.PixelData or b"")
    if actual < expected:
        raise DicomFileError(f"pixel data short: {actual} of {expected} bytes")


def is_dicomdir(dataset: Dataset) -> bool:
    meta_class = dataset.get("file_meta", FileMetaDataset()).get("MediaStorageSOPClassUID")
    return meta_class == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in dataset


def transfer_syntax_of(dataset: Dataset) -> UID:
    """The file's transfer syntax; for bare datasets, the encoding pydicom detected."""
    declared = dataset.get("file_meta", FileMetaDataset()).get("TransferSyntaxUID")
    if declared:
        return UID(declared)
    is_implicit, is_little = dataset.original_encoding
    if is_implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if is_little else ExplicitVRBigEndian


def encode_dicom(dataset: Dataset, transfer_syntax: UID) -> bytes:
    """Serialize as a Part 10 file with rebuilt file meta (no source AE title, no
    private meta) and a zero preamble, in the input's own transfer syntax."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    dataset.file_meta = meta
    dataset.preamble = None  # a preamble may hold anything (e.g. a TIFF header)
    if transfer_syntax.is_deflated:  # the whole dataset is compressed: pydicom writes it
        buffer = io.BytesIO()
        dcmwrite(buffer, dataset, enforce_file_format=True)
        return buffer.getvalue()
    output = DicomBytesIO()
    output.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(output, meta, enforce_standard=True)
    output.is_little_endian = transfer_syntax.is_little_endian
    output.is_implicit_VR = transfer_syntax.is_implicit_VR
    write_top_level(output, dataset)
    return output.getvalue()


def write_top_level(output: DicomBytesIO, dataset: Dataset) -> None:
    """Write the dataset's elements in tag order. Raw (unconverted) elements of defined
    length go out as header + their value bytes, exactly what pydicom writes for them,
    without its per-element overhead; everything else is written by pydicom."""
    little = output.is_little_endian
    implicit = output.is_implicit_VR
    order = "<" if little else ">"
    encodings = convert_encodings(dataset.get("SpecificCharacterSet") or default_encoding)
    for tag in sorted(dataset.keys()):
        element = dataset.get_item(tag)
        if (
            isinstance(element, RawDataElement)
            and element.length != UNDEFINED_LENGTH
            and element.value is not None
            and element.is_little_endian == little
            and element.is_implicit_VR == implicit
            and (implicit or element.VR in KNOWN_VRS)
        ):
            group, number = tag >> 16, tag & 0xFFFF
            length = len(element.value)
            if implicit:
                output.write(struct.pack(f"{order}HHI", group, number, length))
            elif element.VR in EXPLICIT_VR_LENGTH_32:
                header = struct.pack(
                    f"{order}HH2sHI", group, number, element.VR.encode(), 0, length
                )
                output.write(header)
            else:
                output.write(
                    struct.pack(f"{order}HH2sH", group, number, element.VR.encode(), length)
                )
            output.write(element.value)
        else:
            converted = correct_ambiguous_vr_element(dataset[tag], dataset, little)
            write_data_element(output, converted, encodings)
