"""The streaming path's test corpora: a hostile CD, a plain CD, realistic slices and
pydicom's bundled files, each with its stage-1 output made by the pydicom path; and the
comparison of both paths file by file."""

import dataclasses
import shutil
from pathlib import Path

import pydicom.data
import pytest

from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
from anon_pipeline.engine.dicom.rawparse import parse_part10
from anon_pipeline.engine.files.scan import scan_batch
from anon_pipeline.engine.files.stage import (
    Stage,
    StageJob,
    run_stage,
    transform_with_pydicom,
)
from anon_pipeline.engine.files.streaming import stream_file
from anon_pipeline.synthetic.cds import (
    fake_patient,
    make_realistic_ct_slice,
    write_cd_batch,
    write_hostile_cd,
)
from anon_pipeline_tests.conftest import TEST_KEY

PYDICOM_DATA = Path(pydicom.data.__file__).parent  # bundled files only: no downloads
MAX_SAMPLE_BYTES = 2_000_000


@pytest.fixture(scope="session")
def corpora(tmp_path_factory, blacklist):
    """Input folders for stage 1 and, made by the pydicom path, their stage-1 outputs."""
    root = tmp_path_factory.mktemp("streaming")
    write_hostile_cd(root / "hostile")
    write_cd_batch(root / "cd", [fake_patient(7)], series=2, slices=3)
    realistic = root / "realistic"
    realistic.mkdir()
    for instance in range(1, 4):
        dataset = make_realistic_ct_slice(fake_patient(3), "study", 1, instance)
        dataset.save_as(realistic / f"IM{instance:04d}", enforce_file_format=True)
    (root / "pydicom").mkdir()
    for folder in ("test_files", "charset_files"):
        for path in (PYDICOM_DATA / folder).glob("*.dcm"):
            if path.stat().st_size <= MAX_SAMPLE_BYTES:
                shutil.copy(path, root / "pydicom" / f"{folder}-{path.name}")
    no_holds = dataclasses.replace(blacklist, holds=frozenset())
    for name in ("hostile", "cd", "realistic", "pydicom"):
        scanned = scan_batch(root / name, workers=1)
        run_stage(
            StageJob(
                Stage.BLACKLIST,
                no_holds,
                TEST_KEY,
                root / name,
                root / f"{name}-1",
                root / f"{name}-p",
                streaming=False,
            ),
            scanned,
            1,
        )
    return root


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def compare_paths(files: list[Path], rule_set, whitelist: bool) -> set[str]:
    """Run both paths on every file; assert equal results; return the transfer syntaxes
    the streaming path handled."""
    job = StageJob(
        Stage.WHITELIST if whitelist else Stage.BLACKLIST,
        rule_set,
        TEST_KEY,
        Path(),
        Path(),
        Path(),
    )
    streamed = set()
    for path in files:
        data = path.read_bytes()
        with quiet_pydicom():
            try:
                fast = stream_file(data, rule_set, TEST_KEY, whitelist)
            except Exception:  # declined: the pydicom path alone decides this file
                continue
            reference = transform_with_pydicom(job, data)
        assert not isinstance(reference, str), f"{path.name}: streamed, but pydicom holds it"
        assert fast.encoded == reference.encoded, path.name
        assert fast.output_name == reference.output_name, path.name
        assert fast.values == reference.values, path.name
        assert fast.pixel_hash == reference.pixel_hash, path.name
        assert fast.log == reference.log, path.name
        streamed.add(str(parse_part10(data).transfer_syntax))
    return streamed
