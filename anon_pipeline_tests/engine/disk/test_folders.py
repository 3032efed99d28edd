"""One object per folder a step writes: file names spelled once, the same layout on a
folder's staging twin, and the batch's paths are the folders' own."""

import re
from pathlib import Path

from anon_pipeline.engine.disk.folders import (
    BatchSecureFolder,
    PackageFolder,
    ReleaseFolder,
    Stage1Folder,
)
from anon_pipeline.engine.disk.layout import BatchPaths, DataRoot

PACKAGE = Path(__file__).resolve().parents[3] / "anon_pipeline"
FILE_NAME = re.compile(r"""["']([\w.-]+\.(?:parquet|json|png|duckdb))["']""")


def test_every_file_name_is_spelled_once_in_the_folders_module():
    spelled: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "synthetic" in path.parts:
            continue
        for name in FILE_NAME.findall(path.read_text()):
            spelled.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
    outside = {
        name: places
        for name, places in spelled.items()
        if places != ["engine/disk/folders.py"]
        and not name.startswith(".")
        and not (PACKAGE / "rules" / name).is_file()  # shipped rule data, not a data-root file
    }
    # Left in layout.py: the two databases directly under secure/ (DataRoot's own), and
    # the scratch ledger (a dot file) in scratch.py.
    assert set(outside) <= {"released_index.duckdb", "audit.duckdb"}, outside


def test_a_twin_has_the_layout_of_its_folder(tmp_path):
    final, staging = Stage1Folder(tmp_path / "blacklisted"), tmp_path / ".blacklisted.staging"
    twin = final.twin(staging)
    assert isinstance(twin, Stage1Folder)
    for name in ("files", "outcomes", "identifiers", "parts", "descriptor"):
        assert getattr(twin, name).relative_to(staging) == getattr(final, name).relative_to(
            final.path
        )


def test_a_batchs_paths_are_its_folders(tmp_path):
    root = DataRoot(tmp_path)
    paths = BatchPaths.in_root(root, "cd_001")
    secure = BatchSecureFolder(root.secure / "batches" / "cd_001")
    assert paths.manifest == secure.stage2.manifest
    assert paths.identifiers == secure.stage1.identifiers
    assert paths.inventory == ReleaseFolder(root.release / "cd_001").inventory
    assert PackageFolder(tmp_path).descriptor.name == "stage1_package.json"


def test_an_output_folder_too_deep_for_windows_paths_is_refused_by_name():
    from pathlib import PureWindowsPath

    import pytest

    from anon_pipeline.engine.disk.folders import PathTooLong, check_output_depth

    check_output_depth(PureWindowsPath(r"E:\packages\CD0001"), "win32")
    deep = PureWindowsPath("E:\\" + "\\".join(["a_folder_of_the_site"] * 6))
    with pytest.raises(PathTooLong, match=r"a_folder_of_the_site: too deep for Windows' 260"):
        check_output_depth(deep, "win32")
    check_output_depth(deep, "win32", long_paths=True)  # LongPathsEnabled
    check_output_depth(deep, "linux")
