"""What a file's pixels mean (encoding, geometry, rescale), read from its bytes: both
readers agree, padding and other attributes do not count, a change is named by
keyword path and never by value."""

import io

import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from anon_pipeline.engine.dicom.pixel_meaning import (
    changes,
    dataset_entries,
    describe,
    entries_of,
    fingerprint_of,
    raw_entries,
)
from anon_pipeline.engine.dicom.rawparse import parse_part10
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice


def encoded(syntax: str = ExplicitVRLittleEndian, **attributes) -> bytes:
    """A synthetic CT slice's bytes, with `attributes` set before it is written."""
    dataset = make_ct_slice(fake_patient(5), "meaning", 1, 2)
    dataset.file_meta.TransferSyntaxUID = syntax
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_the_raw_reading_and_pydicoms_agree(syntax):
    data = encoded(syntax)
    raw = raw_entries(parse_part10(data), data)
    assert raw == dataset_entries(pydicom.dcmread(io.BytesIO(data)))
    keywords = {where for where, _ in raw}
    assert {"TransferSyntaxUID", "Rows", "Columns", "PixelSpacing", "RescaleSlope"} <= keywords
    assert "PatientName" not in keywords


def test_a_file_the_raw_parser_declines_is_read_by_pydicom():
    data = encoded(ExplicitVRBigEndian)
    with pytest.raises(Exception):  # noqa: B017 (the raw parser's refusal, whatever its type)
        parse_part10(data)
    assert dict(entries_of(data))["TransferSyntaxUID"] == ExplicitVRBigEndian.encode()


def test_attributes_that_do_not_place_pixels_do_not_count():
    plain = fingerprint_of(encoded())
    assert plain == fingerprint_of(encoded(PatientName="Nowak^Anna", StudyDescription="other"))


def test_padding_does_not_count():
    """'1 ' and '1   ' are the same slope: a writer that pads otherwise changes nothing;
    another number is a change."""
    plain = encoded(RescaleSlope="1")
    slope = b"\x28\x00\x53\x10DS\x02\x001 "  # (0028,1053) RescaleSlope, as pydicom wrote it
    assert plain.count(slope) == 1
    padded = plain.replace(slope, b"\x28\x00\x53\x10DS\x04\x001   ")
    assert fingerprint_of(plain) == fingerprint_of(padded)
    assert changes(entries_of(padded), entries_of(encoded(RescaleSlope="1.0"))) == [
        "changed RescaleSlope"
    ]


@pytest.mark.parametrize(
    ("attributes", "change"),
    [
        ({"PixelSpacing": [0.5, 0.5]}, "changed PixelSpacing"),
        ({"ImagePositionPatient": [0, 0, 0]}, "changed ImagePositionPatient"),
        ({"BitsStored": 16}, "changed BitsStored"),
    ],
)
def test_a_change_that_moves_or_rescales_pixels_is_named(attributes, change):
    before, after = entries_of(encoded()), entries_of(encoded(**attributes))
    assert changes(before, after) == [change]
    assert fingerprint_of(encoded()) != fingerprint_of(encoded(**attributes))


def test_another_encoding_is_a_change_too():
    before = entries_of(encoded(ExplicitVRLittleEndian))
    after = entries_of(encoded(ImplicitVRLittleEndian))
    assert changes(before, after) == ["changed TransferSyntaxUID"]


def test_the_description_names_a_few_paths_and_counts_the_rest():
    found = [f"lost Attribute{n}" for n in range(5)]
    assert describe(found) == "lost Attribute0; lost Attribute1; lost Attribute2; and 2 more"
    assert describe(found[:2]) == "lost Attribute0; lost Attribute1"


def test_a_change_is_named_never_quoted():
    before = entries_of(encoded(ImageComments="Kowalski", PixelSpacing=[0.7, 0.7]))
    after = entries_of(encoded(PixelSpacing=[0.71, 0.71]))
    assert all("0.7" not in line and "Kowalski" not in line for line in changes(before, after))
