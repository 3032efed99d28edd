"""Each automated check fails on a deliberately bad output and passes on a good one."""

import shutil
from pathlib import Path

import pydicom
import pytest

from anon_pipeline.engine.batch.pipeline import Policy, StepOptions, whitelist_step
from anon_pipeline.engine.disk.tables import IDENTIFIERS, PART_SCHEMAS, read_rows, write_columns
from anon_pipeline.engine.release.verification import check_accounted, check_outputs
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, load_rule_set
from anon_pipeline_tests.conftest import process_cd


@pytest.fixture
def batch(tmp_path, patients, key):
    return process_cd(tmp_path, patients[:1], key, workers=1)


def first_output(batch):
    return batch.release_files()[0]


def rewrite(path, change, enforce_file_format=True):
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path, enforce_file_format=enforce_file_format)
    return str(path.relative_to(path.parents[2]))


def test_good_outputs_pass_every_check(batch):
    checks = check_outputs(batch.paths, workers=1)
    for findings in vars(checks).values():
        assert findings.passed and findings.checked == 6
    assert check_accounted(batch.paths).passed


def test_a_planted_private_tag_fails_only_its_check(batch):
    def plant(dataset):
        dataset.private_block(0x0009, "PLANTED", create=True).add_new(0x01, "LO", "x")

    name = rewrite(first_output(batch), plant)
    checks = check_outputs(batch.paths, workers=1)
    assert checks.private_attributes.failed == [name]
    assert checks.original_uids.passed and checks.identifying_values.passed


def test_an_original_uid_left_behind_fails(batch):
    original = pydicom.dcmread(next(batch.batch_dir.rglob("IM*"))).SOPInstanceUID

    def plant(dataset):
        dataset.ReferencedImageSequence[0].ReferencedSOPInstanceUID = original

    path = next(p for p in batch.release_files() if "ReferencedImageSequence" in pydicom.dcmread(p))
    name = rewrite(path, plant)
    assert check_outputs(batch.paths, workers=1).original_uids.failed == [name]


def test_an_identifying_value_anywhere_fails_and_names_the_attribute_not_the_value(batch):
    patient = batch.patients[0]

    def plant(dataset):
        dataset.Manufacturer = patient.name.split("^")[0]  # a kept attribute, a name from stage 1

    name = rewrite(first_output(batch), plant)
    failed = check_outputs(batch.paths, workers=1).identifying_values.failed
    assert failed == [f"{name}: PatientName in Manufacturer"]
    assert patient.name.split("^")[0] not in failed[0]


def test_an_identifying_value_in_another_character_set_fails(batch):
    """A name in ISO 2022 (escape sequences between the characters) matches none of the
    byte forms searched for; the check also reads the text pydicom decodes."""
    name = "山田太郎花子"
    rows = [*read_rows(batch.paths.identifiers), {"keyword": "PatientName", "value": name}]
    columns = {column: [row[column] for row in rows] for column in ("keyword", "value")}
    write_columns(batch.paths.identifiers, columns, PART_SCHEMAS[IDENTIFIERS])

    def plant(dataset):
        dataset.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
        dataset.ImageComments = name

    output = rewrite(first_output(batch), plant)
    data = (batch.paths.release_files / output).read_bytes()
    assert b"\x1b$B" in data and name.encode("utf-8") not in data  # escapes, not UTF-8
    failed = check_outputs(batch.paths, workers=1).identifying_values.failed
    assert failed == [f"{output}: PatientName in ImageComments"]


@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 100", "Józefiakówna"),  # Latin-1: searched for in the bytes
        ("ISO_IR 101", "Łukasiewiczówna"),  # Latin-2
        ("ISO_IR 192", "Żółkiewskiśćń"),  # UTF-8
        ("ISO_IR 144", "Достоевская"),  # Cyrillic: only in the text pydicom decodes
        ("ISO_IR 126", "Παπαδοπούλου"),  # Greek: likewise
    ],
)
def test_an_identifying_value_in_each_character_set_fails(batch, charset, name):
    rows = [*read_rows(batch.paths.identifiers), {"keyword": "PatientName", "value": name}]
    columns = {column: [row[column] for row in rows] for column in ("keyword", "value")}
    write_columns(batch.paths.identifiers, columns, PART_SCHEMAS[IDENTIFIERS])

    def plant(dataset):
        dataset.SpecificCharacterSet = charset
        dataset.ImageComments = f"seen by {name}"

    output = rewrite(first_output(batch), plant)
    failed = check_outputs(batch.paths, workers=1).identifying_values.failed
    assert failed == [f"{output}: PatientName in ImageComments"]


def test_an_original_uid_in_the_file_meta_or_among_several_values_fails(batch):
    """pydicom's walk of a dataset never shows the file meta group, and a multi-valued
    UI element's text is not any one of its UIDs: both are read value by value."""
    original = pydicom.dcmread(next(batch.batch_dir.rglob("IM*"))).SOPInstanceUID
    first, second = batch.release_files()[:2]

    def in_meta(dataset):
        dataset.file_meta.MediaStorageSOPInstanceUID = original

    def among_values(dataset):
        dataset.add_new("RelatedGeneralSOPClassUID", "UI", ["1.2.3", original])

    # As it is: pydicom would set the file meta's UID from the dataset's.
    names = sorted([rewrite(first, in_meta, False), rewrite(second, among_values)])
    assert pydicom.dcmread(first).file_meta.MediaStorageSOPInstanceUID == original
    assert check_outputs(batch.paths, workers=1).original_uids.failed == names


def test_released_files_are_read_from_their_bytes_not_by_pydicom(batch, monkeypatch):
    """The cheap way: the raw parser reads the headers of ordinary released files;
    pydicom only reads what the raw parser declines."""
    from anon_pipeline.engine.release import output_checks

    read = []
    monkeypatch.setattr(output_checks, "dcmread", lambda *a, **k: read.append(a) or 1 / 0)
    assert all(findings.passed for findings in vars(check_outputs(batch.paths, 1)).values())
    assert read == []


def test_the_raw_reading_and_pydicoms_agree(processed_cd, tmp_path):
    """Private tags, UIDs (file meta included), pixel hash and where an identifying
    value sits: the same from the element headers as from pydicom, on every released file
    of the synthetic CDs and on pydicom's own test files the raw parser takes."""
    from pydicom.data import get_testdata_file

    from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
    from anon_pipeline.engine.dicom.identifiers import IdentifierSearch
    from anon_pipeline.engine.release.output_checks import read_headers, read_with_pydicom

    # Values pydicom's own files hold (a name, a manufacturer's), so that hits are compared.
    search = IdentifierSearch([("PatientName", "CompressedSamples^CT1"), ("X", "GE MEDICAL")])
    bundled = sorted(Path(get_testdata_file("CT_small.dcm")).parent.glob("*.dcm"))
    files = [*processed_cd.release_files(), *bundled]
    raw_read = hits = 0
    for path in files:
        data = path.read_bytes()
        try:
            raw = read_headers(data, search)
        except Exception:
            continue
        raw_read += 1
        hits += raw.identifying is not None
        with quiet_pydicom():
            assert raw == read_with_pydicom(data, search), path.name
    assert raw_read >= len(processed_cd.release_files()) + 40
    assert hits >= 2


def test_changed_pixel_data_or_an_unparseable_file_fails(batch):
    def flip(dataset):
        pixels = bytearray(dataset.PixelData)
        pixels[0] ^= 0xFF
        dataset.PixelData = bytes(pixels)

    name = rewrite(first_output(batch), flip)
    (batch.release_files()[1]).write_bytes(b"not dicom")
    failed = check_outputs(batch.paths, workers=1).parse_and_pixels.failed
    assert f"{name}: pixel data differs from the input" in failed
    assert any("does not parse" in item for item in failed)


def test_a_file_outside_the_manifest_fails(batch):
    shutil.copy(first_output(batch), first_output(batch).with_name("extra.dcm"))
    failed = check_outputs(batch.paths, workers=1).parse_and_pixels.failed
    assert any("extra.dcm: not in the manifest" in item for item in failed)


def test_a_file_the_manifest_does_not_know_fails_accounting(batch):
    (batch.batch_dir / "arrived_late.dcm").write_bytes(b"x")
    findings = check_accounted(batch.paths)
    assert not findings.passed
    assert "1 files without a row" in findings.failed[0]


def test_a_released_file_changed_after_the_run_fails_even_when_it_parses(batch):
    """The approval binds the manifest's output hashes; a released file whose bytes are
    no longer those (edited later, or left by a run that stopped between its secure
    and release swaps) must fail, even with its pixels and every other check intact."""

    def edit(dataset):
        dataset.SliceThickness = "9.99"

    name = rewrite(first_output(batch), edit)
    checks = check_outputs(batch.paths, workers=1)
    assert checks.parse_and_pixels.failed == [
        f"{name}: bytes differ from those the run wrote (manifest output_hash)"
    ]
    assert checks.private_attributes.passed and checks.identifying_values.passed


def test_released_files_from_another_run_fail_against_this_runs_manifest(
    tmp_path, patients, key, blacklist
):
    """A run stopped between its two swaps leaves new released files beside the old
    secure manifest. Another rule set gives other bytes (same names and pixels), and the
    check sees it."""
    batch = process_cd(tmp_path, patients[:1], key, workers=1)
    old_manifest = batch.paths.manifest.read_bytes()
    rules = (SHIPPED_RULES_DIR / "whitelist.yaml").read_text()
    assert "  SliceThickness: keep\n" in rules
    edited = tmp_path / "whitelist.yaml"
    edited.write_text(rules.replace("  SliceThickness: keep\n", "  SliceThickness: remove\n"))
    whitelist_step(
        batch.paths, Policy(blacklist, load_rule_set(edited), key), StepOptions(workers=1)
    )
    batch.paths.manifest.write_bytes(old_manifest)  # the secure swap never happened
    failed = check_outputs(batch.paths, workers=1).parse_and_pixels.failed
    assert len(failed) == len(batch.release_files()) == 6
    assert all(item.endswith("(manifest output_hash)") for item in failed)
