"""The hospital's offline installer: built by `make hospital-bundle`, installed into a
fresh virtual environment with no package index reachable, then used for stage 1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anon_pipeline.engine.batch.package import check_package_files, is_package, read_package
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY

pytestmark = pytest.mark.slow
REPOSITORY = Path(__file__).resolve().parent.parent
SERVER_ONLY = ("dagster", "duckdb", "pandas", "PIL")


def test_the_bundle_installs_offline_and_runs_stage_1(tmp_path, blacklist):
    bundle = tmp_path / "anon-pipeline-hospital"
    subprocess.run(
        ["make", "--no-print-directory", "hospital-bundle", f"HOSPITAL_BUNDLE={bundle}"],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
        text=True,
    )
    assert (tmp_path / "anon-pipeline-hospital.tar.gz").is_file()
    wheels = sorted(path.name.split("-")[0].lower() for path in (bundle / "wheels").iterdir())
    assert "anon_pipeline" in wheels and "pydicom" in wheels
    assert not {"dagster", "duckdb", "pandas"} & set(wheels)

    offline = {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PYTHON": sys.executable,
    }
    hospital = tmp_path / "hospital"
    subprocess.run(
        ["sh", str(bundle / "install.sh"), str(hospital)],
        env=offline,
        check=True,
        capture_output=True,
        text=True,
    )
    for module in SERVER_ONLY:
        missing = subprocess.run(
            [hospital / "bin" / "python", "-c", f"import {module}"],
            capture_output=True,
            check=False,
        )
        assert missing.returncode != 0, f"{module} is installed at the hospital"

    write_cd_batch(tmp_path / "cd", [fake_patient(51)], series=1, slices=2)
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY.hex() + "\n")
    key_file.chmod(0o600)
    package = tmp_path / "package"
    run = subprocess.run(
        [
            hospital / "bin" / "anon-pipeline",
            "blacklist",
            tmp_path / "cd",
            package,
            "--key-file",
            key_file,
            "--quiet",
            "--workers",
            "2",
        ],
        cwd=tmp_path,
        env=offline,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "blacklist: 5 files (2 anonymized, 3 skipped)" in run.stdout
    assert is_package(package)
    adopted = read_package(package, blacklist, TEST_KEY)
    check_package_files(package, adopted, workers=1)  # raises if any file differs
    assert len(adopted.scanned) == 5
    assert (tmp_path / "package.hospital" / "manifest.parquet").is_file()


def test_the_windows_bundle_holds_only_windows_or_pure_wheels_and_a_windows_installer(tmp_path):
    """Built here by platform tag (no Windows machine needed): every wheel is win_amd64
    or pure Python, tqdm's Windows-only dependency included, and the bundle installs
    with PowerShell; its names say its platform and Python."""
    bundle = tmp_path / "anon-pipeline-hospital-win_amd64-py3.11"
    build = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "hospital-bundle",
            "PLATFORM=win_amd64",
            "BUNDLE_PYTHON=3.11",
            f"HOSPITAL_BUNDLE={bundle}",
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert bundle.with_name(bundle.name + ".zip").is_file()
    wheels = sorted(path.name for path in (bundle / "wheels").iterdir())
    platforms = {name.removesuffix(".whl").split("-")[-1] for name in wheels}
    assert platforms <= {"win_amd64", "any"} and "win_amd64" in platforms
    names = {name.split("-")[0].lower() for name in wheels}
    assert {"anon_pipeline", "pydicom", "numpy", "pyarrow", "colorama"} <= names
    assert not {"dagster", "duckdb", "pandas"} & names
    assert {"install.ps1", "install.bat", "README.txt"} <= {p.name for p in bundle.iterdir()}
    readme = (bundle / "README.txt").read_text()
    assert "win_amd64" in readme and "Python 3.11" in readme and "--self-test" in readme
    assert "{python}" not in (bundle / "install.ps1").read_text()


def test_an_unknown_platform_is_refused_by_name(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "packaging/hospital/build_bundle.py",
            "--platform",
            "amiga",
            "--dir",
            str(tmp_path / "b"),
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 1 and "unknown platform 'amiga'" in build.stderr
