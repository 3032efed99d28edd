"""Scanners' objects through both stages and the checks: multi-frame Enhanced CT kept
whole, overlays and icons removed, overlays drawn into the pixel data held."""

import shutil

import pydicom
import pytest

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.dicom.pixel_meaning import changes, entries_of
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.release.verification import check_outputs
from anon_pipeline.synthetic.cds import fake_patient
from anon_pipeline_tests.conftest import TEST_KEY
from anon_pipeline_tests.engine.release.test_validation import dciodvfy, dciodvfy_errors
from anon_pipeline_tests.scanner_checks import (
    SCANNER_FILES,
    assert_enhanced_ct_released_whole,
    assert_overlays_and_icons_gone,
    released_path,
    write_scanner_batch,
)

__all__ = ["dciodvfy"]  # the fixture, imported for the validator test below


def process(root, blacklist, whitelist, name="scanner") -> BatchPaths:
    write_scanner_batch(root / "incoming" / name, fake_patient(5))
    paths = BatchPaths(root / "incoming" / name, root / "secure" / name, root / "release" / name)
    anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=2))
    return paths


@pytest.fixture(scope="module")
def scanner_batch(tmp_path_factory, blacklist, whitelist) -> BatchPaths:
    return process(tmp_path_factory.mktemp("scanner"), blacklist, whitelist)


def released(paths: BatchPaths, name: str):
    return released_path(paths.manifest, paths.release_files, name)


def test_each_object_gets_its_disposition(scanner_batch):
    dispositions = {
        row["relative_path"]: row["disposition"] for row in read_rows(scanner_batch.manifest)
    }
    assert dispositions == SCANNER_FILES
    stage1 = {
        row["row"]: row["disposition"]
        for row in read_rows(scanner_batch.stage1_dir / "outcomes.parquet")
    }
    assert sorted(stage1.values()).count("held: overlay in pixel data") == 1  # held at stage 1


def test_enhanced_ct_is_released_whole(scanner_batch):
    assert_enhanced_ct_released_whole(
        scanner_batch.batch_dir / "ENHANCED",
        released(scanner_batch, "ENHANCED"),
        scanner_batch.uid_map,
    )


def test_unlisted_attributes_inside_functional_groups_are_queued(scanner_batch):
    paths = {path for row in read_rows(scanner_batch.review_queue) for path in row["paths"]}
    assert not any("Overlay" in path or "Icon" in path for path in paths)


def test_overlay_planes_and_icons_are_removed(scanner_batch):
    files = [released(scanner_batch, name) for name in ("OVERLAY", "ICON", "ENHANCED")]
    assert_overlays_and_icons_gone(files)
    before = pydicom.dcmread(scanner_batch.batch_dir / "OVERLAY")
    assert before.get((0x6000, 0x3000)) is not None  # the input had the plane


def test_every_check_passes_on_scanners_objects(scanner_batch):
    checks = check_outputs(scanner_batch, workers=1)
    for name, findings in vars(checks).items():
        assert findings.passed, (name, findings.failed)
    assert checks.pixel_meaning.checked == 3


def test_the_meaning_check_fails_when_a_frame_loses_its_position(tmp_path, blacklist, whitelist):
    paths = process(tmp_path, blacklist, whitelist)
    assert check_outputs(paths, workers=1).pixel_meaning.passed
    target = released(paths, "ENHANCED")
    dataset = pydicom.dcmread(target)
    del dataset.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient
    dataset.save_as(target)
    name = str(target.relative_to(paths.release_files))
    failed = check_outputs(paths, workers=1).pixel_meaning.failed
    lost = "PerFrameFunctionalGroupsSequence[2]>PlanePositionSequence[1]>ImagePositionPatient"
    assert failed == [f"{name}: lost {lost}"]


@pytest.mark.parametrize(
    ("keyword", "value", "change"),
    [
        ("NumberOfFrames", 3, "changed NumberOfFrames"),
        ("RescaleSlope", None, "added RescaleSlope"),
        ("Rows", None, "lost Rows"),
    ],
)
def test_meaning_changes_name_the_attribute(tmp_path, scanner_batch, keyword, value, change):
    source = scanner_batch.batch_dir / "ENHANCED"
    dataset = pydicom.dcmread(source)
    if change.startswith("lost"):
        delattr(dataset, keyword)
    else:
        setattr(dataset, keyword, value if value is not None else "2")
    dataset.save_as(tmp_path / "changed")
    before, after = entries_of(source.read_bytes()), entries_of((tmp_path / "changed").read_bytes())
    assert changes(before, after) == [change]


@pytest.mark.slow
def test_no_new_dciodvfy_errors(dciodvfy, scanner_batch):
    for name in ("ENHANCED", "OVERLAY", "ICON"):
        before = dciodvfy_errors(scanner_batch.batch_dir / name)
        after = dciodvfy_errors(released(scanner_batch, name))
        assert set(after) <= set(before), (name, set(after) - set(before))
    assert dciodvfy_errors(scanner_batch.batch_dir / "ENHANCED") == []


def test_a_copy_of_the_batch_gives_the_same_bytes(tmp_path, scanner_batch, blacklist, whitelist):
    """Deterministic with functional groups too: same input, rules and key, same output."""
    shutil.copytree(scanner_batch.batch_dir, tmp_path / "incoming" / "again")
    again = BatchPaths(tmp_path / "incoming" / "again", tmp_path / "s", tmp_path / "r")
    anonymize_batch(again, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    assert (
        released(again, "ENHANCED").read_bytes() == released(scanner_batch, "ENHANCED").read_bytes()
    )
