"""End to end over a synthetic CD: nothing leaks, nothing is lost, nothing changes twice."""

import os
import stat
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest
from pydicom.uid import RLELossless

from anon_pipeline.engine.dicom.dicomfile import content_hash, pixel_data_hash
from anon_pipeline.engine.disk.tables import SideTables, write_inventory
from anon_pipeline.engine.files.inventory import attribute_values
from anon_pipeline.synthetic.cds import make_ct_slice
from anon_pipeline_tests.conftest import process_cd, query, run_pipeline, tree_digest, write_dataset


def encodings(value: str) -> list[bytes]:
    forms = {value, value.upper(), value.replace("^", " ")}
    return [form.encode(codec) for form in forms for codec in ("latin-1", "utf-8", "utf-16-le")]


def walk_tags(dataset):
    for element in dataset:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from walk_tags(item)


def input_uids(batch_dir):
    uids = set()
    for path in batch_dir.rglob("IM*"):
        for element in walk_tags(pydicom.dcmread(path)):
            if (
                element.VR == "UI"
                and element.value
                and not str(element.value).startswith("1.2.840.10008")
            ):
                uids.add(str(element.value))
    return uids


def inventory_values(release_dir):
    path = release_dir / "inventory.parquet"
    return [row[0] for row in query(f"SELECT value FROM '{path}' WHERE value IS NOT NULL")]


def assert_no_identifier_in(files, identifiers):
    """No identifier, in any encoding, in the bytes or the path of any file."""
    for path in files:
        data = path.read_bytes()
        for identifier in identifiers:
            assert not any(form in data for form in encodings(identifier)), (path.name, identifier)
            assert identifier not in str(path)


def test_no_planted_identifier_survives_in_bytes_paths_or_inventory(processed_cd):
    identifiers = [i for patient in processed_cd.patients for i in patient.identifiers()]
    files = processed_cd.release_files()
    assert len(files) == 18
    assert_no_identifier_in(files, identifiers)
    values = inventory_values(processed_cd.release_dir)
    for identifier in identifiers:
        assert not any(identifier in value for value in values), identifier


def test_stage1_output_holds_no_blacklisted_identifier(processed_cd):
    identifiers = [i for patient in processed_cd.patients for i in patient.identifiers()]
    files = processed_cd.stage1_files()
    assert len(files) == 18
    assert_no_identifier_in(files, identifiers)


def test_no_private_attribute_survives(processed_cd):
    for path in processed_cd.release_files() + processed_cd.stage1_files():
        assert not any(element.tag.is_private for element in walk_tags(pydicom.dcmread(path)))


def test_no_original_uid_survives(processed_cd):
    originals = input_uids(processed_cd.batch_dir)
    assert len(originals) == 18 + 6 + 3 + 3  # instances, series, studies, frames of reference
    blobs = [path.read_bytes() for path in processed_cd.release_files()]
    values = set(inventory_values(processed_cd.release_dir))
    for uid in originals:
        assert not any(uid.encode() in blob for blob in blobs)
        assert uid not in values
    uid_map = query(f"SELECT original_uid FROM '{processed_cd.secure_dir}/uid_map.parquet'")
    assert {row[0] for row in uid_map} == originals


def test_relationships_survive_and_references_resolve(processed_cd):
    by_input_study, by_input_series, outputs = {}, {}, {}
    for path in processed_cd.batch_dir.rglob("IM*"):
        source = pydicom.dcmread(path)
        row = query(
            f"SELECT output_name FROM '{processed_cd.paths.manifest}' "
            f"WHERE sop_instance_uid = '{source.SOPInstanceUID}'"
        )[0]
        output = pydicom.dcmread(processed_cd.release_dir / "dicom" / row[0])
        by_input_study.setdefault(source.StudyInstanceUID, set()).add(output.StudyInstanceUID)
        by_input_series.setdefault(source.SeriesInstanceUID, set()).add(output.SeriesInstanceUID)
        outputs[output.SOPInstanceUID] = output
        assert output.file_meta.MediaStorageSOPInstanceUID == output.SOPInstanceUID
        assert (
            row[0]
            == f"{output.StudyInstanceUID}/{output.SeriesInstanceUID}/{output.SOPInstanceUID}.dcm"
        )
    assert all(len(studies) == 1 for studies in by_input_study.values())
    assert len({next(iter(s)) for s in by_input_study.values()}) == len(by_input_study) == 3
    assert all(len(series) == 1 for series in by_input_series.values())
    assert len({next(iter(s)) for s in by_input_series.values()}) == 6
    references = [
        item.ReferencedSOPInstanceUID
        for output in outputs.values()
        for item in output.get("ReferencedImageSequence", [])
    ]
    assert len(references) == 12 and all(reference in outputs for reference in references)


def test_pixel_data_is_byte_identical(processed_cd):
    manifest = query(
        f"SELECT relative_path, pixel_hash, output_pixel_hash, output_name "
        f"FROM '{processed_cd.paths.manifest}' WHERE outcome = 'anonymized'"
    )
    assert len(manifest) == 18
    for relative_path, pixel_hash, output_pixel_hash, output_name in manifest:
        assert pixel_hash == output_pixel_hash
        source = pydicom.dcmread(processed_cd.batch_dir / relative_path)
        output = pydicom.dcmread(processed_cd.release_dir / "dicom" / output_name)
        assert source.PixelData == output.PixelData


def test_manifest_accounts_for_every_input_file(processed_cd):
    on_disk = sum(len(files) for _, _, files in os.walk(processed_cd.batch_dir))
    manifest = f"{processed_cd.paths.manifest}"
    counts = dict(query(f"SELECT outcome, count(*) FROM '{manifest}' GROUP BY ALL"))
    assert sum(counts.values()) == on_disk == processed_cd.report.files_in
    assert counts == {"anonymized": 18, "skipped": 3}
    assert query(f"SELECT count(*) FROM '{manifest}' WHERE disposition IS NULL")[0][0] == 0


def test_unknown_attributes_land_in_the_secure_review_queue(processed_cd):
    queue_path = processed_cd.secure_dir / "review_queue.parquet"
    queue = query(f"SELECT keyword, files, sample_values FROM '{queue_path}'")
    by_keyword = {keyword: (files, samples) for keyword, files, samples in queue}
    assert by_keyword["ContrastBolusAgent"] == (18, ["Omnipaque 350"])
    assert "SeriesDescription" not in by_keyword  # removed by stage 1 (Annex E: X)
    assert not any("Patient" in keyword for keyword in by_keyword)  # blacklisted before
    assert not list(processed_cd.release_dir.rglob("review_queue*"))


def test_secure_zone_is_private(processed_cd):
    assert stat.S_IMODE(processed_cd.secure_dir.stat().st_mode) == 0o700


def test_output_is_byte_identical_across_runs_and_worker_counts(tmp_path, processed_cd, key):
    again = run_pipeline(
        processed_cd.batch_dir, tmp_path / "again", key, processed_cd.patients, workers=1
    )
    assert tree_digest(again.release_dir / "dicom") == tree_digest(
        processed_cd.release_dir / "dicom"
    )
    for table in ("inventory", "uid_map", "manifest", "review_queue", "identifiers", "scan"):
        first = query(f"SELECT * FROM '{getattr(processed_cd.paths, table)}'")
        assert first and query(f"SELECT * FROM '{getattr(again.paths, table)}'") == first


def test_rerun_replaces_a_batch_whole_and_never_touches_the_input(tmp_path, patients, key):
    first = process_cd(tmp_path, patients[:1], key, workers=1)
    input_before = tree_digest(first.batch_dir)
    stray = first.release_dir / "dicom" / "stray.dcm"
    stray.write_bytes(b"left over from an older run")
    second = run_pipeline(first.batch_dir, tmp_path, key, patients[:1], workers=1)
    assert not stray.exists()
    assert len(second.release_files()) == 6
    assert tree_digest(first.batch_dir) == input_before
    leftovers = [p for p in (tmp_path / "release").iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize("source", ["rle", "no_preamble", "implicit"])
def test_other_encodings_are_anonymized_with_pixel_data_untouched(tmp_path, patients, key, source):
    dataset = make_ct_slice(patients[0], "s", 1, 1)
    batch = tmp_path / "incoming" / "b"
    if source == "rle":
        dataset.compress(RLELossless)
        write_dataset(batch / "IM1", dataset)
    elif source == "implicit":
        dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
        write_dataset(batch / "IM1", dataset)
    else:
        path = write_dataset(tmp_path / "tmp.dcm", dataset)
        batch.mkdir(parents=True)
        (batch / "IM1").write_bytes(path.read_bytes()[132:])
    source_pixels = pydicom.dcmread(batch / "IM1", force=True).PixelData
    result = run_pipeline(batch, tmp_path, key, patients[:1], workers=1)
    [output_path] = result.release_files()
    output = pydicom.dcmread(output_path)
    assert output.PixelData == source_pixels
    assert output.file_meta.TransferSyntaxUID == pydicom.dcmread(
        batch / "IM1", force=True
    ).file_meta.get("TransferSyntaxUID", output.file_meta.TransferSyntaxUID)
    assert pixel_data_hash(output) is not None
    assert patients[0].name.encode() not in output_path.read_bytes()


def test_the_inventory_counts_the_files_that_hold_each_value(processed_cd):
    """Workers count values per chunk; the sums must equal a count over the released files."""
    released = sorted((processed_cd.release_dir / "dicom").rglob("*.dcm"))
    expected = Counter()
    for path in released:
        expected.update(set(attribute_values(pydicom.dcmread(path))))
    inventory = processed_cd.release_dir / "inventory.parquet"
    rows = query(f"SELECT tag_path, keyword_path, vr, value, files FROM '{inventory}'")
    assert {row[:4]: row[4] for row in rows} == dict(expected)
    assert max(row[4] for row in rows) == len(released) > 1  # e.g. Modality: every file


def test_the_inventory_still_builds_from_parts_of_one_row_per_file(tmp_path):
    """Parts written before per-chunk counts (a row per file and value) give the same counts."""
    legacy = {
        "row": [1, 2, 2, 3],
        "tag_path": ["(0008,0060)"] * 4,
        "keyword_path": ["Modality"] * 4,
        "vr": ["CS"] * 4,
        "value": ["CT", "CT", "CT", "MR"],
    }
    folder = tmp_path / "values"
    folder.mkdir()
    pq.write_table(pa.table(legacy), folder / "chunk-000000.parquet")
    assert write_inventory(tmp_path, tmp_path / "inventory.parquet") == 2
    rows = query(f"SELECT value, files FROM '{tmp_path / 'inventory.parquet'}' ORDER BY value")
    assert rows == [("CT", 2), ("MR", 1)]
    counted = tmp_path / "counted"
    side_tables = SideTables(counted)
    side_tables.add(
        {"values": {**{k: v[:2] for k, v in legacy.items() if k != "row"}, "files": [2, 1]}}
    )
    side_tables.close()
    write_inventory(counted, counted / "inventory.parquet")
    assert query(f"SELECT sum(files) FROM '{counted / 'inventory.parquet'}'") == [(3,)]


def test_the_manifest_hashes_and_sizes_are_the_written_files(processed_cd):
    """Outputs are written and hashed part by part: the manifest must still name the
    exact bytes on disk (the sign-off fingerprint is built from these hashes)."""
    paths = processed_cd.paths
    manifest = f"'{paths.manifest}'"
    rows = query(
        f"SELECT output_name, output_size, output_hash FROM {manifest} WHERE outcome = 'anonymized'"
    )
    assert len(rows) >= 10
    for name, size, digest in rows:
        data = (paths.release_files / name).read_bytes()
        assert (len(data), content_hash(data)) == (size, digest), name
    outcomes = paths.stage1_dir / "outcomes.parquet"
    stage1 = query(
        f"SELECT output_name, output_hash FROM '{outcomes}' WHERE output_name IS NOT NULL"
    )
    assert stage1 and all(
        content_hash((paths.stage1_files / name).read_bytes()) == digest for name, digest in stage1
    )
