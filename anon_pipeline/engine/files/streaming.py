"""The streaming path of a stage: one file's bytes in, the output file's bytes out.

It gives what the straightforward path gives (pydicom parses the whole file, the
rule walk changes the Dataset, pydicom writes it), byte for byte: tests compare
the two on every transfer syntax the hostile fixture covers. It is faster because
it parses element headers only (`rawparse`), copies every element a rule keeps
(most of a file, pixel data included) as a slice of the input, and hands only
the elements a rule changes to pydicom and the same `RuleWalk`, one at a time.

The slices of a series repeat most of their elements byte for byte, so each worker
keeps a bounded memo (`Memo`): a top-level element whose bytes it has met before,
in the same context (rule set, key, character set, date shift, encoding, stage), is
replayed (its output, inventory rows and log entries) without being walked again;
so are the checks and holds, by the facts they read. The equal elements also come
in long stretches between the few that differ (UIDs, positions): a stretch with the
bytes of one in the previous file (a run, `rawparse.Layout`) is parsed and replayed
whole, after one comparison of its bytes, when the context is the same. Anything
unusual raises `Unsupported` (or any other error), and the caller takes the
straightforward path, which then decides.
"""

from __future__ import annotations

import re
import struct
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from pydicom import config as pydicom_config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import BaseTag
from pydicom.uid import MediaStorageDirectoryStorage

from anon_pipeline.engine.dicom.dicomfile import (
    BINARY_VR_SIZES,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    STRING_VR_BYTES,
    check_raw_bytes,
    content_hash,
)
from anon_pipeline.engine.dicom.pixel_meaning import fingerprint_of
from anon_pipeline.engine.dicom.rawparse import (
    LONG_VRS,
    PIXEL_REPRESENTATION_TAG,
    PIXEL_TAGS,
    RUN_MAX_BYTES,
    Element,
    Item,
    Layout,
    Part10,
    Span,
    Unsupported,
    parse_part10,
    value_end,
)
from anon_pipeline.engine.files.inventory import MAX_VALUE_LENGTH, attribute_values, value_text
from anon_pipeline.engine.rules.deidentification import mark_deidentified
from anon_pipeline.engine.rules.holds import OVERLAY_FACT_TAGS, hold_reason
from anon_pipeline.engine.rules.pseudonyms import date_offset_days
from anon_pipeline.engine.rules.rule_set import Action, Rule, RuleSet, cached_keyword
from anon_pipeline.engine.rules.transform import (
    SAMPLE_LENGTH,
    TEXT_VRS,
    RuleWalk,
    TransformLog,
    UnlistedAttribute,
    format_tag,
)
from anon_pipeline.engine.rules.uids import REQUIRED_UIDS, hash_uid, output_name_from

CHARSET_TAG = 0x00080005
SOP_CLASS_TAG, SOP_INSTANCE_TAG = 0x00080016, 0x00080018
CHECKED_VRS = frozenset(STRING_VR_BYTES) | frozenset(BINARY_VR_SIZES)
META_SOURCE_TAGS = frozenset({SOP_CLASS_TAG, SOP_INSTANCE_TAG})  # the meta group repeats them
PIXEL_ORDER = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # PixelData, Float..., DoubleFloat...
DIRECTORY_RECORDS_TAG = 0x00041220
DEIDENTIFICATION_METHOD_TAG = 0x00120063
# Top-level elements the holds, the output name, the date shift and the pixel-length
# check read: handed to the same functions the straightforward path uses.
FACT_TAGS = OVERLAY_FACT_TAGS | {
    CHARSET_TAG,
    0x00080008,  # ImageType
    SOP_CLASS_TAG,
    SOP_INSTANCE_TAG,
    0x00100020,  # PatientID
    0x0020000D,  # StudyInstanceUID
    0x0020000E,  # SeriesInstanceUID
    0x00280002,  # SamplesPerPixel
    0x00280004,  # PhotometricInterpretation
    0x00280008,  # NumberOfFrames
    0x00280010,  # Rows
    0x00280011,  # Columns
    0x00280100,  # BitsAllocated
    0x00280301,  # BurnedInAnnotation
}
# The facts that differ from file to file, which the checks and holds never read.
IDENTITY_TAGS = frozenset({SOP_INSTANCE_TAG, 0x00100020, 0x0020000D, 0x0020000E})
VERDICT_FACTS = tuple(sorted(FACT_TAGS - IDENTITY_TAGS))
VERDICT_SPAN_TAGS = tuple(sorted(PIXEL_TAGS | {DIRECTORY_RECORDS_TAG}))
IDENTITY_FACTS = tuple(sorted(IDENTITY_TAGS | {SOP_CLASS_TAG}))
SEQUENCE_VR = b"SQ"
ITEM_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQUENCE_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


class Plan(Enum):
    """What the walk does with the elements of one tag and VR (`StreamWalk.plan`)."""

    PRIVATE = "private"  # removed, counted
    SKIP = "skip"  # a group length: dropped
    SEQUENCE = "sequence"  # kept and walked item by item, or removed
    KEEP = "keep"  # copied as it is
    CHANGE = "change"  # handed to the rule walk and pydicom
    CHARSET = "charset"  # the character set: kept, top level only


# Module names for the members: the walk's loop compares with `is` for every element,
# and a global costs one lookup where `Plan.KEEP` costs two.
PRIVATE, SKIP, SEQUENCE, KEEP, CHANGE, CHARSET = (
    Plan.PRIVATE, Plan.SKIP, Plan.SEQUENCE, Plan.KEEP, Plan.CHANGE, Plan.CHARSET,
)  # fmt: skip
MEMO_LIMIT = 5_000  # entries per worker: a series repeats its values; cleared when full
REPLAY_BYTES_LIMIT = 32 * 1024 * 1024  # bytes of replayed elements a worker keeps
# Plain values of number, time and date VRs (PS3.5 §6.2), whose inventory text is the
# value itself; any other form is converted by pydicom.
PLAIN_VALUE_PATTERNS = {
    "DS": re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    "IS": re.compile(rb"[+-]?\d{1,9}"),
    "TM": re.compile(rb"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?"),
    "DA": re.compile(rb"\d{8}"),
}
MAX_DS_LENGTH = 16
InventoryRow = tuple[str, str, str, str | None]
# A top-level output element: (tag, its bytes or a slice of the input, inventory rows,
# value bytes for the UIDs the meta group repeats); tuples, since a file has ~150.
TopEntry = tuple[int, Any, Sequence[InventoryRow], bytes | None]


@dataclass(slots=True)
class Entry:
    """One output element: its encoded bytes (as chunks) and its inventory rows."""

    tag: int
    chunks: list[Any]  # bytes or memoryview slices of the input
    size: int
    rows: Sequence[InventoryRow]  # shared with the memo: never changed in place
    value: bytes | None = None  # the value bytes, for the top-level UIDs the meta group names


@dataclass(frozen=True)
class Effect:
    """What the rule walk did to one changed element (memoised by its raw value)."""

    encoded: bytes | None  # None: removed
    header_size: int
    vr: str
    text: str | None
    uid_pairs: tuple[tuple[str, str], ...]
    identifiers: tuple[tuple[str, str], ...]
    unlisted: tuple[Any, ...]
    actions: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity
class Replay:
    """What processing one top-level element gave: the next file with the same bytes
    there (in the same context) gets the same output, rows and log entries."""

    removed: bool
    output: bytes | None  # None: the element's own bytes, unchanged
    rows: tuple[InventoryRow, ...]
    value: bytes | None
    logs: bool  # anything below to add to the file's log
    uid_pairs: tuple[tuple[str, str], ...]
    identifiers: tuple[tuple[str, str], ...]
    unlisted: tuple[Any, ...]
    actions: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Previous:
    """The last file a worker streamed with a memo: its layout, to parse the next file
    by runs, and what its walk gave for each top-level element, to replay those runs
    whole when the next file has the same context."""

    layout: Layout
    context: tuple[Any, ...]  # as `StreamWalk.run_context`
    entries: list[TopEntry | None]  # by span index; None: removed
    logged: list[Replay | None]  # by span index: the replay, when it adds to the log


@dataclass(frozen=True)
class FileResult:
    """A stage's result for one file, from either path: what `stage.process_file` records."""

    kind: str
    output_name: str
    parts: Sequence[Any]  # the output file's bytes, in order (bytes or slices of the input)
    log: TransformLog
    values: list[InventoryRow]
    pixel_hash: str | None

    @property
    def encoded(self) -> bytes:
        """The output file's bytes in one piece (the stage writes the parts as they are)."""
        return b"".join(self.parts)


@dataclass(frozen=True)
class Classified:
    """What the scan needs of a file."""

    kind: str
    sop_instance_uid: str | None
    pixel_hash: str | None
    pixel_meaning: str | None


class Memo:
    """Per-worker memo for one (rule set, holds, key): effects of changed values,
    inventory texts, converted facts, verdicts and replayed top-level elements. Every
    entry is keyed by everything its result depends on; all of it is cleared when it
    holds more than MEMO_LIMIT entries or REPLAY_BYTES_LIMIT bytes of elements."""

    def __init__(self) -> None:
        self.rules: dict[int, Rule | None] = {}
        self.effects: dict[tuple[Any, ...], Effect] = {}
        self.texts: dict[tuple[Any, ...], tuple[str, str | None]] = {}
        self.facts: dict[tuple[Any, ...], Any] = {}
        self.deidentification: dict[tuple[bool, bool], list[TopEntry]] = {}
        self.plans: dict[tuple[int, str], Plan] = {}
        # by file context (character set, date shift, encoding, stage), then element bytes
        self.replays: dict[tuple[Any, ...], dict[Any, Replay]] = {}
        self.replay_entries = self.replay_bytes = 0
        self.verdicts: dict[tuple[Any, ...], str] = {}
        self.previous: Previous | None = None  # one file: bounded by itself
        # the log entries of a run's replays, added up once for every run like it
        self.run_logs: dict[tuple[Replay, ...], Replay] = {}

    def trim(self) -> None:
        entries = len(self.effects) + len(self.texts) + len(self.facts) + len(self.run_logs)
        entries += self.replay_entries
        if entries > MEMO_LIMIT or self.replay_bytes > REPLAY_BYTES_LIMIT:
            self.effects.clear()
            self.texts.clear()
            self.facts.clear()
            self.replays.clear()
            self.run_logs.clear()
            self.replay_entries = self.replay_bytes = 0
            self.verdicts.clear()


_MEMOS: dict[tuple[str, str, frozenset[str], bytes], Memo] = {}


def memo_for(rule_set: RuleSet, key: bytes) -> Memo:
    """The memo of this rule set (its version is a hash of everything in its file; the
    holds too, in case a caller changed them) and key."""
    memo_key = (rule_set.name, rule_set.version, rule_set.holds, key)
    if memo_key not in _MEMOS:
        _MEMOS.clear()  # one rule set at a time per worker
        _MEMOS[memo_key] = Memo()
    return _MEMOS[memo_key]


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
    """The file's kind after `check_file`, its identity facts as text (UIDs and PatientID,
    by keyword) and its character set; held files raise. The checks and holds read only
    facts that repeat across a series, so their verdict is memoised by everything they
    read, holds included; the identity facts are per file."""
    verdict_key: list[Any] = [part.meta.get(0x00020002), part.transfer_syntax, holds]
    by_tag = part.by_tag
    for tag in VERDICT_FACTS:
        span = by_tag.get(tag)
        if span is not None:
            verdict_key.append((tag, span[1], part.value(data, span)))
    for tag in VERDICT_SPAN_TAGS:
        span = by_tag.get(tag)
        if span is not None:
            verdict_key.append((tag, span[1], value_end(span) - span[3], span[5]))
    identity = [by_tag[tag] for tag in IDENTITY_FACTS if tag in by_tag]
    charset_span = by_tag.get(CHARSET_TAG)
    charset = part.value(data, charset_span) if charset_span else None
    frozen_key = tuple(verdict_key)
    if frozen_key not in memo.verdicts:
        facts = facts_dataset(part, data, memo)
        kind = check_file(part, data, facts, check_values=False)
        if hold_reason(facts, kind, holds):
            raise Unsupported("held")
        memo.verdicts[frozen_key] = kind
    texts = {}
    for span in identity:
        plain = plain_uid(part.value(data, span)) if span[1] == "UI" else None
        if plain is None:  # anything but a plain UID: as the reader's Dataset converts it
            element = converted_facts(part, data, memo, [span], charset)[span[0]]
            plain = str(element.value or "")
        texts[cached_keyword(span[0])] = plain
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
        pydicom_config.datetime_conversion or pydicom_config.use_DS_decimal
        or pydicom_config.use_DS_numpy or pydicom_config.use_IS_numpy
    )  # fmt: skip


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
    spans = [span for span in part.spans if span[0] in FACT_TAGS]
    charset = next((part.value(data, span) for span in spans if span[0] == CHARSET_TAG), None)
    return Dataset(converted_facts(part, data, memo, spans, charset))  # type: ignore[arg-type]


def check_file(part: Part10, data: bytes, facts: Dataset, check_values: bool = True) -> str:
    """The checks `dicomfile.classify_dataset` makes; returns the kind. Failures raise
    (and the straightforward path then records the reason). `check_values=False` leaves
    the top-level values to the caller (the walk checks each as it meets it)."""
    top = part.by_tag
    media_class = part.meta.get(0x00020002, b"").decode("ascii", "replace").rstrip("\0 ")
    if media_class == MediaStorageDirectoryStorage or DIRECTORY_RECORDS_TAG in top:
        raise Unsupported("DICOMDIR")
    if check_values:
        for span in part.spans:
            if span[1] in CHECKED_VRS:
                check_raw_bytes(span[0], part.value(data, span), span[1])
    if not any(tag in top for tag in PIXEL_TAGS):
        return "dicom_other"
    pixels = top.get(0x7FE00010)
    native = pixels is not None and not part.transfer_syntax.is_encapsulated
    if native and value_end(pixels) - pixels[3] < get_expected_length(facts):  # type: ignore[arg-type,index]
        raise Unsupported("pixel data short")
    return "image"


def pixel_hash_of(part: Part10, data: bytes) -> str | None:
    top = part.by_tag
    for tag in PIXEL_ORDER:
        if tag in top:
            span = top[tag]
            return content_hash(memoryview(data)[span[3] : value_end(span)])
    return None


def classify_bytes(data: bytes) -> Classified:
    """The scan's facts about a file, from its bytes; raises when pydicom must decide."""
    part = parse_part10(data)
    facts = facts_dataset(part, data)
    kind = check_file(part, data, facts)
    uid = str(facts.get("SOPInstanceUID", "") or "") or None
    return Classified(kind, uid, pixel_hash_of(part, data), fingerprint_of(data, part))


def stream_file(data: bytes, rule_set: RuleSet, key: bytes, whitelist: bool) -> FileResult:
    """Apply a stage to one file's bytes; raises when the straightforward path must decide
    (held files, unusual encodings, anything this path does not handle)."""
    charset_rule = rule_set.rule_for(CHARSET_TAG)
    charset_kept = (charset_rule is None and not rule_set.reviews_unlisted) or (
        charset_rule is not None and charset_rule.action is Action.KEEP
    )
    if not rule_set.removes_private or not charset_kept:
        raise Unsupported("private attributes kept or character set changed")
    memo = memo_for(rule_set, key)
    memo.trim()
    previous = memo.previous
    part = parse_part10(data, lazy=True, template=previous.layout if previous else None)
    if not whitelist and DEIDENTIFICATION_METHOD_TAG in part.by_tag:
        raise Unsupported("de-identified before: the straightforward path decides")
    kind, facts, charset = file_verdict(part, data, memo, rule_set.holds)
    if not all(facts.get(keyword) for keyword in REQUIRED_UIDS):
        raise Unsupported("missing UIDs")
    study, series, instance = (facts[keyword] for keyword in REQUIRED_UIDS[:3])
    output_name = output_name_from(study, series, instance, key)
    walk = StreamWalk(
        part, data, rule_set, key, memo, charset,
        date_offset_days(facts.get("PatientID", ""), key), whitelist,
    )  # fmt: skip
    entries = walk.top_level(previous)
    meta_values = {}
    for tag in META_SOURCE_TAGS:  # the meta group repeats their output values
        index = bisect_left(entries, tag, key=itemgetter(0))
        if index < len(entries) and entries[index][0] == tag:
            meta_values[tag] = entries[index][3]
    entries = with_marks(
        entries, deidentification_entries(memo, rule_set, part.implicit, whitelist)
    )
    pixel_tag = next((tag for tag in PIXEL_ORDER if tag in walk.output_pixels), None)
    if pixel_tag is not None and pixel_tag not in walk.kept_pixels:
        raise Unsupported("pixel data changed by a rule")
    chunks = [file_meta(part, meta_values)]
    chunks += map(itemgetter(1), entries)
    pixel_hash = walk.kept_pixels.get(pixel_tag) if pixel_tag is not None else None
    values = list(chain.from_iterable(map(itemgetter(2), entries))) if whitelist else []
    memo.previous = Previous(part.layout, walk.run_context, walk.entries_at, walk.logged_at)
    return FileResult(kind, output_name, chunks, walk.log, values, pixel_hash)


def with_marks(entries: list[TopEntry], marks: list[TopEntry]) -> list[TopEntry]:
    """The entries (in ascending tag order) with the de-identification marks put in their
    place, each replacing an element of its tag."""
    merged = list(entries)
    for mark in marks:
        index = bisect_left(merged, mark[0], key=itemgetter(0))
        if index < len(merged) and merged[index][0] == mark[0]:
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


class StreamWalk:
    """The rule walk of `transform.RuleWalk`, over element offsets instead of a Dataset."""

    def __init__(
        self,
        part: Part10,
        data: bytes,
        rule_set: RuleSet,
        key: bytes,
        memo: Memo,
        charset: bytes | None,
        date_offset: int,
        whitelist: bool,
    ) -> None:
        self.part, self.data, self.view = part, data, memoryview(data)
        self.rule_set, self.key, self.memo = rule_set, key, memo
        self.charset_key = charset
        self.encodings = encodings_for(charset)
        self.date_offset = date_offset
        self.whitelist = whitelist
        self.log = TransformLog()
        self.kept_pixels: dict[int, str] = {}
        self.output_pixels: set[int] = set()  # pixel data elements the output holds
        self.context = (charset, date_offset, part.implicit, whitelist)
        # Implicit files: ambiguous VRs follow PixelRepresentation, from anywhere in the file.
        representation = part.by_tag.get(PIXEL_REPRESENTATION_TAG) if part.implicit else None
        self.run_context = (*self.context, representation and part.value(data, representation))
        self.entries_at: list[TopEntry | None] = []  # by span index, for `Previous`
        self.logged_at: list[Replay | None] = []

    def top_level(self, previous: Previous | None) -> list[TopEntry]:
        """`dataset` for the top level. A run of elements with the bytes of the previous
        file's (`Part10.runs`), in the same context, gives what it gave there; any other
        element is `replayed` or walked."""
        entries: list[TopEntry] = []
        spans, run_logs = self.part.spans, self.memo.run_logs
        done = 0
        if previous is not None and previous.context == self.run_context:
            for first, template_first, count in self.part.runs:
                self.replayed(spans[done:first], entries)
                taken = previous.entries[template_first : template_first + count]
                self.entries_at += taken
                entries += filter(None, taken)
                logged = previous.logged[template_first : template_first + count]
                self.logged_at += logged
                replays = tuple(filter(None, logged))
                if replays:
                    run_log = run_logs.get(replays)
                    if run_log is None:
                        run_log = run_logs[replays] = merged_log(replays)
                    self.add_replay(run_log)
                done = first + count
        self.replayed(spans[done:], entries)
        return entries

    def replayed(self, spans: list[Span], entries: list[TopEntry]) -> None:
        """Add the output entries of `spans` to `entries`: an element whose bytes (and
        the file's context) were met before is replayed instead of walked, since the
        slices of a series share most of their elements. Pixel data and large elements
        are always walked."""
        append, entries_at, logged_at = entries.append, self.entries_at, self.logged_at
        part, data = self.part, self.data
        replays = self.memo.replays.setdefault(self.context, {})
        for span in spans:
            tag, vr, start, _, end, _ = span
            size = end - start
            if tag in PIXEL_TAGS or size > RUN_MAX_BYTES:  # walked anew in every file
                walked = None
                for entry in self.dataset([part.element(data, span)], "", "", "", top_level=True):
                    chunk = entry.chunks[0] if len(entry.chunks) == 1 else b"".join(entry.chunks)
                    walked = (tag, chunk, entry.rows, entry.value)
                    append(walked)
                    if tag in PIXEL_TAGS:
                        self.output_pixels.add(tag)
                entries_at.append(walked)
                logged_at.append(None)  # never part of a run
                continue
            raw = data[start:end]
            replay_key = (vr, raw) if part.implicit else raw  # implicit: the resolved VR
            replay = replays.get(replay_key)
            if replay is None:
                replay = self.recorded(part.element(data, span), raw)
                replays[replay_key] = replay
                self.memo.replay_entries += 1
                self.memo.replay_bytes += size + len(replay.output or b"")
            elif replay.logs:
                self.add_replay(replay)
            logged_at.append(replay if replay.logs else None)
            if replay.removed:
                entries_at.append(None)
                continue
            output = replay.output
            top_entry = (tag, raw if output is None else output, replay.rows, replay.value)
            append(top_entry)
            entries_at.append(top_entry)

    def add_replay(self, replay: Replay) -> None:
        if replay.uid_pairs or replay.identifiers or replay.unlisted:
            add_to_log(self.log, replay)
        else:
            actions = self.log.actions
            for action, count in replay.actions:
                actions[action] += count

    def recorded(self, element: Element, raw: bytes) -> Replay:
        """Walk one top-level element and record what it gave, log entries included."""
        if self.plan(element.tag, element.vr) is KEEP:  # a kept leaf logs nothing
            entry = self.kept(element, "", "", top_level=True)
            return Replay(False, None, tuple(entry.rows), entry.value, False, (), (), (), ())
        outer, self.log = self.log, TransformLog()
        try:
            produced = self.dataset([element], "", "", "", top_level=True)
        finally:
            captured, self.log = self.log, outer
        add_to_log(outer, captured)
        effects = (
            tuple(captured.uid_pairs.items()), tuple(captured.identifiers),
            tuple(captured.unlisted), tuple(captured.actions.items()),
        )  # fmt: skip
        logs = any(effects)
        if not produced:
            return Replay(True, None, (), None, logs, *effects)
        entry = produced[0]
        output = b"".join(entry.chunks)
        return Replay(False, None if output == raw else output, tuple(entry.rows), entry.value,
                      logs, *effects)  # fmt: skip

    def rule_for(self, tag: int) -> Rule | None:
        rules = self.memo.rules
        if tag not in rules:
            rules[tag] = self.rule_set.rule_for(tag)
        return rules[tag]

    def plan(self, tag: int, vr: str) -> Plan:
        """What the walk does with elements of this tag and VR (the rule walk's order of
        tests), decided once per worker."""
        plan = self.memo.plans.get((tag, vr))
        if plan is None:
            rule = self.rule_for(tag)
            if tag == CHARSET_TAG:  # kept (stream_file checks), and only at the top level
                plan = CHARSET
            elif tag >> 16 & 1:
                plan = PRIVATE
            elif tag & 0xFFFF == 0:  # group lengths (retired, PS3.5 §7.2) would be stale
                plan = SKIP
            elif vr == "SQ":
                plan = SEQUENCE
            elif (rule is None and not self.rule_set.reviews_unlisted) or (
                rule is not None and rule.action is Action.KEEP
            ):
                plan = KEEP
            else:
                plan = CHANGE
            self.memo.plans[(tag, vr)] = plan
        return plan

    def dataset(
        self, elements: list[Element], path: str, tag_prefix: str, keyword_prefix: str,
        top_level: bool = False,
    ) -> list[Entry]:  # fmt: skip
        entries = []
        plans = self.memo.plans
        for element in elements:
            tag = element.tag
            plan = plans.get((tag, element.vr)) or self.plan(tag, element.vr)
            if plan is KEEP:
                entries.append(self.kept(element, tag_prefix, keyword_prefix, top_level))
                continue
            if plan is CHARSET:
                if not top_level:
                    raise Unsupported("character set inside a sequence item")
                entries.append(self.kept(element, tag_prefix, keyword_prefix, top_level))
                continue
            if top_level and element.vr in CHECKED_VRS:  # every top-level value, as pydicom's path
                self.check(element)
            if plan is PRIVATE:
                self.log.actions["remove private"] += 1
                continue
            if plan is SKIP:
                continue
            rule = self.rule_for(tag)
            if plan is SEQUENCE:
                entry = self.sequence(element, rule, path, tag_prefix, keyword_prefix)
            else:
                entry = self.changed(element, rule, path, tag_prefix, keyword_prefix)
            if entry is not None:
                entries.append(entry)
        return entries

    def check(self, element: Element) -> None:
        check_raw_bytes(element.tag, self.data[element.value_start : element.value_end],
                        element.vr)  # fmt: skip

    def kept(
        self, element: Element, tag_prefix: str, keyword_prefix: str, top_level: bool
    ) -> Entry:
        """An element copied as it is: its header and value as one slice of the input.
        A value seen before (same tag, VR, bytes, character set) was checked then, and
        its inventory text is known."""
        tag, vr = element.tag, element.vr
        value = known = None
        if vr in CHECKED_VRS:
            value = self.data[element.value_start : element.value_end]
            memo_key = (tag, vr, value, self.charset_key)
            known = self.memo.texts.get(memo_key)
            if known is None:
                check_raw_bytes(tag, value, vr)
                known = self.converted(element) if self.whitelist else (vr, None)
                self.memo.texts[memo_key] = known
        if element.undefined_length and tag not in PIXEL_TAGS:
            raise Unsupported("undefined length outside pixel data")
        if tag in PIXEL_TAGS and top_level:
            pixels = self.view[element.value_start : element.value_end]
            self.kept_pixels[tag] = content_hash(pixels)
        rows = []
        if self.whitelist:
            if vr == "UN":  # pydicom may convert it to its dictionary VR
                raise Unsupported("UN element kept")
            name = format_tag(tag)
            row_vr, text = (vr, None) if known is None or tag in PIXEL_TAGS else known
            rows.append((tag_prefix + name, keyword_prefix + (cached_keyword(tag) or name),
                         row_vr, text))  # fmt: skip
        chunk = self.view[element.start : element.end]
        return Entry(tag, [chunk], element.end - element.start, rows, value)

    def converted(self, element: Element) -> tuple[str, str | None]:
        """(VR, inventory text) as pydicom's conversion gives them."""
        # The VR is pydicom's: the file's, or for implicit VR the dictionary's (never
        # ambiguous for these VRs).
        text = plain_value_text(element.vr, self.data[element.value_start : element.value_end])
        if text is not None:
            return element.vr, text
        converted = convert(raw_element(self.part, self.data, element), self.encodings)
        return converted.VR, value_text(converted)

    def changed(
        self, element: Element, rule: Rule | None, path: str, tag_prefix: str, keyword_prefix: str
    ) -> Entry | None:
        """An element a rule changes or removes: RuleWalk does it, pydicom encodes it."""
        if element.undefined_length:
            raise Unsupported("undefined length value changed by a rule")
        value = self.data[element.value_start : element.value_end]
        # Everything the effect depends on: the encoding too, since it holds the header.
        memo_key = (element.tag, element.vr, value, path if rule is None else None,
                    self.charset_key, self.date_offset, self.part.implicit)  # fmt: skip
        effect = self.memo.effects.get(memo_key)
        if effect is None:  # these two are unique per file: not memoised
            effect = self.hashed_uids(element, rule, value) or self.unlisted_removed(
                element, rule, path, value
            )
        if effect is None:
            effect = self.compute_effect(element, rule, path)
            self.memo.effects[memo_key] = effect
        add_to_log(self.log, effect)
        encoded = effect.encoded
        if encoded is None:
            return None
        rows = []
        if self.whitelist:
            tag = format_tag(element.tag)
            keyword_path = keyword_prefix + (cached_keyword(element.tag) or tag)
            rows.append((tag_prefix + tag, keyword_path, effect.vr, effect.text))
        meta_value = encoded[effect.header_size :] if element.tag in META_SOURCE_TAGS else None
        return Entry(element.tag, [encoded], len(encoded), rows, meta_value)

    def hashed_uids(self, element: Element, rule: Rule | None, value: bytes) -> Effect | None:
        """`RuleWalk.apply` of hash_uid and pydicom's UI writer, for the plain case (ASCII
        UIDs, no empty or padded items); None sends anything else to `compute_effect`."""
        if rule is None or rule.action is not Action.HASH_UID or element.vr != "UI":
            return None
        if not value.isascii():
            return None
        items = value.decode("ascii").rstrip("\0 ").split("\\")
        if any(not item or item != item.strip() for item in items):
            return None
        hashed = [hash_uid(item, self.key) for item in items]
        pairs = tuple((item, new) for item, new in zip(items, hashed, strict=True) if new != item)
        text = "\\".join(hashed)
        encoded_value = (text + "\0" * (len(text) % 2)).encode("ascii")
        group, number = element.tag >> 16, element.tag & 0xFFFF
        if self.part.implicit:
            header = struct.pack("<HHI", group, number, len(encoded_value))
        else:
            header = struct.pack("<HH2sH", group, number, b"UI", len(encoded_value))
        actions = ((f"{rule.name}: {rule.action}", 1),)
        return Effect(header + encoded_value, len(header), "UI", text[:MAX_VALUE_LENGTH], pairs,
                      (), (), actions)  # fmt: skip

    def unlisted_removed(
        self, element: Element, rule: Rule | None, path: str, value: bytes
    ) -> Effect | None:
        """`RuleWalk.apply_default` queueing and removing an unlisted top-level value that
        needs no conversion for its sample: binary VRs have no sample, a plain UID's is
        its text. (The walk checked the value; an explicit file's VR is pydicom's.) None
        sends anything else to `compute_effect`."""
        vr = element.vr
        if rule is not None or path or self.part.implicit or not self.rule_set.reviews_unlisted:
            return None
        if vr not in CHECKED_VRS or vr == "UN":
            return None
        sample = None
        if vr in TEXT_VRS:
            sample = plain_uid(value) if vr == "UI" else None
            if not sample:
                return None
            sample = sample[:SAMPLE_LENGTH]
        name = format_tag(element.tag)
        keyword = cached_keyword(element.tag)
        unlisted = UnlistedAttribute(name, keyword, vr, keyword or name, sample)  # top level
        return Effect(None, 0, vr, None, (), (), (unlisted,), (("remove unlisted", 1),))

    def compute_effect(self, element: Element, rule: Rule | None, path: str) -> Effect:
        tag = BaseTag(element.tag)
        dataset = Dataset(
            {tag: convert(raw_element(self.part, self.data, element), self.encodings)}
        )
        walk = RuleWalk(self.rule_set, self.key, self.date_offset)
        if rule is None:
            walk.apply_default(dataset, tag, path)
        else:
            walk.apply(dataset, dataset[tag], rule, path)
        encoded, vr, text, header_size = None, element.vr, None, 0
        if tag in dataset:
            converted = dataset[tag]
            if converted.VR == "SQ" or len(converted.VR) != 2:
                raise Unsupported("element became a sequence or has an ambiguous VR")
            encoded = encode_element(converted, self.part.implicit, self.encodings)
            vr, text = converted.VR, value_text(converted)
            header_size = 8 if self.part.implicit or vr not in LONG_VRS else 12
        log = walk.log
        return Effect(
            encoded, header_size, vr, text, tuple(log.uid_pairs.items()), tuple(log.identifiers),
            tuple(log.unlisted), tuple(log.actions.items()),
        )  # fmt: skip

    def sequence(
        self, element: Element, rule: Rule | None, path: str, tag_prefix: str, keyword_prefix: str
    ) -> Entry | None:
        """A sequence: kept and walked item by item, or removed (other actions: Unsupported)."""
        keyword = cached_keyword(element.tag)
        name = keyword or format_tag(element.tag)
        if rule is None:
            if self.rule_set.recurses_unlisted_sequences:
                return self.walked_sequence(element, path, tag_prefix, keyword_prefix)
            if self.rule_set.reviews_unlisted:
                self.log.unlisted.append(
                    UnlistedAttribute(format_tag(element.tag), keyword, "SQ", path + name, None)
                )
                self.log.actions["remove unlisted"] += 1
            else:
                self.log.actions["remove unlisted sequence"] += 1
            return None
        if rule.action is Action.KEEP:
            return self.walked_sequence(element, path, tag_prefix, keyword_prefix)
        if rule.action is Action.REMOVE:
            self.log.actions[f"{rule.name}: {rule.action}"] += 1
            return None
        raise Unsupported("sequence changed by a rule")

    def walked_sequence(
        self, element: Element, path: str, tag_prefix: str, keyword_prefix: str
    ) -> Entry:
        tag = format_tag(element.tag)
        name = cached_keyword(element.tag) or tag
        tag_path, keyword_path = tag_prefix + tag, keyword_prefix + name
        rows: list[InventoryRow] = [(tag_path, keyword_path, "SQ", None)] if self.whitelist else []
        body: list[Any] = []
        size = 0
        for item in element.items or []:
            item_entries = self.dataset(
                item.elements, f"{path}{name}>", tag_path + ">", keyword_path + ">"
            )
            item_size = sum(entry.size for entry in item_entries)
            body.append(item_header(item, item_size))
            for entry in item_entries:
                body.extend(entry.chunks)
                rows.extend(entry.rows)
            size += 8 + item_size
            if item.undefined_length:
                body.append(ITEM_DELIMITER)
                size += 8
        length = 0xFFFFFFFF if element.undefined_length else size
        group, number = element.tag >> 16, element.tag & 0xFFFF
        if self.part.implicit:
            header = struct.pack("<HHI", group, number, length)
        else:
            header = struct.pack("<HH2sHI", group, number, SEQUENCE_VR, 0, length)
        chunks = [header, *body]
        total = len(header) + size
        if element.undefined_length:
            chunks.append(SEQUENCE_DELIMITER)
            total += 8
        return Entry(element.tag, chunks, total, rows)


def merged_log(replays: tuple[Replay, ...]) -> Replay:
    """One replay that adds to a log what `replays` add, in order."""
    actions: Counter[str] = Counter()
    for replay in replays:
        actions.update(dict(replay.actions))
    return Replay(
        True, None, (), None, True,
        tuple(chain.from_iterable(replay.uid_pairs for replay in replays)),
        tuple(chain.from_iterable(replay.identifiers for replay in replays)),
        tuple(chain.from_iterable(replay.unlisted for replay in replays)),
        tuple(actions.items()),
    )  # fmt: skip


def add_to_log(log: TransformLog, source: Effect | Replay | TransformLog) -> None:
    """Add what one element did (an effect, a replay or a captured log) to the file's log."""
    if source.uid_pairs:
        log.uid_pairs.update(source.uid_pairs)
    if source.identifiers:
        log.identifiers.update(source.identifiers)
    if source.unlisted:
        log.unlisted.extend(source.unlisted)
    actions = source.actions.items() if isinstance(source.actions, dict) else source.actions
    for action, count in actions:
        log.actions[action] += count


def item_header(item: Item, size: int) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF if item.undefined_length else size)
