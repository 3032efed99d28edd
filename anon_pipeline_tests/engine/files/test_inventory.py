"""The attribute-value inventory holds exactly the released text, for every VR: what a
reviewer reads and queries is what the released files say."""

import pydicom
import pytest
from pydicom.charset import convert_encodings, decode_bytes

from anon_pipeline.engine.disk.tables import read_rows, write_inventory
from anon_pipeline.engine.files.scan import scan_batch
from anon_pipeline.engine.files.stage import Stage, StageJob, run_stage
from anon_pipeline.engine.rules.rule_set import load_rule_set
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline_tests.conftest import TEST_KEY

KEPT = {
    "PatientName": "Wąsik^Jędrzej^^Dr=Wasik^Jedrzej",  # component groups, as written
    "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
    "PixelSpacing": ["0.70", "0.7"],  # numbers as written, not as floats
    "SliceThickness": "1.250",
    "StudyDate": "20240315",
    "InstitutionName": "Szpital Łódź nr 2",
    "SeriesNumber": "07",
}
RULES = """rule_set: inventory-test
defaults: {private: remove, unlisted: review, sequence: remove}
rules:
  SpecificCharacterSet: keep
  SOPClassUID: hash_uid
  SOPInstanceUID: hash_uid
  StudyInstanceUID: hash_uid
  SeriesInstanceUID: hash_uid
  PixelData: keep
""" + "".join(f"  {keyword}: keep\n" for keyword in KEPT)


def raw_text(dataset: pydicom.Dataset, keyword: str) -> str:
    """An element's bytes in the file, decoded with the file's character set, padding
    stripped: the text as written, independent of how pydicom converts values."""
    raw = dataset.get_item(keyword)
    charsets = dataset.get_item("SpecificCharacterSet").value  # converted on reading
    encodings = convert_encodings([charsets] if isinstance(charsets, str) else list(charsets))
    return decode_bytes(raw.value, encodings, set()).rstrip(" \0")


@pytest.mark.parametrize("charset", ["ISO_IR 101", "ISO_IR 192"])
@pytest.mark.parametrize("streaming", [True, False])
def test_inventory_values_are_the_released_text(tmp_path, charset, streaming):
    source = tmp_path / "in"
    source.mkdir()
    dataset = make_ct_slice(fake_patient(71), "inventory", 1, 1)
    dataset.SpecificCharacterSet = charset
    for keyword, value in KEPT.items():
        setattr(dataset, keyword, value)
    dataset.save_as(source / "IM1", enforce_file_format=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    rule_set = load_rule_set(tmp_path / "rules.yaml")
    _, outcomes = run_stage(
        StageJob(
            Stage.WHITELIST,
            rule_set,
            TEST_KEY,
            source,
            tmp_path / "out",
            tmp_path / "work",
            streaming=streaming,
        ),
        scan_batch(source, workers=1),
        1,
    )
    assert str(outcomes[0].disposition) == "anonymized"
    assert outcomes[0].engine == ("streaming" if streaming else "pydicom")
    write_inventory(tmp_path / "work", tmp_path / "inventory.parquet")
    inventory = {
        row["keyword_path"]: row["value"] for row in read_rows(tmp_path / "inventory.parquet")
    }
    released = pydicom.dcmread(tmp_path / "out" / outcomes[0].output_name)
    for keyword in KEPT:
        assert inventory[keyword] == raw_text(released, keyword), keyword
    assert inventory["PatientName"] == KEPT["PatientName"]
    assert inventory["PixelSpacing"] == "0.70\\0.7"
    assert inventory["ImageType"] == "ORIGINAL\\PRIMARY\\AXIAL"
