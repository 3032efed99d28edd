"""Strict reading: what pydicom would accept but a privacy pipeline must not copy."""

import io
import struct
from pathlib import Path

import pytest
from pydicom import dcmwrite
from pydicom.data import get_testdata_file

from anon_pipeline.engine.dicom.dicomfile import (
    DicomFileError,
    encode_dicom,
    parse_dicom,
    quiet_pydicom,
)
from anon_pipeline.engine.rules.transform import apply_rules
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline_tests.conftest import write_dataset


@pytest.fixture
def slice_bytes(tmp_path) -> bytes:
    return write_dataset(tmp_path / "IM1", make_ct_slice(fake_patient(1), "s", 1, 1)).read_bytes()


def header_offset(data: bytes, group: int, element: int, vr: bytes) -> int:
    return data.index(struct.pack("<HH", group, element) + vr)


def test_a_good_file_parses(slice_bytes):
    assert parse_dicom(slice_bytes).kind == "image"


def test_a_length_that_swallows_the_next_elements_is_corrupt(slice_bytes):
    # PixelRepresentation (US, VM 1) claiming 158 bytes would carry the following
    # elements, the private block with the patient's name among them, into a kept value.
    at = header_offset(slice_bytes, 0x0028, 0x0103, b"US")
    damaged = slice_bytes[: at + 6] + struct.pack("<H", 158) + slice_bytes[at + 8 :]
    with pytest.raises(
        DicomFileError, match=r"\(0028,0103\) has a length that VR US does not allow"
    ):
        parse_dicom(damaged)


def test_control_bytes_in_a_text_value_are_corrupt(slice_bytes):
    at = header_offset(slice_bytes, 0x0008, 0x0070, b"LO")  # Manufacturer "ACME"
    damaged = slice_bytes[: at + 8] + b"AC\x00E" + slice_bytes[at + 12 :]
    with pytest.raises(DicomFileError, match="VR LO does not allow"):
        parse_dicom(damaged)


def test_letters_in_a_decimal_string_are_corrupt(slice_bytes):
    at = header_offset(slice_bytes, 0x0018, 0x0050, b"DS")  # SliceThickness "1.25"
    damaged = slice_bytes[: at + 8] + b"Kowa" + slice_bytes[at + 12 :]
    with pytest.raises(DicomFileError, match="VR DS does not allow"):
        parse_dicom(damaged)


def test_an_unknown_vr_is_corrupt(slice_bytes):
    at = header_offset(slice_bytes, 0x0008, 0x0070, b"LO")
    damaged = slice_bytes[: at + 4] + b"Q\xcb" + slice_bytes[at + 6 :]
    with pytest.raises(DicomFileError, match="invalid VR"):
        parse_dicom(damaged)


# pydicom's bundled files, one per transfer syntax family (no patient data).
BUNDLED = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR little endian
    "MR_small_bigendian.dcm",  # explicit VR big endian (retired)
    "MR_small_RLE.dcm",  # RLE lossless, encapsulated
    "JPEG2000.dcm",  # JPEG 2000, encapsulated
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "image_dfl.dcm",  # deflated explicit VR little endian
]


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("stage", ["blacklist", "whitelist"])
def test_fast_writer_equals_pydicoms_writer_byte_for_byte(name, stage, blacklist, whitelist, key):
    """The raw-copy writer is an optimisation only: it must write what pydicom writes."""
    data = Path(get_testdata_file(name)).read_bytes()
    with quiet_pydicom():
        parsed = parse_dicom(data)
        apply_rules(parsed.dataset, blacklist if stage == "blacklist" else whitelist, key)
        fast = encode_dicom(parsed.dataset, parsed.transfer_syntax)
        reference = io.BytesIO()
        dcmwrite(reference, parsed.dataset, enforce_file_format=True)
    assert fast == reference.getvalue()
    with quiet_pydicom():
        assert parse_dicom(fast).dataset.PixelData == parse_dicom(data).dataset.PixelData
