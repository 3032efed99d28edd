"""The identifying-value search: where it looks, what it matches, and what it must not
mistake for a leak (a Study ID's digits inside a hashed UID, a date inside pixels)."""

import io

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.sequence import Sequence

from anon_pipeline.engine.dicom.identifiers import (
    IdentifierSearch,
    Kind,
    fold,
    kind_of,
    patterns_of,
    search_file,
)
from anon_pipeline.engine.release.output_checks import read_headers, read_with_pydicom
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline.synthetic.leak_trials import run_trials

STUDY_ID = "9444"
BIRTH_DATE = "19650312"
IDENTIFIERS = [
    ("PatientName", "Żółć^Łukasz"),
    ("PatientName", "Lis^Ewa"),
    ("OtherPatientNames", "Nowak^Anna"),
    ("PatientID", "65031212345"),
    ("StudyID", STUDY_ID),
    ("PatientBirthDate", BIRTH_DATE),
    ("SeriesDescription", "CHEST"),
]
SEARCH = IdentifierSearch(IDENTIFIERS)


def released_slice(**changes) -> Dataset:
    """A clean released-looking slice: hashed UIDs, no identifiers in its text."""
    dataset = make_ct_slice(fake_patient(3), "s", 1, 1, rows=8, columns=8)
    for keyword in ("PatientName", "PatientID", "StudyID", "AccessionNumber", "PatientBirthDate"):
        dataset.pop(keyword, None)
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    return dataset


def as_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def found(dataset: Dataset) -> str | None:
    """The hit as both readers report it (they must agree)."""
    data = as_bytes(dataset)
    hit = search_file(SEARCH, data)
    try:
        raw = read_headers(data, SEARCH).identifying
    except Exception:
        raw = hit
    assert raw == hit == read_with_pydicom(data, SEARCH).identifying
    return None if hit is None else str(hit)


def test_a_study_ids_digits_inside_a_hashed_uid_are_no_leak():
    uid = f"2.25.26927{STUDY_ID}4946123456789012345678901234"
    dataset = released_slice(SOPInstanceUID=uid, SeriesInstanceUID=uid + "1")
    dataset.file_meta.MediaStorageSOPInstanceUID = uid
    assert found(dataset) is None


def test_a_dates_digits_inside_native_pixels_are_no_leak():
    dataset = released_slice()
    pixels = bytearray(dataset.PixelData)
    pixels[10:18] = BIRTH_DATE.encode()
    pixels[30:34] = STUDY_ID.encode()
    dataset.PixelData = bytes(pixels)
    assert found(dataset) is None


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("InstanceNumber", STUDY_ID),  # a count is not a Study ID
        ("SliceThickness", f"0.{STUDY_ID}"),  # nor a decimal's fraction
        ("SoftwareVersions", f"V{STUDY_ID}B"),  # nor part of a token
        ("ImageType", ["ORIGINAL", "PRIMARY", "AXIAL"]),
        ("BodyPartExamined", "CHEST"),  # a removed description's word
        ("Manufacturer", "Joanna Medical"),  # "Anna" is not a token of it
        ("ContentDate", "20240312"),
    ],
)
def test_kept_values_that_only_look_alike_are_no_leak(keyword, value):
    assert found(released_slice(**{keyword: value})) is None


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("AcquisitionComments", "pacjent Anna Nowak niespokojny", "OtherPatientNames"),
        ("AcquisitionComments", "LUKASZ ZOLC", "PatientName"),  # folded: case, diacritics
        ("AcquisitionComments", "zlecił dr X dla Łukasza", "PatientName"),  # declension
        ("AcquisitionComments", "Ewa Lis, ur. 12.03.1965", "PatientName"),  # PN forms
        ("AcquisitionComments", "ur. 12.03.1965", "PatientBirthDate"),
        ("AcquisitionComments", f"badanie nr {STUDY_ID}.", "StudyID"),
        ("ContentDate", BIRTH_DATE, "PatientBirthDate"),
        ("AcquisitionDateTime", BIRTH_DATE + "101500", "PatientBirthDate"),
        ("InstanceNumber", "65031212345", "PatientID"),  # a PESEL-long number anywhere
        ("Manufacturer", "Nowak", "OtherPatientNames"),
    ],
)
def test_a_planted_identifier_is_found_and_named_by_its_place(keyword, value, expected):
    dataset = released_slice(SpecificCharacterSet="ISO_IR 101", **{keyword: value})  # Latin-2
    assert found(dataset) == f"{expected} in {keyword}"


def test_a_nested_identifier_is_named_by_its_keyword_path():
    item = Dataset()
    item.ScheduledProcedureStepDescription = "TK dla Anna Nowak"
    dataset = released_slice(RequestAttributesSequence=Sequence([Dataset(), item]))
    assert found(dataset) == (
        "OtherPatientNames in RequestAttributesSequence[2]>ScheduledProcedureStepDescription"
    )


def test_the_file_meta_group_is_searched():
    dataset = released_slice()
    dataset.file_meta.SourceApplicationEntityTitle = "NOWAK ANNA"
    hit = search_file(SEARCH, as_bytes(dataset))
    assert str(hit) == "OtherPatientNames in FileMetaInformation>SourceApplicationEntityTitle"


def with_frame_text(name: str, insert) -> Dataset:
    dataset = pydicom.dcmread(get_testdata_file(name))
    frames = list(
        generate_frames(dataset.PixelData, number_of_frames=dataset.get("NumberOfFrames", 1))
    )
    dataset.PixelData = encapsulate([insert(frames[0]), *frames[1:]])
    for keyword in ("PatientName", "PatientID", "OtherPatientIDs"):
        dataset.pop(keyword, None)
    return dataset


def test_a_surname_in_a_jpeg_comment_is_found():
    def add_comment(frame: bytes) -> bytes:
        comment = b"Nowak Anna"
        return frame[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + frame[2:]

    dataset = with_frame_text("JPEG-lossy.dcm", add_comment)
    assert found(dataset) == "OtherPatientNames in PixelData>fragment[1]>COM"
    clean = with_frame_text("JPEG-lossy.dcm", lambda frame: frame)
    assert found(clean) is None


def test_a_surname_in_a_jpeg_2000_comment_is_found():
    def add_comment(frame: bytes) -> bytes:
        siz_end = 4 + int.from_bytes(frame[4:6], "big")
        comment = b"\x00\x01" + "Żółć".encode()
        segment = b"\xff\x64" + (len(comment) + 2).to_bytes(2, "big") + comment
        return frame[:siz_end] + segment + frame[siz_end:]

    dataset = with_frame_text("JPEG2000.dcm", add_comment)
    assert found(dataset) == "PatientName in PixelData>fragment[1]>COM"


def test_forms_are_folded_and_kinds_follow_the_value():
    assert fold("Żółć Łukasz") == "zolc lukasz"
    assert kind_of(BIRTH_DATE) is Kind.DATE
    assert kind_of("99999999") is Kind.NUMBER  # not a date
    assert kind_of("Nowak") is Kind.WORD
    forms = {pattern.form for pattern in patterns_of([("PatientName", "Lis^Ewa")])}
    assert forms == {b"lis^ewa", b"ewa lis", b"lis ewa", b"lis, ewa"}  # "Ewa", "Lis": too short
    assert not patterns_of([("StudyDescription", "CT for Kowalski")])  # free text: not a value


def test_no_false_alarm_and_no_miss_over_200_realistic_batches(blacklist, whitelist):
    """Each batch with its own key through both stages: Study IDs of 1 to 6 digits, short
    names, PESELs, dates, 8- and 16-bit pixels holding the identifiers' digits. The old
    search over a file's bytes would have failed hundreds of these clean files."""
    tally = run_trials(200, 3, blacklist, whitelist, seed=25)
    assert tally.clean_files == 600 and tally.false_alarms == []
    assert tally.byte_search_alarms > 100  # the hazard is there: digits in UIDs and pixels
    assert sum(tally.planted.values()) == 200 and tally.misses == []
    assert len(tally.planted) == 10  # every kind of planted leak was tried
