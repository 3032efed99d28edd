"""Every kept value of its attribute's form: refused values are removed and queued with
a reason, the same in both walks, and never quoted."""

import dataclasses

import pydicom
import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from anon_pipeline.engine.batch import Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.layout import BatchPaths
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.rules.rule_set import RuleError, load_rule_set
from anon_pipeline.engine.rules.value_forms import Terms, refusal
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline_tests.conftest import TEST_KEY
from anon_pipeline_tests.engine.files.streaming.conftest import compare_paths

SEX = Terms(frozenset({"M", "F", "O"}))
IMAGE_TYPE = Terms(
    None, ((1, frozenset({"ORIGINAL", "DERIVED"})), (2, frozenset({"PRIMARY", "SECONDARY"})))
)


@pytest.mark.parametrize(
    ("name", "vr", "text", "terms", "refused"),
    [
        ("PatientSex", "CS", "M", SEX, False),
        ("PatientSex", "CS", "M ", SEX, False),  # padding is not part of the value
        ("PatientSex", "CS", "", SEX, False),  # Type 2, empty
        ("PatientSex", "CS", "MRK0320Q", SEX, True),
        ("PatientSex", "CS", "m", SEX, True),  # CS is upper case
        ("ImageType", "CS", "ORIGINAL\\PRIMARY\\AXIAL\\ANYTHING_ELSE", IMAGE_TYPE, False),
        ("ImageType", "CS", "DERIVED\\SECONDARY", IMAGE_TYPE, False),
        ("ImageType", "CS", "ORIGINAL\\KOWALSKI", IMAGE_TYPE, True),
        ("ImageType", "CS", "ORIGINAL\\PRIMARY\\lower case", IMAGE_TYPE, True),
        ("StudyTime", "TM", "134501.250000", None, False),
        ("StudyTime", "TM", "13:45:01", None, True),  # ACR-NEMA, not DICOM
        ("StudyTime", "TM", "MRK0587q", None, True),
        ("AcquisitionDateTime", "DT", "20240131134501.25+0100", None, False),
        ("AcquisitionDateTime", "DT", "2024-01-31", None, True),
        ("PatientAge", "AS", "045Y", None, False),
        ("PatientAge", "AS", "45 years", None, True),
        ("SliceThickness", "DS", "1.25", None, False),
        ("SliceThickness", "DS", " 1.25 ", None, False),
        ("SliceThickness", "DS", "0.12345678901234567", None, True),  # longer than 16
        ("PixelSpacing", "DS", "0.7\\0.7", None, False),
        ("InstanceNumber", "IS", "12", None, False),
        ("InstanceNumber", "IS", "1.5", None, True),
        ("StudyDate", "DA", "20241301", None, True),
        ("ReferencedSOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.2", None, False),
        ("ReferencedSOPClassUID", "UI", "1.2.abc", None, True),
        ("Manufacturer", "LO", "Ścianka Medical Sp. z o.o.", None, False),
        ("Manufacturer", "LO", "x" * 65, None, True),
        ("ConvolutionKernel", "SH", "B30f\\I40f", None, False),
        ("ConvolutionKernel", "SH", "a kernel named at length", None, True),
        ("DerivationDescription", "ST", "a\\b " * 10, None, False),  # ST: one value
        ("PixelData", "OW", "anything", None, False),  # not a text VR
        ("SpecificCharacterSet", "CS", "iso_ir 100", None, False),  # read to decode
    ],
)
def test_each_value_is_checked_against_its_form(name, vr, text, terms, refused):
    reason = refusal(name, vr, text, terms)
    assert (reason is not None) == refused, reason
    if reason is not None:
        assert name in reason
        for word in text.split("\\"):  # the value is never quoted
            assert len(word.strip()) < 4 or word.strip() not in reason.replace(name, "")


def test_a_planted_patient_sex_is_named_in_its_reason():
    assert refusal("PatientSex", "CS", "MRK0320Q", SEX) == "not a value of PatientSex"
    assert refusal("StudyTime", "TM", "MRK", None) == "not of the form of its VR (TM) in StudyTime"


def test_the_shipped_whitelist_lists_terms_only_for_what_it_keeps(whitelist):
    assert whitelist.checks_kept_values
    assert {"PatientSex", "Modality", "PatientPosition", "BodyPartExamined", "ImageType"} <= set(
        whitelist.value_terms
    )
    for name in whitelist.value_terms:
        assert whitelist.by_keyword[name].action.value == "keep", name
    assert whitelist.value_terms["PatientSex"].allows(1, "O")
    assert not whitelist.value_terms["ImageType"].allows(1, "PRIMARY")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  PatientName: [A]", "'PatientName' is not a text attribute this file keeps"),
        ("  PatientSex: [male]", "'PatientSex': 'male' is not of VR CS's form"),
        ("  PatientSex: {0: [M]}", "'PatientSex': 0 is not a position"),
    ],
)
def test_terms_that_cannot_apply_are_refused_on_load(tmp_path, entry, message):
    path = tmp_path / "whitelist.yaml"
    path.write_text(
        "rule_set: w\ndefaults: {private: remove, unlisted: review, sequence: remove}\n"
        f"value_terms:\n{entry}\n"
        "rules:\n  PatientName: pseudonymize\n  PatientSex: keep\n"
    )
    with pytest.raises(RuleError, match=message):
        load_rule_set(path)


def planted_slices(folder, count=4):
    """CT slices whose kept values are not of their form, at the top and nested."""
    folder.mkdir(parents=True)
    paths = []
    for instance in range(1, count + 1):
        dataset = make_ct_slice(fake_patient(5), "study", 1, instance)
        dataset.PatientSex = "MRK0320Q"
        dataset.BodyPartExamined = "KOWALSKI" if instance % 2 else "CHEST"
        dataset.StudyTime = "13:45:01"
        reference = Dataset()
        reference.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        reference.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.10.9.{instance}"
        frame = BaseTag(tag_for_keyword("ReferencedFrameNumber"))  # IS: longer than 12
        reference[frame] = RawDataElement(frame, "IS", 14, b"12345678901234", 0, False, True)
        dataset.ReferencedImageSequence = Sequence([reference])
        path = folder / f"IM{instance:04d}"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_both_walks_refuse_the_same_values_the_same_way(tmp_path, whitelist):
    paths = planted_slices(tmp_path / "in")
    rule_set = dataclasses.replace(whitelist, holds=frozenset(), scope=None)
    assert compare_paths(paths, rule_set, whitelist=True)  # streamed, equal to pydicom's


def test_a_refused_value_is_removed_queued_and_never_released(tmp_path, blacklist, whitelist):
    batch = tmp_path / "in" / "cd"
    planted_slices(batch)
    paths = BatchPaths(batch, tmp_path / "secure", tmp_path / "release")
    anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=2))
    rows = read_rows(paths.manifest)
    assert {row["disposition"] for row in rows} == {"anonymized"}
    queue = {(row["keyword"], row["reason"]): row for row in read_rows(paths.review_queue)}
    assert queue[("PatientSex", "not a value of PatientSex")]["files"] == 4
    assert queue[("BodyPartExamined", "not a value of BodyPartExamined")]["files"] == 2
    assert queue[("StudyTime", "not of the form of its VR (TM) in StudyTime")]["files"] == 4
    nested = queue[
        ("ReferencedFrameNumber", "not of the form of its VR (IS) in ReferencedFrameNumber")
    ]
    assert nested["paths"] == ["ReferencedImageSequence>ReferencedFrameNumber"]
    for row in rows:
        released = pydicom.dcmread(paths.release_files / row["output_name"])
        assert "PatientSex" not in released and "StudyTime" not in released
        assert released.BodyPartExamined == "CHEST" if "BodyPartExamined" in released else True
        assert "ReferencedFrameNumber" not in released.ReferencedImageSequence[0]
        raw = (paths.release_files / row["output_name"]).read_bytes()
        assert b"MRK0320Q" not in raw and b"KOWALSKI" not in raw and b"13:45:01" not in raw
