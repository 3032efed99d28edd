"""What the streaming path reads itself (scan facts, plain UIDs and values) reads as
pydicom reads it, or is left to pydicom."""

import pytest
from pydicom.values import convert_UI

from anon_pipeline.engine.dicom.dicomfile import parse_dicom, pixel_data_hash, quiet_pydicom
from anon_pipeline.engine.files.streaming import classify_bytes, plain_uid
from anon_pipeline.engine.files.streaming import facts as streaming_facts
from anon_pipeline_tests.engine.files.streaming.conftest import files_in


@pytest.mark.parametrize("corpus", ["hostile", "cd", "pydicom"])
def test_scan_facts_equal_pydicoms(corpora, corpus):
    handled = 0
    for path in files_in(corpora / corpus):
        data = path.read_bytes()
        with quiet_pydicom():
            try:
                fast = classify_bytes(data)
            except Exception:
                continue
            parsed = parse_dicom(data)
        assert fast.kind == parsed.kind, path.name
        uid = str(parsed.dataset.get("SOPInstanceUID", "") or "") or None
        assert fast.sop_instance_uid == uid, path.name
        assert fast.pixel_hash == pixel_data_hash(parsed.dataset), path.name
        handled += 1
    assert handled >= 3


@pytest.mark.parametrize(
    "value",
    [
        b"1.2.840.113619.2.55",
        b"1.2.3\0",
        b"1.2.3 ",
        b" 1.2.3",
        b"1.2\\3.4",
        b"",
        b"\0",
        b"1.2.\xe93",
        b"1.2 3",
    ],
)
def test_a_plain_uid_reads_as_pydicom_reads_it(value):
    """The identity facts skip pydicom for plain UIDs: same text, or left to pydicom."""
    plain = plain_uid(value)
    if plain is not None:
        assert plain == str(convert_UI(value, True) or "")
    assert (plain is None) == (value in (b" 1.2.3", b"1.2\\3.4", b"1.2.\xe93", b"1.2 3"))


# Values the fast path reads itself (same text as pydicom's), and values it leaves to
# pydicom, by VR.
PLAIN_VALUES = {
    "DS": [
        b"1.25",
        b"-123.25\\-170.5\\-600.125 ",
        b"007.50",
        b"1.",
        b".5",
        b"+1.5",
        b"1E3",
        b"-2.5e-02",
        b"0",
        b"\\".join([b"-1.25"] * 300),
    ],
    "IS": [b"42", b"-7", b"+5", b"007", b"1\\2\\3 ", b"4 "],
    "TM": [b"101600", b"1016", b"10", b"101600.123456", b"101600 ", b"1016\\1017"],
    "DA": [b"20240315", b"20240315\\20240316"],
}


LEFT_TO_PYDICOM = {
    "DS": [b"1.2345678901234567", b" 1.5", b"1.5  ", b"1\\\\2", b"", b"NaN", b"1,5", b"1.5\0"],
    "IS": [b"1.0", b"99999999999", b" 4", b""],
    "TM": [b"101600.1234567", b"10:16:00"],
    "DA": [b"2024-03-15", b"2024031"],
}


@pytest.mark.parametrize(
    ("vr", "value", "plain"),
    [(vr, value, True) for vr, values in PLAIN_VALUES.items() for value in values]
    + [(vr, value, False) for vr, values in LEFT_TO_PYDICOM.items() for value in values],
)
def test_a_plain_value_reads_as_pydicom_reads_it(vr, value, plain):
    """Inventory texts of DS, IS, TM and DA skip pydicom for plain values: same text as
    pydicom's conversion, or left to pydicom."""
    from pydicom.dataelem import RawDataElement, convert_raw_data_element
    from pydicom.tag import BaseTag

    from anon_pipeline.engine.files.inventory import value_text

    text = streaming_facts.plain_value_text(vr, value)
    if text is not None:
        raw = RawDataElement(BaseTag(0x00200032), vr, len(value), value, 0, False, True)
        with quiet_pydicom():
            assert text == value_text(convert_raw_data_element(raw))
    assert (text is not None) == plain


def test_plain_values_go_to_pydicom_when_it_is_set_to_convert_them(monkeypatch):
    """The plain texts were checked against pydicom's defaults; set otherwise, pydicom
    converts every value itself."""
    from pydicom import config

    assert streaming_facts.plain_value_text("DS", b"1.25") == "1.25"
    monkeypatch.setattr(config, "use_DS_decimal", True)
    assert streaming_facts.plain_value_text("DS", b"1.25") is None
    monkeypatch.setattr(config, "use_DS_decimal", False)
    monkeypatch.setattr(config, "datetime_conversion", True)
    assert streaming_facts.plain_value_text("TM", b"101600") is None
