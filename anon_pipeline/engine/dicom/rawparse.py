"""Element headers of a Part 10 file, parsed straight from its bytes.

The streaming path (see `streaming`) needs only where each element starts and
ends, never its value as a Python object, so this parser records offsets and
nothing else: a 512×512 slice's pixel data is one (start, end) pair. It covers
the encodings CT on CDs uses (little endian, explicit or implicit VR,
encapsulated pixel data); anything else, or anything it finds odd, raises
`Unsupported`, and the file goes the straightforward pydicom way instead.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Final

from pydicom.datadict import dictionary_has_tag, dictionary_VR, tag_for_keyword
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

UNDEFINED_LENGTH = 0xFFFFFFFF


def tag_of(keyword: str) -> int:
    """The dictionary's tag of a keyword, for module constants: a misspelt keyword fails
    at import instead of naming no element."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"not a DICOM keyword: {keyword}")
    return tag


ITEM, ITEM_END, SEQUENCE_END = map(
    tag_of, ("Item", "ItemDelimitationItem", "SequenceDelimitationItem")
)
PIXEL_DATA_TAG = tag_of("PixelData")
PIXEL_TAGS = frozenset(map(tag_of, ("PixelData", "FloatPixelData", "DoubleFloatPixelData")))
TRANSFER_SYNTAX_TAG = tag_of("TransferSyntaxUID")
GROUP_LENGTH_TAG = tag_of("FileMetaInformationGroupLength")
MEDIA_STORAGE_CLASS_TAG = tag_of("MediaStorageSOPClassUID")
PIXEL_REPRESENTATION_TAG = tag_of("PixelRepresentation")
KNOWN_VRS = frozenset(vr.value for vr in VR)
LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
VR_NAMES = {vr.encode("ascii"): vr for vr in KNOWN_VRS}
MAX_DEPTH = 16
RUN_MAX_BYTES = 16_384  # larger elements, pixel data and undefined lengths never join a run
_HEADER = struct.Struct("<HHI")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2sHI")
_LENGTH = struct.Struct("<I")
_RESERVED_LENGTH = struct.Struct("<HI")


class Unsupported(Exception):
    """The file is valid or not, but this parser will not decide: use the pydicom path."""


@dataclass(slots=True)
class Element:
    """One element's place in the buffer. `end` includes a sequence delimiter."""

    tag: int
    vr: str  # as written, or the dictionary's for implicit VR (UN when unknown)
    start: int
    value_start: int
    value_end: int
    end: int
    undefined_length: bool
    items: list[Item] | None = None
    resolved: bool = False  # an implicit file's ambiguous VR, resolved as pydicom does

    @property
    def is_private(self) -> bool:
        return bool(self.tag >> 16 & 1)


@dataclass(slots=True)
class Item:
    """One sequence item: its elements and whether it ended with a delimiter."""

    elements: list[Element]
    undefined_length: bool


# A top-level element as the file-level loop sees it: a plain tuple, read by the field
# names below (or unpacked). ~150 are made and read per file: as NamedTuples (pydicom's
# RawDataElement), these and the walk's TopEntry cost stage 1 6.6 % and stage 2 5.1 %
# more instructions per file (docs/benchmarks.md).
Span = tuple[int, str, int, int, int, bool]
SPAN_TAG: Final = 0
SPAN_VR: Final = 1  # as written, or the dictionary's (implicit VR; 'US or SS' unresolved)
SPAN_START: Final = 2
SPAN_VALUE_START: Final = 3
SPAN_END: Final = 4  # past any sequence delimiter
SPAN_UNDEFINED: Final = 5  # undefined length


# Top-level elements whose bytes equal, in one piece, those of a stretch of the previous
# file's: (index of this file's first span of it, index of the template layout's first
# span of it, number of spans), read by unpacking. A plain tuple, as Span: a NamedTuple,
# even made without its __new__ frame, cost stage 1 0.7 % more instructions per file.
Run = tuple[int, int, int]


@dataclass(slots=True)
class ElementLayout:
    """Where a parsed file's top-level elements lie, kept to parse the next file faster.
    The slices of a series repeat most elements byte for byte in long stretches between
    the few that differ (UIDs, positions), so the next file takes each stretch whole
    after a comparison of its bytes instead of parsing it element by element."""

    view: memoryview  # the file's bytes
    implicit: bool
    spans: list[Span]  # as parsed: an implicit file's ambiguous VRs unresolved
    tags: list[int]
    alone: list[int]  # indices of the spans that were parsed alone: where runs end
    stops: list[int]  # indices of the spans that never join a run

    def run_length(self, first: int, data: bytes, position: int, end: int) -> int:
        """How many spans from index `first` on have their bytes, in one piece, at
        `position` of `data` (which the elements must not pass `end`); 0 if none. The
        run is predicted to end where this layout's own run ended, then extended by
        doubling and bisection: a few comparisons of bytes per run."""
        spans, view = self.spans, self.view
        stop_index = bisect_left(self.stops, first)
        limit = (self.stops[stop_index] if stop_index < len(self.stops) else len(spans)) - first
        start = spans[first][SPAN_START]

        def same(count: int) -> bool:
            stop = spans[first + count - 1][SPAN_END]
            return position + stop - start <= end and data.startswith(view[start:stop], position)

        if limit <= 0 or not same(1):
            return 0
        good = 1
        alone_index = bisect_right(self.alone, first)
        if alone_index < len(self.alone):
            predicted = min(self.alone[alone_index] - first, limit)
            if predicted > 1 and same(predicted):
                good = predicted
        step = 1
        while good < limit:
            trial = min(good + step, limit)
            if not same(trial):
                while trial - good > 1:  # same(good), not same(trial)
                    middle = (good + trial) // 2
                    good, trial = (middle, trial) if same(middle) else (good, middle)
                break
            good, step = trial, step * 2
        return good


@dataclass(slots=True)
class Part10:
    """A parsed file: the meta group's values (raw bytes) and the dataset's top-level
    elements as spans; `element` gives any of them in full, items parsed."""

    meta: dict[int, bytes]
    transfer_syntax: UID
    implicit: bool
    spans: list[Span]
    by_tag: dict[int, Span]
    built: dict[int, Element]  # the top-level elements built so far, by start offset
    resolved: frozenset[int]  # tags whose ambiguous VR was resolved (implicit files)
    layout: ElementLayout
    runs: list[Run]  # stretches of spans equal to the template layout's (see `parse_part10`)

    def element(self, data: bytes, span: Span) -> Element:
        """The element of `span`, its sequence items parsed and checked as a full parse
        would check them (an implicit file's items must have no ambiguous VR)."""
        built = self.built.get(span[SPAN_START])
        if built is None:
            tag, vr, start, value_start, end, _ = span
            built, _ = finish_element(
                data, tag, vr, start, value_start, end - value_start, len(data), self.implicit
            )
            check_items(built, self.implicit)
            built.resolved = tag in self.resolved
            self.built[start] = built
        return built

    def value(self, data: bytes, span: Span) -> bytes:
        _, _, _, value_start, end, undefined = span
        return data[value_start : end - 8 if undefined else end]

    def view(self, data: bytes, span: Span) -> memoryview:
        """The value without a copy: a slice of bytes copies them, and a slice's pixel
        data is half a megabyte that the pixel check only looks at."""
        _, _, _, value_start, end, undefined = span
        return memoryview(data)[value_start : end - 8 if undefined else end]


def value_end(span: Span) -> int:
    _, _, _, _, end, undefined = span  # unpacked: called for most spans of every file
    return end - 8 if undefined else end


def check_items(element: Element, implicit: bool) -> None:
    if implicit and element.items:
        for item in element.items:
            if any(len(inner.vr) != 2 for inner in walk_elements(item.elements)):
                raise Unsupported("ambiguous VR inside a sequence")


@lru_cache(maxsize=8192)
def implicit_vr(tag: int) -> str:
    """The dictionary VR of an implicit-VR element ('UN' for private tags); ambiguous
    ones ('US or SS') are returned as they are, for `resolve_ambiguous_vrs`."""
    if tag >> 16 & 1:
        return "UN"
    if not dictionary_has_tag(tag):
        raise Unsupported("unknown public tag in an implicit VR file")
    return dictionary_VR(tag)


def resolve_ambiguous_vrs(data: bytes, spans: list[Span]) -> tuple[list[Span], frozenset[int]]:
    """Give top-level ambiguous VRs the VR pydicom's reader gives them (filewriter's
    correct_ambiguous_vr_element): pixel data of an implicit file is OW; 'US or SS' follows
    PixelRepresentation. Any other ambiguity, at any depth, is left to pydicom (items are
    checked as they are built: `Part10.element`)."""
    representation = None
    for tag, _, _, value_start, end, undefined in spans:
        if tag == PIXEL_REPRESENTATION_TAG and not undefined and end - value_start == 2:
            representation = int.from_bytes(data[value_start:end], "little")
    resolved_spans, resolved = [], set()
    for span in spans:
        tag, vr, start, value_start, end, undefined = span
        if len(vr) != 2:
            if tag == PIXEL_DATA_TAG and not undefined:
                vr = "OW"
            elif vr == "US or SS" and representation is not None:
                vr = "US" if representation == 0 else "SS"
            else:
                raise Unsupported("ambiguous VR in an implicit VR file")
            resolved.add(tag)
            span = (tag, vr, start, value_start, end, undefined)
        resolved_spans.append(span)
    return resolved_spans, frozenset(resolved)


def walk_elements(elements: list[Element]) -> list[Element]:
    found = []
    for element in elements:
        found.append(element)
        for item in element.items or []:
            found += walk_elements(item.elements)
    return found


@lru_cache(maxsize=64)
def supported_syntax(uid: str) -> tuple[UID, bool]:
    """(transfer syntax, is implicit) for little-endian, non-deflated syntaxes."""
    syntax = UID(uid)
    if not syntax.is_transfer_syntax or syntax.is_deflated or not syntax.is_little_endian:
        raise Unsupported("transfer syntax handled by pydicom")
    return syntax, syntax.is_implicit_VR


def read_meta(data: bytes) -> tuple[dict[int, bytes], int, UID, bool]:
    """The preamble and meta group: their values (raw bytes), where the dataset starts,
    its transfer syntax and whether its VRs are implicit."""
    if len(data) < 144 or data[128:132] != b"DICM":
        raise Unsupported("no Part 10 preamble")
    meta: dict[int, bytes] = {}
    position = 132
    while position + 8 <= len(data) and data[position : position + 2] == b"\x02\x00":
        element, position = read_explicit(data, position, len(data))
        if element.undefined_length:
            raise Unsupported("undefined length in the meta group")
        meta[element.tag] = data[element.value_start : element.value_end]
    group_length = meta.get(GROUP_LENGTH_TAG)
    if group_length is not None and (
        len(group_length) != 4 or 132 + 12 + int.from_bytes(group_length, "little") != position
    ):
        raise Unsupported("meta group length disagrees with the meta group")
    declared = meta.get(TRANSFER_SYNTAX_TAG)
    if not declared:
        raise Unsupported("no transfer syntax")
    syntax, implicit = supported_syntax(declared.decode("ascii", "replace").rstrip("\0 "))
    if implicit and position + 6 <= len(data) and data[position + 4 : position + 6].isupper():
        raise Unsupported("implicit VR declared but the dataset may be explicit")
    return meta, position, syntax, implicit


def leading_value(data: bytes, wanted: int) -> bytes | None:
    """The value of the top-level element `wanted` from a file's first bytes (enough to
    reach it), parsing only the elements before it; None when the dataset has none.
    Raises Unsupported where `parse_part10` would, or when `data` ends before it."""
    _, position, _, implicit = read_meta(data)
    end = len(data)
    while position + 8 <= end:
        group, number, length = _HEADER.unpack_from(data, position)
        tag = group << 16 | number
        if tag > wanted:
            return None
        if implicit:
            element, position = finish_element(
                data, tag, implicit_vr(tag), position, position + 8, length, end, True
            )
        else:
            element, position = read_explicit(data, position, end)
        if tag == wanted:
            return data[element.value_start : element.value_end]
    raise Unsupported("the bytes end before the element")


def parse_part10(data: bytes, lazy: bool = False, template: ElementLayout | None = None) -> Part10:
    """Parse the preamble, the meta group and every element of the dataset. `lazy`: the
    items of top-level sequences of defined length are parsed (and checked) only when
    `Part10.element` builds them: a caller that has met the same bytes before need not
    parse them again. `template`: the layout of a file parsed before; stretches of
    elements with its bytes are taken from it (`Part10.runs`), since the same bytes
    parse the same way."""
    meta, position, syntax, implicit = read_meta(data)
    built: dict[int, Element] = {}
    if template is not None and template.implicit != implicit:
        template = None
    parsed = top_level_spans(data, position, len(data), implicit, built, template)
    spans, runs, layout = parsed
    if not spans:
        raise Unsupported("no data elements")
    resolved: frozenset[int] = frozenset()
    if implicit:
        spans, resolved = resolve_ambiguous_vrs(data, spans)
    by_tag = dict(zip(layout.tags, spans, strict=True))
    part = Part10(meta, syntax, implicit, spans, by_tag, built, resolved, layout, runs)
    for element in built.values():  # undefined lengths: parsed already, to find their end
        check_items(element, implicit)
        element.resolved = element.tag in resolved
    if not lazy:
        for span in spans:
            if span[SPAN_VR] == "SQ":
                part.element(data, span)
    return part


def top_level_spans(
    data: bytes,
    position: int,
    end: int,
    implicit: bool,
    built: dict[int, Element],
    template: ElementLayout | None = None,
) -> tuple[list[Span], list[Run], ElementLayout]:
    """The dataset's top-level elements: `parse_dataset` at depth 0 without descending
    into sequences of defined length, inlined (it runs for every element of every file).
    Elements of undefined length are parsed to find their end, and kept in `built`.
    With a template, an element with the bytes of the template's element of its tag
    starts a run: the template's spans that follow with the same bytes are taken whole,
    moved to this file's offsets. Returns the spans, the runs and this file's layout."""
    spans: list[Span] = []
    runs: list[Run] = []
    alone: list[int] = []
    stops: list[int] = []
    append = spans.append
    template_tags = template.tags if template is not None else []
    previous = -1
    while position < end:
        if position + 8 > end:
            raise Unsupported("element header runs past the end")
        group, number, vr_bytes, short_length = _EXPLICIT_SHORT.unpack_from(data, position)
        tag = group << 16 | number
        if group == 0xFFFE:
            raise Unsupported("delimiter out of place")
        if tag <= previous:
            raise Unsupported("elements out of order")
        previous = tag
        if implicit:
            vr = implicit_vr(tag)
            length = _LENGTH.unpack_from(data, position + 4)[0]
            value_start = position + 8
        else:
            vr = VR_NAMES.get(vr_bytes)  # type: ignore[assignment]  # None is refused next
            if vr is None:
                raise Unsupported("unknown VR")
            if vr in LONG_VRS:
                if position + 12 > end:
                    raise Unsupported("element header runs past the end")
                reserved, length = _RESERVED_LENGTH.unpack_from(data, position + 6)
                if reserved:
                    raise Unsupported("reserved bytes set")
                value_start = position + 12
            else:
                length, value_start = short_length, position + 8
        if length == UNDEFINED_LENGTH:
            element, after = finish_element(
                data, tag, vr, position, value_start, length, end, implicit
            )
            built[position] = element
            stops.append(len(spans))
            alone.append(len(spans))
            append((tag, vr, position, value_start, after, True))
            position = after
            continue
        after = value_start + length
        if after > end:
            raise Unsupported("value runs past the end")
        if tag in PIXEL_TAGS or after - position > RUN_MAX_BYTES:
            stops.append(len(spans))
        elif template is not None:
            index = bisect_left(template_tags, tag)
            if index < len(template_tags) and template_tags[index] == tag:
                _, _, template_start, _, template_end, _ = template.spans[index]
                count = (
                    template.run_length(index, data, position, end)
                    if template_end - template_start == after - position
                    and data.startswith(template.view[template_start:template_end], position)
                    else 0
                )  # the element differs: most often one that differs in every file
                if count:
                    taken = template.spans[index : index + count]
                    shift = position - taken[0][SPAN_START]
                    runs.append((len(spans), index, count))
                    if shift:
                        spans += [
                            (t, v, s + shift, vs + shift, e + shift, u)
                            for t, v, s, vs, e, u in taken
                        ]
                    else:
                        spans += taken
                    previous = taken[-1][SPAN_TAG]
                    position = taken[-1][SPAN_END] + shift
                    continue
        alone.append(len(spans))
        append((tag, vr, position, value_start, after, False))
        position = after
    tags = list(map(itemgetter(SPAN_TAG), spans))
    return spans, runs, ElementLayout(memoryview(data), implicit, spans, tags, alone, stops)


def read_explicit(data: bytes, position: int, end: int, depth: int = 0) -> tuple[Element, int]:
    """One explicit-VR little-endian element header; (element, position after its value)."""
    if position + 8 > end:
        raise Unsupported("element header runs past the end")
    group, number, vr_bytes, short_length = _EXPLICIT_SHORT.unpack_from(data, position)
    vr = vr_bytes.decode("latin-1")
    if vr not in KNOWN_VRS:
        raise Unsupported("unknown VR")
    if vr in LONG_VRS:
        if position + 12 > end:
            raise Unsupported("element header runs past the end")
        _, _, _, reserved, length = _EXPLICIT_LONG.unpack_from(data, position)
        if reserved:
            raise Unsupported("reserved bytes set")
        value_start = position + 12
    else:
        length, value_start = short_length, position + 8
    tag = group << 16 | number
    return finish_element(data, tag, vr, position, value_start, length, end, False, depth)


def finish_element(
    data: bytes,
    tag: int,
    vr: str,
    start: int,
    value_start: int,
    length: int,
    end: int,
    implicit: bool,
    depth: int = 0,
) -> tuple[Element, int]:
    """Find where an element's value ends; parse the items of sequences."""
    if length != UNDEFINED_LENGTH:
        value_end = value_start + length
        if value_end > end:
            raise Unsupported("value runs past the end")
        items = None
        if vr == "SQ":
            items = parse_defined_items(data, value_start, value_end, implicit, depth)
        return Element(tag, vr, start, value_start, value_end, value_end, False, items), value_end
    if vr == "SQ" or (implicit and tag >> 16 & 1 and vr == "UN"):
        items, value_end = parse_undefined_items(data, value_start, end, implicit, depth)
        return Element(
            tag,
            "SQ" if vr == "SQ" else vr,
            start,
            value_start,
            value_end,
            value_end + 8,
            True,
            items,
        ), value_end + 8
    if tag in PIXEL_TAGS and vr in ("OB", "OW"):
        value_end = skip_fragments(data, value_start, end)
        return Element(tag, vr, start, value_start, value_end, value_end + 8, True), value_end + 8
    raise Unsupported("undefined length outside sequences and pixel data")


def parse_dataset(
    data: bytes, position: int, end: int, implicit: bool, depth: int, until_delimiter: bool
) -> tuple[list[Element], int]:
    """Elements from `position` to `end` (or to an item delimiter); tags must ascend."""
    if depth > MAX_DEPTH:
        raise Unsupported("sequences nested too deep")
    elements: list[Element] = []
    previous = -1
    while position < end:
        if position + 8 > end:
            raise Unsupported("element header runs past the end")
        group, number, length = _HEADER.unpack_from(data, position)
        tag = group << 16 | number
        if group == 0xFFFE:
            if until_delimiter and tag == ITEM_END and length == 0:
                return elements, position
            raise Unsupported("delimiter out of place")
        if tag <= previous:
            raise Unsupported("elements out of order")
        previous = tag
        if implicit:
            element, position = finish_element(
                data, tag, implicit_vr(tag), position, position + 8, length, end, True, depth
            )
        else:
            element, position = read_explicit(data, position, end, depth)
        elements.append(element)
    if until_delimiter:
        raise Unsupported("item without its delimiter")
    return elements, position


def parse_defined_items(
    data: bytes, position: int, end: int, implicit: bool, depth: int
) -> list[Item]:
    items = []
    while position < end:
        item, position = parse_item(data, position, end, implicit, depth)
        items.append(item)
    if position != end:
        raise Unsupported("items overrun their sequence")
    return items


def parse_undefined_items(
    data: bytes, position: int, end: int, implicit: bool, depth: int
) -> tuple[list[Item], int]:
    """Items up to the sequence delimiter; returns them and the delimiter's position."""
    items: list[Item] = []
    while True:
        if position + 8 > end:
            raise Unsupported("sequence without its delimiter")
        group, number, length = _HEADER.unpack_from(data, position)
        if (group << 16 | number) == SEQUENCE_END:
            if length:
                raise Unsupported("sequence delimiter with a length")
            return items, position
        item, position = parse_item(data, position, end, implicit, depth)
        items.append(item)


def parse_item(
    data: bytes, position: int, end: int, implicit: bool, depth: int
) -> tuple[Item, int]:
    if position + 8 > end:
        raise Unsupported("item header runs past the end")
    group, number, length = _HEADER.unpack_from(data, position)
    if (group << 16 | number) != ITEM:
        raise Unsupported("not an item")
    content = position + 8
    if length == UNDEFINED_LENGTH:
        elements, delimiter = parse_dataset(data, content, end, implicit, depth + 1, True)
        return Item(elements, True), delimiter + 8
    if content + length > end:
        raise Unsupported("item runs past the end")
    elements, _ = parse_dataset(data, content, content + length, implicit, depth + 1, False)
    return Item(elements, False), content + length


def skip_fragments(data: bytes, position: int, end: int) -> int:
    """Walk encapsulated pixel data's items; return the sequence delimiter's position."""
    first = True
    while True:
        if position + 8 > end:
            raise Unsupported("encapsulated pixel data without its delimiter")
        group, number, length = _HEADER.unpack_from(data, position)
        tag = group << 16 | number
        if tag == SEQUENCE_END and not first:
            if length:
                raise Unsupported("sequence delimiter with a length")
            return position
        if tag != ITEM or length == UNDEFINED_LENGTH:
            raise Unsupported("encapsulated pixel data is not a list of items")
        position += 8 + length
        first = False
