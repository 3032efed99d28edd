"""Bytes the streaming path writes itself: the rebuilt file meta group, sequence and item
headers, elements pydicom encodes, and the de-identification marks put in place.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from operator import itemgetter
from typing import Any

from pydicom.charset import default_encoding
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from anon_pipeline.engine.dicom.dicomfile import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
)
from anon_pipeline.engine.dicom.rawparse import (
    UNDEFINED_LENGTH,
    Item,
    Part10,
    Unsupported,
)
from anon_pipeline.engine.files.inventory import attribute_values
from anon_pipeline.engine.files.streaming.facts import (
    SOP_CLASS_TAG,
    SOP_INSTANCE_TAG,
)
from anon_pipeline.engine.files.streaming.memo import (
    ENTRY_TAG,
    Memo,
    TopEntry,
)
from anon_pipeline.engine.rules.deidentification import mark_deidentified
from anon_pipeline.engine.rules.rule_set import RuleSet

SEQUENCE_VR = b"SQ"
ITEM_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQUENCE_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def with_marks(entries: list[TopEntry], marks: list[TopEntry]) -> list[TopEntry]:
    """The entries (in ascending tag order) with the de-identification marks put in their
    place, each replacing an element of its tag."""
    merged = list(entries)
    for mark in marks:
        tag = mark[ENTRY_TAG]
        index = bisect_left(merged, tag, key=itemgetter(ENTRY_TAG))
        if index < len(merged) and merged[index][ENTRY_TAG] == tag:
            merged[index] = mark
        else:
            merged.insert(index, mark)
    return merged


def uid_value(value: bytes | None) -> str:
    if value is None:
        raise Unsupported("SOP UIDs not kept as plain values")
    text = value.decode("ascii").rstrip("\0 ")
    if not text or "\\" in text:
        raise Unsupported("SOP UID empty or multi-valued")
    return text


def meta_element(group_element: int, vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    if vr == "OB":
        return struct.pack("<HH2sHI", 2, group_element, b"OB", 0, len(value)) + value
    return struct.pack("<HH2sH", 2, group_element, vr.encode(), len(value)) + value


def file_meta(part: Part10, values: dict[int, bytes | None]) -> bytes:
    """Preamble, 'DICM' and the rebuilt meta group, as `dicomfile.encode_dicom` writes
    them (no source AE title, no private meta)."""
    syntax = str(part.transfer_syntax)
    body = b"".join(
        [
            meta_element(0x0001, "OB", b"\x00\x01"),
            meta_element(0x0002, "UI", uid_value(values.get(SOP_CLASS_TAG)).encode()),
            meta_element(0x0003, "UI", uid_value(values.get(SOP_INSTANCE_TAG)).encode()),
            meta_element(0x0010, "UI", syntax.encode()),
            meta_element(0x0012, "UI", IMPLEMENTATION_CLASS_UID.encode()),
            meta_element(0x0013, "SH", IMPLEMENTATION_VERSION_NAME.encode()),
        ]
    )
    group_length = struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + group_length + body


def deidentification_entries(
    memo: Memo, rule_set: RuleSet, implicit: bool, whitelist: bool
) -> list[TopEntry]:
    """The elements `mark_deidentified` adds, encoded once per rule set, encoding and stage."""
    if (implicit, whitelist) not in memo.deidentification:
        dataset = Dataset()
        mark_deidentified(dataset, rule_set, complete=whitelist)
        entries: list[TopEntry] = []
        for tag in sorted(dataset.keys()):
            encoded = encode_element(dataset[tag], implicit, [default_encoding])
            single = Dataset({tag: dataset[tag]})
            entries.append((int(tag), encoded, tuple(attribute_values(single)), None))
        memo.deidentification[implicit, whitelist] = entries
    return memo.deidentification[implicit, whitelist]


def encode_element(element: Any, implicit: bool, encodings: Any) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_data_element(buffer, element, encodings)
    return buffer.getvalue()


def item_header(item: Item, size: int) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED_LENGTH if item.undefined_length else size)
