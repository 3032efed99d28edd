"""The marks a processed file carries (PS3.15 E.1.1): stage 1 marks only that it
blacklisted the file, stage 2 declares the whole de-identification; a marked file is
recognised, so nothing is blacklisted twice."""

from pydicom.dataset import Dataset
from pydicom.valuerep import MAX_VALUE_LEN

from anon_pipeline import __version__
from anon_pipeline.engine.rules.deidentification import mark_deidentified, processed_before


def test_stage_one_marks_only_the_method(blacklist):
    dataset = Dataset()
    mark_deidentified(dataset, blacklist, complete=False)
    assert dataset.DeidentificationMethod.startswith(f"anon_pipeline {__version__} blacklist ")
    assert blacklist.version in dataset.DeidentificationMethod
    assert "PatientIdentityRemoved" not in dataset
    assert "DeidentificationMethodCodeSequence" not in dataset
    assert processed_before(dataset)


def test_stage_two_declares_identity_removed_its_options_and_shifted_dates(whitelist):
    dataset = Dataset()
    mark_deidentified(dataset, whitelist)
    assert dataset.PatientIdentityRemoved == "YES"
    assert len(dataset.DeidentificationMethod) <= MAX_VALUE_LEN["LO"]
    codes = dataset.DeidentificationMethodCodeSequence
    assert len(codes) == len(whitelist.options) > 0
    assert {item.CodingSchemeDesignator for item in codes} == {"DCM"}
    assert all(item.CodeValue and item.CodeMeaning for item in codes)
    assert dataset.LongitudinalTemporalInformationModified == "MODIFIED"  # it shifts dates


def test_a_file_another_tool_marked_is_not_taken_for_ours():
    dataset = Dataset()
    assert not processed_before(dataset)
    dataset.DeidentificationMethod = "Other Anonymizer 2.1"
    assert not processed_before(dataset)
    dataset.DeidentificationMethod = ["Other Anonymizer 2.1", "anon_pipeline 0.1.0 blacklist x"]
    assert processed_before(dataset)
