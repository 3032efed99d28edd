"""`stream_file` is an optimisation only: wherever it handles a file, it must give
exactly what the straightforward pydicom path gives (bytes, names, side tables,
inventory), and wherever it declines, the pydicom path decides."""

import dataclasses
from pathlib import Path

import pytest
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
from anon_pipeline.engine.dicom.rawparse import Unsupported, parse_part10
from anon_pipeline.engine.files import streaming as streaming_module
from anon_pipeline.engine.files.scan import Kind, scan_batch
from anon_pipeline.engine.files.stage import (
    PYDICOM,
    STREAMING,
    Stage,
    StageJob,
    run_stage,
    transform_with_pydicom,
)
from anon_pipeline.engine.files.streaming import memo as streaming_memo
from anon_pipeline.synthetic.cds import (
    fake_patient,
    make_realistic_ct_slice,
)
from anon_pipeline_tests.conftest import TEST_KEY, query, tree_digest
from anon_pipeline_tests.engine.files.streaming.conftest import compare_paths, files_in


@pytest.mark.parametrize("corpus", ["hostile", "cd", "realistic", "pydicom"])
def test_streaming_equals_pydicom_in_both_stages(corpora, corpus, blacklist, whitelist):
    no_holds = dataclasses.replace(blacklist, holds=frozenset())
    stage1 = compare_paths(files_in(corpora / corpus), no_holds, whitelist=False)
    no_holds = dataclasses.replace(whitelist, holds=frozenset(), scope=None)
    stage2 = compare_paths(files_in(corpora / f"{corpus}-1"), no_holds, whitelist=True)
    assert ExplicitVRLittleEndian in stage1 and ExplicitVRLittleEndian in stage2
    if corpus == "hostile":  # every little-endian syntax of the fixture streams
        wanted = {RLELossless, JPEG2000, JPEGLSLossless, JPEGBaseline8Bit}
        assert wanted <= stage1 and wanted <= stage2
    if corpus == "pydicom":
        assert ImplicitVRLittleEndian in stage1 and ImplicitVRLittleEndian in stage2


def test_streaming_declines_what_it_does_not_handle(corpora):
    """Deflated, big-endian and bare (no preamble) files go the pydicom way."""
    for name in ("image_dfl.dcm", "MR_small_bigendian.dcm"):
        with pytest.raises(Unsupported):
            parse_part10((corpora / "pydicom" / f"test_files-{name}").read_bytes())
    bare = [p for p in files_in(corpora / "hostile") if p.read_bytes()[128:132] != b"DICM"]
    assert bare
    for path in bare:
        with pytest.raises(Unsupported):
            parse_part10(path.read_bytes())


def run_both(root: Path, input_dir: Path, rule_set, stage: Stage):
    scanned = scan_batch(input_dir, workers=1)
    results = {}
    for streaming in (True, False):
        name = STREAMING if streaming else PYDICOM
        report, outcomes = run_stage(
            StageJob(
                stage,
                rule_set,
                TEST_KEY,
                input_dir,
                root / name / "out",
                root / name / "parts",
                streaming=streaming,
            ),
            scanned,
            2,
        )
        results[name] = (report, outcomes)
    return results


def test_a_stage_writes_the_same_folder_and_tables_either_way(corpora, tmp_path, whitelist):
    results = run_both(tmp_path, corpora / "hostile-1", whitelist, Stage.WHITELIST)
    (fast_report, fast), (_, reference) = results[STREAMING], results[PYDICOM]
    assert fast_report.files_streamed >= 8
    assert {o.engine for o in fast if o.outcome == "anonymized"} == {STREAMING, PYDICOM}
    strip = [dataclasses.replace(outcome, engine=None, declined=None) for outcome in fast]
    assert strip == [dataclasses.replace(o, engine=None, declined=None) for o in reference]
    # Every file the streaming path left to pydicom says why, in words that quote nothing.
    declined = {o.declined for o in fast if o.engine == PYDICOM}
    assert None not in declined and {o.declined for o in fast if o.engine == STREAMING} == {None}
    assert "transfer syntax handled by pydicom" in declined
    assert sum(fast_report.declined.values()) == sum(o.engine == PYDICOM for o in fast)
    assert any(key.startswith("streaming declined: ") for key in fast_report.metadata())
    assert tree_digest(tmp_path / STREAMING / "out") == tree_digest(tmp_path / PYDICOM / "out")
    for table in ("values", "unlisted", "uid_pairs", "identifiers"):
        sql = "SELECT * FROM read_parquet('{}/*.parquet') ORDER BY ALL"
        rows = [
            query(sql.format(tmp_path / name / "parts" / table)) for name in (STREAMING, PYDICOM)
        ]
        assert rows[0] == rows[1], table
    assert len(rows[0]) > 0


def test_every_realistic_slice_streams_through_a_whole_run(corpora, tmp_path, blacklist):
    scanned = scan_batch(corpora / "realistic", workers=1)
    assert {row.kind for row in scanned} == {Kind.IMAGE}
    report, outcomes = run_stage(
        StageJob(
            Stage.BLACKLIST,
            blacklist,
            TEST_KEY,
            corpora / "realistic",
            tmp_path / "out",
            tmp_path / "parts",
        ),
        scanned,
        1,
    )
    assert report.files_streamed == len(scanned) == 3
    assert [o.engine for o in outcomes] == [STREAMING] * 3


def test_one_worker_mixing_implicit_and_explicit_files_of_a_patient(tmp_path, blacklist, whitelist):
    """The memo is shared across files: equal values in files of different encodings
    must still be encoded each in its own file's encoding."""
    from pydicom.uid import ImplicitVRLittleEndian as implicit_syntax

    folder = tmp_path / "mixed"
    folder.mkdir()
    for instance, syntax in ((1, None), (2, implicit_syntax), (3, None), (4, implicit_syntax)):
        dataset = make_realistic_ct_slice(fake_patient(6), "study", 1, instance)
        dataset.PixelRepresentation = (instance // 2) % 2  # implicit files get US and SS
        dataset.SmallestImagePixelValue, dataset.LargestImagePixelValue = 0, 1000
        if syntax:
            dataset.file_meta.TransferSyntaxUID = syntax
        dataset.save_as(folder / f"IM{instance}", enforce_file_format=True)
    streamed = compare_paths(files_in(folder), blacklist, whitelist=False)
    assert streamed == {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
    assert compare_paths(files_in(folder), whitelist, whitelist=True) == streamed


def tricky_series(folder: Path) -> list[Path]:
    """Slices that each differ from the one before in a way a run must not hide: a value
    of the same length inside a long run of equal elements, a name of the same length
    (logged as an identifier), an element left out or added, another patient (another
    date shift), and implicit VR files whose ambiguous VRs follow PixelRepresentation."""
    from pydicom.uid import ImplicitVRLittleEndian as implicit_syntax

    changes = [
        {},
        {},
        {"KVP": "121"},  # "120" in the others
        {"PatientName": "Nowak^Anna"[::-1]},
        {"RotationDirection": None},
        {"Laterality": "R", "Occupation": "TKACZ"},
        {"patient": 9},
        {"syntax": implicit_syntax, "PixelRepresentation": 0},
        {"syntax": implicit_syntax, "PixelRepresentation": 1},
        {"syntax": implicit_syntax, "PixelRepresentation": 1},
        {},
    ]
    paths = []
    for instance, change in enumerate(changes, start=1):
        change = dict(change)
        patient = fake_patient(change.pop("patient", 8))
        dataset = make_realistic_ct_slice(patient, "study", 1, instance)
        dataset.KVP = "120"
        dataset.SmallestImagePixelValue, dataset.LargestImagePixelValue = 0, 1000
        syntax = change.pop("syntax", None)
        if syntax:
            dataset.file_meta.TransferSyntaxUID = syntax
        for keyword, value in change.items():
            if value is None:
                delattr(dataset, keyword)
            else:
                setattr(dataset, keyword, value)
        path = folder / f"IM{instance:02d}"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_runs_of_equal_elements_never_hide_a_difference(
    tmp_path, blacklist, whitelist, monkeypatch
):
    """Stretches of elements equal to the previous file's are parsed and replayed whole
    (`Part10.runs`); every file must still give what pydicom's path gives, in both stages,
    and the runs must really have covered most elements."""
    folder = tmp_path / "tricky"
    folder.mkdir()
    paths = tricky_series(folder)
    covered = []
    parse = streaming_module.parse_part10

    def counting_parse(data, lazy=False, template=None):
        part = parse(data, lazy, template)
        covered.append(sum(count for _, _, count in part.runs) / len(part.spans))
        return part

    monkeypatch.setattr(streaming_module, "parse_part10", counting_parse)
    streaming_memo._MEMOS.clear()
    streamed = compare_paths(paths, blacklist, whitelist=False)
    assert streamed == {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
    assert max(covered) > 0.8  # most of a slice came by runs
    outputs = tmp_path / "stage1"
    for path in paths:
        with quiet_pydicom():
            job = StageJob(Stage.BLACKLIST, blacklist, TEST_KEY, Path(), Path(), Path())
            result = transform_with_pydicom(job, path.read_bytes())
        (outputs / result.output_name).parent.mkdir(parents=True, exist_ok=True)
        (outputs / result.output_name).write_bytes(result.encoded)
    covered.clear()
    assert compare_paths(files_in(outputs), whitelist, whitelist=True) == streamed
    assert max(covered) > 0.8
