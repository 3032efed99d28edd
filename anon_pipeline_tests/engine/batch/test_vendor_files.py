"""Real vendors' files (the pydicom-data wheel: GE and ALOKA ultrasound, Siemens MR, CR,
segmentations, CT), each as its own batch through `anonymize`: nothing outside the
release scope is released, and nothing released gains a dciodvfy error."""

import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import UID

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline_tests.conftest import TEST_KEY
from anon_pipeline_tests.engine.release.test_validation import dciodvfy_errors

data_store = pytest.importorskip("data_store", reason="pydicom-data is a dev dependency")
VENDOR_FILES = sorted((Path(data_store.__file__).parent / "data").glob("*.dcm"))


def sop_class(path: Path) -> str:
    """The file's SOP class keyword ('' when it has none or cannot be read)."""
    try:
        with quiet_pydicom():
            return UID(str(dcmread(path, stop_before_pixels=True).get("SOPClassUID", ""))).keyword
    except Exception:
        return ""


@pytest.fixture(scope="module")
def vendor_runs(tmp_path_factory, blacklist, whitelist):
    root = tmp_path_factory.mktemp("vendor")
    runs = []
    for index, source in enumerate(VENDOR_FILES):
        batch = root / "in" / f"vendor_{index:03d}"
        batch.mkdir(parents=True)
        shutil.copy(source, batch / source.name)
        paths = BatchPaths(batch, root / "secure", root / "release")
        anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
        (row,) = read_rows(paths.manifest)
        released = paths.release_files / row["output_name"] if row["output_name"] else None
        runs.append((source, row["disposition"], released))
    return runs


def test_no_ultrasound_or_other_out_of_scope_object_is_released(vendor_runs):
    ultrasound = [run for run in vendor_runs if sop_class(run[0]).startswith("Ultrasound")]
    assert len(ultrasound) >= 10
    for source, disposition, released in vendor_runs:
        if disposition == "anonymized":
            assert "CTImageStorage" in sop_class(source), source.name
        else:
            assert released is None or not released.exists(), source.name
    for source, disposition, _ in ultrasound:
        assert disposition != "anonymized", source.name
    skipped = [d for _, d, _ in ultrasound if d.startswith("skipped: outside the release scope")]
    assert len(skipped) >= len(ultrasound) // 2  # the others are held by stage 1's holds
    assert any(disposition == "anonymized" for _, disposition, _ in vendor_runs)


def test_released_vendor_files_gain_no_dciodvfy_error(vendor_runs):
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy is missing: apt-get install dicom3tools")
    checked = 0
    for source, disposition, released in vendor_runs:
        if disposition != "anonymized":
            continue
        new = set(dciodvfy_errors(released)) - set(dciodvfy_errors(source))
        assert not new, (source.name, sorted(new))
        checked += 1
    assert checked >= 1
