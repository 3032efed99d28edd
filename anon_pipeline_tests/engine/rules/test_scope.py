"""The release scope: objects of other SOP classes are skipped by name, never released."""

import dataclasses

import pytest
from pydicom.uid import UID, CTImageStorage, MRImageStorage, UltrasoundImageStorage

from anon_pipeline.engine.rules.rule_set import RuleError, load_rule_set
from anon_pipeline.engine.rules.scope import DEFAULT_SCOPE, UNKNOWN_CLASS, outside_scope, scope_uids


def test_the_shipped_whitelist_releases_the_three_ct_classes_only(whitelist):
    assert whitelist.scope == scope_uids(DEFAULT_SCOPE)
    assert outside_scope(CTImageStorage, whitelist.scope) is None
    assert outside_scope(UltrasoundImageStorage, whitelist.scope) == "UltrasoundImageStorage"
    assert outside_scope(MRImageStorage, whitelist.scope) == "MRImageStorage"


def test_an_unknown_class_is_never_quoted(whitelist):
    private = "1.2.826.0.1.3680043.99.4471029"
    assert outside_scope(private, whitelist.scope) == UNKNOWN_CLASS
    assert outside_scope(private, None) is None  # no scope: every class


def test_the_scope_is_part_of_the_rule_set_version(tmp_path):
    source = tmp_path / "rules.yaml"
    body = (
        "rule_set: t\ndefaults: {{private: remove, unlisted: review, sequence: remove}}\n"
        "{}rules: {{}}\n"
    )
    source.write_text(body.format("release_scope: [CTImageStorage]\n"))
    narrow = load_rule_set(source)
    source.write_text(body.format("release_scope: [CTImageStorage, MRImageStorage]\n"))
    wide = load_rule_set(source)
    assert narrow.version != wide.version
    assert wide.scope == frozenset({CTImageStorage, MRImageStorage})


def test_a_misspelt_class_names_the_file_and_line(tmp_path):
    source = tmp_path / "rules.yaml"
    source.write_text(
        "rule_set: t\ndefaults: {private: remove, unlisted: review, sequence: remove}\n"
        "release_scope:\n  - CTImageStorage\n  - CtImageStorage\nrules: {}\n"
    )
    with pytest.raises(RuleError, match=r"rules.yaml:5: 'CtImageStorage' is not a SOP class"):
        load_rule_set(source)


def test_out_of_scope_files_are_skipped_by_both_paths(tmp_path, whitelist):
    from anon_pipeline.engine.files.outcomes import Reason
    from anon_pipeline.engine.files.stage import Stage, StageJob, transform_file
    from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice

    dataset = make_ct_slice(fake_patient(3), "scope", 1, 1)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = MRImageStorage
    path = tmp_path / "mr.dcm"
    dataset.save_as(path, enforce_file_format=True)
    for streaming in (True, False):
        job = StageJob(
            Stage.WHITELIST,
            whitelist,
            b"k" * 32,
            tmp_path,
            tmp_path / "o",
            tmp_path / "w",
            streaming=streaming,
        )
        result, _ = transform_file(job, path.read_bytes())
        assert result.reason is Reason.OUT_OF_SCOPE
        assert str(result) == "skipped: outside the release scope (MRImageStorage)"
    no_scope = dataclasses.replace(whitelist, scope=None, holds=frozenset())
    job = StageJob(Stage.WHITELIST, no_scope, b"k" * 32, tmp_path, tmp_path / "o", tmp_path / "w")
    result, _ = transform_file(job, path.read_bytes())
    assert result.output_name  # without a scope the same file is released


def scope_samples():
    """One synthetic object per class of the shipped scope: adding a class to the scope
    needs a sample here, and the test below then judges the whitelist for it."""
    from pydicom.uid import LegacyConvertedEnhancedCTImageStorage

    from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
    from anon_pipeline.synthetic.scanner_objects import make_enhanced_ct

    patient = fake_patient(9)
    legacy = make_enhanced_ct(patient, "legacy", series_number=3)
    legacy.SOPClassUID = legacy.file_meta.MediaStorageSOPClassUID = (
        LegacyConvertedEnhancedCTImageStorage
    )
    return {
        "CTImageStorage": make_ct_slice(patient, "scope", 1, 1),
        "EnhancedCTImageStorage": make_enhanced_ct(patient, "scope", series_number=2),
        "LegacyConvertedEnhancedCTImageStorage": legacy,
    }


def test_every_class_in_scope_keeps_its_iods_required_attributes(tmp_path, blacklist, whitelist):
    """Released objects of each class in scope gain no dciodvfy error (a Type 1 or 2
    attribute removed would be one)."""
    import shutil

    from anon_pipeline.engine.batch.pipeline import (
        BatchPaths,
        Policy,
        StepOptions,
        anonymize_batch,
    )
    from anon_pipeline.engine.disk.tables import read_rows
    from anon_pipeline_tests.conftest import TEST_KEY
    from anon_pipeline_tests.engine.release.test_validation import dciodvfy_errors

    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy is missing: apt-get install dicom3tools")
    samples = scope_samples()
    assert {UID(uid).keyword for uid in whitelist.scope} == set(samples)
    batch = tmp_path / "in" / "scope"
    batch.mkdir(parents=True)
    for name, dataset in samples.items():
        dataset.save_as(batch / name, enforce_file_format=True)
    paths = BatchPaths(batch, tmp_path / "secure", tmp_path / "release")
    anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    for row in read_rows(paths.manifest):
        assert row["disposition"] == "anonymized", row["relative_path"]
        source, released = batch / row["relative_path"], paths.release_files / row["output_name"]
        new = set(dciodvfy_errors(released)) - set(dciodvfy_errors(source))
        assert not new, (row["relative_path"], sorted(new))
