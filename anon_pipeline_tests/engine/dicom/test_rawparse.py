"""Runs: a file parsed against the previous file's layout must give exactly the spans a
parse from scratch gives, whatever differs and wherever."""

import struct
from pathlib import Path

import pydicom
import pytest

from anon_pipeline.engine.dicom.rawparse import Unsupported, top_level_spans

ELEMENTS = 40


def explicit_elements(values: list[bytes], left_out: int | None = None) -> bytes:
    """Explicit VR little-endian LO elements (0009,1000), (0009,1001), ... in tag order."""
    chunks = []
    for number, value in enumerate(values):
        if number == left_out:
            continue
        value += b" " * (len(value) % 2)
        chunks.append(struct.pack("<HH2sH", 0x0009, 0x1000 + number, b"LO", len(value)) + value)
    return b"".join(chunks)


def parsed(data: bytes, template=None):
    return top_level_spans(data, 0, len(data), False, {}, template)


def values_of(changed: dict[int, bytes] | None = None) -> list[bytes]:
    values = [b"v%02d" % number + b"x" * (number % 3) for number in range(ELEMENTS)]
    for number, value in (changed or {}).items():
        values[number] = value
    return values


@pytest.fixture(scope="module")
def layout():
    """The layout of a file parsed against one that differed at every tenth element, so
    that its runs are predicted to end there."""
    every_tenth = {number: b"w%02d" % number for number in range(0, ELEMENTS, 10)}
    _, _, first = parsed(explicit_elements(values_of(every_tenth)))
    _, runs, layout = parsed(explicit_elements(values_of()), first)
    assert layout.alone == list(range(0, ELEMENTS, 10))
    assert sum(count for _, _, count in runs) == ELEMENTS - 4
    return layout


@pytest.mark.parametrize("length_changes", [False, True])
@pytest.mark.parametrize("changed", range(ELEMENTS))
def test_one_different_element_anywhere_ends_a_run_there(layout, changed, length_changes):
    value = b"Z" * (len(values_of()[changed]) + (4 if length_changes else 0))
    data = explicit_elements(values_of({changed: value}))
    spans, runs, _ = parsed(data, layout)
    assert spans == parsed(data)[0]  # what a parse from scratch gives
    covered = [index for first, _, count in runs for index in range(first, first + count)]
    assert covered == [index for index in range(ELEMENTS) if index != changed]
    assert all(first == template_first for first, template_first, _ in runs)


def test_an_element_left_out_or_added_shifts_the_runs(layout):
    values = values_of()
    left_out = explicit_elements(values, left_out=7)
    spans, runs, _ = parsed(left_out, layout)
    assert spans == parsed(left_out)[0]
    assert (7, 8, ELEMENTS - 8) in runs  # the rest of the file, one element earlier
    extra = explicit_elements(values) + struct.pack("<HH2sH", 0x0009, 0x2000, b"LO", 2) + b"ab"
    spans, runs, _ = parsed(extra, layout)
    assert spans == parsed(extra)[0]
    assert sum(count for _, _, count in runs) == ELEMENTS


def test_no_run_passes_the_end_of_a_shorter_file(layout):
    whole = explicit_elements(values_of())
    cut = whole[: len(whole) - 2]  # the last element's value runs past the end
    with pytest.raises(Exception, match="past the end"):
        parsed(cut, layout)


def test_a_leading_value_is_found_in_a_files_first_bytes_or_said_absent():
    from pydicom.data import get_testdata_file

    from anon_pipeline.engine.dicom.rawparse import leading_value

    for name in ("CT_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm"):
        data = Path(get_testdata_file(name)).read_bytes()
        dataset = pydicom.dcmread(get_testdata_file(name))
        for keyword in ("InstanceNumber", "SOPInstanceUID", "PatientName", "AccessionNumber"):
            tag = int(pydicom.tag.Tag(keyword))
            expected = dataset[keyword].value if keyword in dataset else None
            value = leading_value(data, tag)
            if expected is None:
                assert value is None, (name, keyword)
            else:
                assert value.rstrip(b"\0 ").decode() == str(expected).rstrip("\0 "), (name, keyword)
    with pytest.raises(Unsupported):  # cut before the element: never a wrong answer
        leading_value(data[:400], int(pydicom.tag.Tag("PixelData")))
