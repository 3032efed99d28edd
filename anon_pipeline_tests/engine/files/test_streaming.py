"""The streaming path is an optimisation only: wherever it handles a file, it must give
exactly what the straightforward pydicom path gives (bytes, names, side tables,
inventory), and wherever it declines, the pydicom path decides."""

import dataclasses
import shutil
from pathlib import Path

import pydicom.data
import pytest
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)
from pydicom.values import convert_UI

from anon_pipeline.engine.dicom.dicomfile import parse_dicom, pixel_data_hash, quiet_pydicom
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
from anon_pipeline.engine.files.streaming import classify_bytes, plain_uid, stream_file
from anon_pipeline.engine.files.streaming import facts as streaming_facts
from anon_pipeline.engine.files.streaming import memo as streaming_memo
from anon_pipeline.synthetic.cds import (
    fake_patient,
    make_realistic_ct_slice,
    write_cd_batch,
    write_hostile_cd,
)
from anon_pipeline_tests.conftest import TEST_KEY, query, tree_digest

PYDICOM_DATA = Path(pydicom.data.__file__).parent  # bundled files only: no downloads
MAX_SAMPLE_BYTES = 2_000_000


@pytest.fixture(scope="module")
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


@pytest.mark.parametrize("corpus", ["hostile", "cd", "realistic", "pydicom"])
def test_streaming_equals_pydicom_in_both_stages(corpora, corpus, blacklist, whitelist):
    no_holds = dataclasses.replace(blacklist, holds=frozenset())
    stage1 = compare_paths(files_in(corpora / corpus), no_holds, whitelist=False)
    no_holds = dataclasses.replace(whitelist, holds=frozenset())
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


@pytest.mark.parametrize("corpus", ["hostile", "cd", "pydicom"])
def test_scan_facts_equal_pydicoms(corpora, corpus):
    handled = 0
    for path in files_in(corpora / corpus):
        data = path.read_bytes()
        with quiet_pydicom():
            try:
                fast = classify_bytes(data)
            except Exception:
                continue
            parsed = parse_dicom(data)
        assert fast.kind == parsed.kind, path.name
        uid = str(parsed.dataset.get("SOPInstanceUID", "") or "") or None
        assert fast.sop_instance_uid == uid, path.name
        assert fast.pixel_hash == pixel_data_hash(parsed.dataset), path.name
        handled += 1
    assert handled >= 3


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


def test_the_memo_never_mixes_keys_or_patients(corpora, blacklist):
    """Memoised effects are keyed by rule set, key, value and date shift: the same
    file under another key gives other UIDs; two patients get their own shifts."""
    path = files_in(corpora / "realistic")[0]
    data = path.read_bytes()
    with quiet_pydicom():
        first = stream_file(data, blacklist, TEST_KEY, False)
        again = stream_file(data, blacklist, TEST_KEY, False)
        other_key = stream_file(data, blacklist, bytes(reversed(TEST_KEY)), False)
    assert first.encoded == again.encoded
    assert first.log == again.log
    assert other_key.output_name != first.output_name
    assert set(other_key.log.uid_pairs.values()).isdisjoint(first.log.uid_pairs.values())


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


@pytest.mark.parametrize(
    "change",
    [
        {"BurnedInAnnotation": "YES"},
        {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7", "ImageType": ["DERIVED", "SECONDARY"]},
    ],
)
def test_a_memoised_verdict_never_releases_a_held_slice(tmp_path, blacklist, change):
    """Checks and holds are memoised by the facts they read: a slice that differs from its
    series only in a fact a hold reads must still be held (declined here, held by pydicom)."""
    encoded = []
    for instance in (1, 2, 3):
        dataset = make_realistic_ct_slice(fake_patient(4), "study", 1, instance)
        if instance == 3:
            for keyword, value in change.items():
                setattr(dataset, keyword, value)
        path = tmp_path / f"IM{instance}"
        dataset.save_as(path, enforce_file_format=True)
        encoded.append(path.read_bytes())
    with quiet_pydicom():
        for data in encoded[:2]:
            assert stream_file(data, blacklist, TEST_KEY, False).kind == "image"
        with pytest.raises(Unsupported, match="held"):
            stream_file(encoded[2], blacklist, TEST_KEY, False)
        job = StageJob(Stage.BLACKLIST, blacklist, TEST_KEY, Path(), Path(), Path())
        assert transform_with_pydicom(job, encoded[2]).startswith("held: ")
        no_holds = dataclasses.replace(blacklist, holds=frozenset())  # same version string
        assert stream_file(encoded[2], no_holds, TEST_KEY, False).kind == "image"
        with pytest.raises(Unsupported, match="held"):  # and the other memo is not reused
            stream_file(encoded[2], blacklist, TEST_KEY, False)


@pytest.mark.parametrize("limit", ["MEMO_LIMIT", "REPLAY_BYTES_LIMIT"])
def test_the_memo_stays_bounded_and_clearing_it_changes_nothing(
    tmp_path, whitelist, monkeypatch, limit
):
    """A worker's memo is cleared when it outgrows either limit; what a file gives must
    not depend on what the memo held before it."""
    files = []
    for instance in range(1, 6):
        dataset = make_realistic_ct_slice(fake_patient(5), "study", 1, instance)
        dataset.save_as(tmp_path / f"IM{instance}", enforce_file_format=True)
        files.append((tmp_path / f"IM{instance}").read_bytes())
    other_key = bytes(reversed(TEST_KEY))  # a memo of its own, left warm
    with quiet_pydicom():
        warm = [stream_file(data, whitelist, other_key, True) for data in files]
        monkeypatch.setattr(streaming_memo, limit, 0)
        for data, expected in zip(files, warm, strict=True):
            cold = stream_file(data, whitelist, other_key, True)
            memo = streaming_memo.memo_for(whitelist, other_key)
            assert memo.replay_entries <= len(parse_part10(data).spans)  # this file's only
            assert (cold.encoded, cold.values, cold.log) == (
                expected.encoded,
                expected.values,
                expected.log,
            )


@pytest.mark.parametrize(
    "value",
    [
        b"1.2.840.113619.2.55",
        b"1.2.3\0",
        b"1.2.3 ",
        b" 1.2.3",
        b"1.2\\3.4",
        b"",
        b"\0",
        b"1.2.\xe93",
        b"1.2 3",
    ],
)
def test_a_plain_uid_reads_as_pydicom_reads_it(value):
    """The identity facts skip pydicom for plain UIDs: same text, or left to pydicom."""
    plain = plain_uid(value)
    if plain is not None:
        assert plain == str(convert_UI(value, True) or "")
    assert (plain is None) == (value in (b" 1.2.3", b"1.2\\3.4", b"1.2.\xe93", b"1.2 3"))


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


# Values the fast path reads itself (same text as pydicom's), and values it leaves to
# pydicom, by VR.
PLAIN_VALUES = {
    "DS": [
        b"1.25",
        b"-123.25\\-170.5\\-600.125 ",
        b"007.50",
        b"1.",
        b".5",
        b"+1.5",
        b"1E3",
        b"-2.5e-02",
        b"0",
        b"\\".join([b"-1.25"] * 300),
    ],
    "IS": [b"42", b"-7", b"+5", b"007", b"1\\2\\3 ", b"4 "],
    "TM": [b"101600", b"1016", b"10", b"101600.123456", b"101600 ", b"1016\\1017"],
    "DA": [b"20240315", b"20240315\\20240316"],
}
LEFT_TO_PYDICOM = {
    "DS": [b"1.2345678901234567", b" 1.5", b"1.5  ", b"1\\\\2", b"", b"NaN", b"1,5", b"1.5\0"],
    "IS": [b"1.0", b"99999999999", b" 4", b""],
    "TM": [b"101600.1234567", b"10:16:00"],
    "DA": [b"2024-03-15", b"2024031"],
}


@pytest.mark.parametrize(
    ("vr", "value", "plain"),
    [(vr, value, True) for vr, values in PLAIN_VALUES.items() for value in values]
    + [(vr, value, False) for vr, values in LEFT_TO_PYDICOM.items() for value in values],
)
def test_a_plain_value_reads_as_pydicom_reads_it(vr, value, plain):
    """Inventory texts of DS, IS, TM and DA skip pydicom for plain values: same text as
    pydicom's conversion, or left to pydicom."""
    from pydicom.dataelem import RawDataElement, convert_raw_data_element
    from pydicom.tag import BaseTag

    from anon_pipeline.engine.files.inventory import value_text

    text = streaming_facts.plain_value_text(vr, value)
    if text is not None:
        raw = RawDataElement(BaseTag(0x00200032), vr, len(value), value, 0, False, True)
        with quiet_pydicom():
            assert text == value_text(convert_raw_data_element(raw))
    assert (text is not None) == plain


def test_plain_values_go_to_pydicom_when_it_is_set_to_convert_them(monkeypatch):
    """The plain texts were checked against pydicom's defaults; set otherwise, pydicom
    converts every value itself."""
    from pydicom import config

    assert streaming_facts.plain_value_text("DS", b"1.25") == "1.25"
    monkeypatch.setattr(config, "use_DS_decimal", True)
    assert streaming_facts.plain_value_text("DS", b"1.25") is None
    monkeypatch.setattr(config, "use_DS_decimal", False)
    monkeypatch.setattr(config, "datetime_conversion", True)
    assert streaming_facts.plain_value_text("TM", b"101600") is None
