"""Assertions about scanners' objects after both stages, shared by the engine's and the
Dagster job's tests: a multi-frame image released whole, overlays and icons gone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.synthetic import scanner_objects
from anon_pipeline.synthetic.cds import FakePatient, make_ct_slice

# What a scanner's CD holds besides classic slices: file name -> its disposition.
SCANNER_FILES = {
    "ENHANCED": "anonymized",
    "OVERLAY": "anonymized",
    "ICON": "anonymized",
    "OVERLAY_IN_PIXELS": "held: overlay in pixel data",
}


def write_scanner_batch(batch_dir: Path, patient: FakePatient, frames: int = 4) -> None:
    """An Enhanced CT of `frames` frames, a slice with an overlay plane in group 6000, one
    with an icon image, and one whose overlay is drawn into its pixel data."""
    batch_dir.mkdir(parents=True)
    datasets = {
        "ENHANCED": scanner_objects.make_enhanced_ct(patient, "scanner", frames=frames),
        "OVERLAY": scanner_objects.with_overlay_plane(make_ct_slice(patient, "classic", 1, 1)),
        "ICON": scanner_objects.with_icon_image(make_ct_slice(patient, "classic", 1, 2)),
        "OVERLAY_IN_PIXELS": scanner_objects.with_overlay_in_pixel_data(
            make_ct_slice(patient, "classic", 1, 3)
        ),
    }
    for name, dataset in datasets.items():
        dataset.save_as(batch_dir / name, enforce_file_format=True)


def released_path(manifest: Path, release_files: Path, relative_path: str) -> Path:
    rows = [row for row in read_rows(manifest) if row["relative_path"] == relative_path]
    assert rows and rows[0]["outcome"] == "anonymized", rows
    return release_files / rows[0]["output_name"]


def every_element(dataset: Dataset):
    for element in dataset:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from every_element(item)


def frame_geometry(dataset: Dataset) -> list[tuple]:
    """Per frame: where it lies and how its pixels map to values, shared groups applied."""
    shared = dataset.SharedFunctionalGroupsSequence[0]
    geometry = []
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        measures = shared.PixelMeasuresSequence[0]
        geometry.append(
            (
                tuple(frame.PlanePositionSequence[0].ImagePositionPatient),
                tuple(shared.PlaneOrientationSequence[0].ImageOrientationPatient),
                tuple(measures.PixelSpacing),
                measures.SliceThickness,
                shared.PixelValueTransformationSequence[0].RescaleIntercept,
                shared.PixelValueTransformationSequence[0].RescaleSlope,
            )
        )
    return geometry


def days_between(before: str, after: str) -> int:
    return (datetime.strptime(after[:8], "%Y%m%d") - datetime.strptime(before[:8], "%Y%m%d")).days


def assert_enhanced_ct_released_whole(source: Path, released: Path, uid_map: Path) -> None:
    """Every frame, the same geometry per frame, the kernel; frame dates shifted as the
    study date; UIDs inside the functional groups hashed with the batch's map; nothing
    private at any depth."""
    before, after = pydicom.dcmread(source), pydicom.dcmread(released)
    assert after.NumberOfFrames == before.NumberOfFrames
    assert after.PixelData == before.PixelData
    assert frame_geometry(after) == frame_geometry(before)
    kernel = "SharedFunctionalGroupsSequence", "CTReconstructionSequence", "ConvolutionKernel"

    def deep(dataset, path):
        for keyword in path[:-1]:
            dataset = getattr(dataset, keyword)[0]
        return getattr(dataset, path[-1])

    assert deep(after, kernel) == deep(before, kernel)
    shift = days_between(before.StudyDate, after.StudyDate)
    assert shift < 0
    frames = zip(
        before.PerFrameFunctionalGroupsSequence, after.PerFrameFunctionalGroupsSequence, strict=True
    )
    for old, new in frames:
        old_content, new_content = old.FrameContentSequence[0], new.FrameContentSequence[0]
        for keyword in ("FrameAcquisitionDateTime", "FrameReferenceDateTime"):
            old_value, new_value = getattr(old_content, keyword), getattr(new_content, keyword)
            assert days_between(old_value, new_value) == shift, keyword
            assert new_value[8:] == old_value[8:]  # times kept
    uids = {row["original_uid"]: row["hashed_uid"] for row in read_rows(uid_map)}
    old_references = [e.value for e in every_element(before) if e.VR == "UI"]
    new_references = [e.value for e in every_element(after) if e.VR == "UI"]
    hashed = [uids.get(uid, uid) for uid in old_references]  # registered UIDs stay
    assert set(new_references) <= set(hashed) | {str(e) for e in after.file_meta.values()}
    dimension = after.DimensionOrganizationSequence[0].DimensionOrganizationUID
    assert dimension == uids[before.DimensionOrganizationSequence[0].DimensionOrganizationUID]
    assert not any(element.tag.is_private for element in every_element(after))


def assert_overlays_and_icons_gone(released: list[Path]) -> None:
    for path in released:
        dataset = pydicom.dcmread(path)
        tags = [element.tag for element in every_element(dataset)]
        assert not [tag for tag in tags if tag.group & 0xFF00 in (0x5000, 0x6000)], path.name
        assert "IconImageSequence" not in dataset, path.name
        assert dataset.Rows and dataset.PixelData
