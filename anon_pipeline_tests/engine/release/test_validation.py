"""Outputs checked by an independent DICOM validator (dicom3tools' dciodvfy)."""

import os
import re
import shutil
import subprocess

import pydicom
import pytest

from anon_pipeline_tests.conftest import query

pytestmark = pytest.mark.slow


def dciodvfy_errors(path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    # Drop the file-specific values so input and output messages compare by kind.
    return sorted(
        re.sub(r"<[^>]*>|\"[^\"]*\"|\d+", "#", line) for line in lines if line.startswith("Error")
    )


@pytest.fixture(scope="module")
def dciodvfy():
    if shutil.which("dciodvfy") is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy is missing in CI: .ci/run must install dicom3tools")
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    return "dciodvfy"


def test_outputs_have_no_more_dciodvfy_errors_than_inputs(dciodvfy, processed_cd):
    rows = query(
        f"SELECT relative_path, output_name FROM '{processed_cd.paths.manifest}' "
        "WHERE outcome = 'anonymized' ORDER BY row"
    )
    assert len(rows) >= 18  # every released object of the synthetic CD
    for relative_path, output_name in rows:
        before = dciodvfy_errors(processed_cd.batch_dir / relative_path)
        after = dciodvfy_errors(processed_cd.release_dir / "dicom" / output_name)
        assert len(after) <= len(before), (after, before)
        if not before:
            assert after == []
        assert set(after) <= set(before), set(after) - set(before)
        stage1 = processed_cd.paths.stage1_files / output_name
        assert stage1.exists()
        assert len(dciodvfy_errors(stage1)) <= len(before)
        assert (
            pydicom.dcmread(processed_cd.release_dir / "dicom" / output_name).PatientIdentityRemoved
            == "YES"
        )
