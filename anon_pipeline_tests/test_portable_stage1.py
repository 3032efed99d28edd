"""Stage 1 the way a Windows computer would take it, as far as this machine allows: no
fcntl, no fork or fork server (spawn only), no writev or sysconf, no hard links, and no
one-step folder swap. The package must be the Linux path's, byte for byte, and the server
must adopt it. (No Windows machine runs these tests: README, "Stage 1 on Windows".)"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from anon_pipeline.engine.batch.package import (
    DESCRIPTOR,
    PACKAGE_MANIFEST,
    check_package_files,
    read_package,
)
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY, tree_digest

pytestmark = pytest.mark.slow

# Run in every process of the run (the spawned workers too): before anything else.
WINDOWS_LIKE = textwrap.dedent(
    """
    import ctypes.util, multiprocessing, os, sys
    sys.modules["fcntl"] = None  # `import fcntl` fails, as on Windows
    for name in ("fork", "forkpty", "writev", "sysconf", "link"):
        if hasattr(os, name):
            delattr(os, name)
    multiprocessing.get_all_start_methods = lambda: ["spawn"]
    ctypes.util.find_library = lambda name: None  # no renameat2: the two-rename swap
    import anon_pipeline.engine.disk.parallel as parallel
    parallel.MIN_POOL_ITEMS = 1  # a pool even for this small CD
    """
)
PROBE = (
    "import multiprocessing, anon_pipeline.engine.disk.atomic as atomic, pathlib\n"
    "try:\n    import fcntl\n    blocked = False\nexcept ImportError:\n    blocked = True\n"
    "print(blocked, atomic.HAS_WRITEV, atomic.exchange(pathlib.Path('a'), pathlib.Path('b')),"
    " multiprocessing.get_all_start_methods())"
)


def run_blacklist(cd, package, key_file, environment):
    command = [sys.executable, "-m", "anon_pipeline.cli", "blacklist", str(cd), str(package)]
    options = ["--key-file", str(key_file), "--workers", "2", "--quiet"]
    run = subprocess.run(
        [*command, *options], env=environment, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr


def test_stage1_without_posix_facilities_writes_the_same_package(tmp_path, blacklist):
    cd = tmp_path / "CD0001"
    write_cd_batch(cd, [fake_patient(61), fake_patient(62)], series=2, slices=5)
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY.hex() + "\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(WINDOWS_LIKE)
    windows = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=windows, capture_output=True, text=True, check=True
    )
    assert probe.stdout.split() == ["True", "False", "False", "['spawn']"]

    run_blacklist(cd, tmp_path / "linux", key_file, dict(os.environ))
    run_blacklist(cd, tmp_path / "windows", key_file, windows)
    run_blacklist(cd, tmp_path / "windows", key_file, windows)  # again: the swap's fallback

    linux, windows_package = tmp_path / "linux", tmp_path / "windows"
    assert tree_digest(windows_package / "dicom") == tree_digest(linux / "dicom")
    assert (windows_package / PACKAGE_MANIFEST).read_bytes() == (
        linux / PACKAGE_MANIFEST
    ).read_bytes()
    descriptors = [json.loads((p / DESCRIPTOR).read_text()) for p in (linux, windows_package)]
    for descriptor in descriptors:
        descriptor.pop("created_at")
    assert descriptors[0] == descriptors[1]
    assert not [p for p in tmp_path.iterdir() if "retired" in p.name or "staging" in p.name]
    adopted = read_package(windows_package, blacklist, TEST_KEY)
    check_package_files(windows_package, adopted, workers=1)
    assert len(adopted.scanned) == sum(path.is_file() for path in cd.rglob("*"))
