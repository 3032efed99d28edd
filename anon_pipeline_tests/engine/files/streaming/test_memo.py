"""Each worker's memo: keyed by everything a result depends on, bounded, and never the
reason a file is released or held differently."""

import dataclasses
from pathlib import Path

import pytest

from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
from anon_pipeline.engine.dicom.rawparse import Unsupported, parse_part10
from anon_pipeline.engine.files.stage import (
    Stage,
    StageJob,
    transform_with_pydicom,
)
from anon_pipeline.engine.files.streaming import memo as streaming_memo
from anon_pipeline.engine.files.streaming import stream_file
from anon_pipeline.synthetic.cds import (
    fake_patient,
    make_realistic_ct_slice,
)
from anon_pipeline_tests.conftest import TEST_KEY
from anon_pipeline_tests.engine.files.streaming.conftest import files_in


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
        assert str(transform_with_pydicom(job, encoded[2])).startswith("held: ")
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
