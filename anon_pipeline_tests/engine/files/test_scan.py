import os

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from anon_pipeline.engine.files.scan import Kind, scan_batch
from anon_pipeline.synthetic.cds import make_ct_slice, write_cd_batch
from anon_pipeline_tests.conftest import tree_digest, write_dataset


def kinds(rows):
    return {row.relative_path: row.kind for row in rows}


def test_cd_batch_is_classified_file_by_file(tmp_path, patients):
    images = write_cd_batch(tmp_path / "cd", patients[:1], series=1, slices=2)
    rows = scan_batch(tmp_path / "cd", workers=1)
    found = kinds(rows)
    assert found["DICOMDIR"] is Kind.DICOMDIR
    assert found["AUTORUN.INF"] is Kind.NON_DICOM and found["README.TXT"] is Kind.NON_DICOM
    assert [found[str(p.relative_to(tmp_path / "cd"))] for p in images] == [Kind.IMAGE] * 2
    assert len(rows) == sum(len(files) for _, _, files in os.walk(tmp_path / "cd"))
    assert all(len(row.content_hash) == 32 for row in rows)


def test_damaged_and_odd_files_get_their_own_kind(tmp_path, patients):
    batch = tmp_path / "batch"
    good = write_dataset(batch / "good.dcm", make_ct_slice(patients[0], "s", 1, 1))
    data = good.read_bytes()
    (batch / "empty.dcm").write_bytes(b"")
    (batch / "cut_mid_element.dcm").write_bytes(data[: len(data) - 100])
    (batch / "cut_header.dcm").write_bytes(data[:200])
    (batch / "garbage.bin").write_bytes(os.urandom(2000))
    (batch / "link.dcm").symlink_to(good)
    (batch / "linked_folder").symlink_to(tmp_path, target_is_directory=True)
    report = Dataset()  # an instance without pixel data, e.g. a structured report
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    report.SOPInstanceUID = generate_uid()
    report.file_meta = FileMetaDataset()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    write_dataset(batch / "report.dcm", report)

    rows = {row.relative_path: row for row in scan_batch(batch, workers=1)}
    assert rows["good.dcm"].kind is Kind.IMAGE
    assert rows["empty.dcm"].kind is Kind.EMPTY
    assert rows["cut_mid_element.dcm"].kind is Kind.CORRUPT
    assert (
        "pixel data short" in rows["cut_mid_element.dcm"].detail
        or "truncated" in rows["cut_mid_element.dcm"].detail
    )
    assert rows["cut_header.dcm"].kind is Kind.CORRUPT
    assert rows["garbage.bin"].kind is Kind.NON_DICOM
    assert rows["link.dcm"].kind is Kind.SYMLINK
    assert rows["linked_folder"].kind is Kind.SYMLINK  # recorded, never followed
    assert rows["report.dcm"].kind is Kind.DICOM_OTHER


def test_file_without_preamble_is_still_dicom(tmp_path, patients):
    dataset = make_ct_slice(patients[0], "s", 1, 1)
    path = write_dataset(tmp_path / "b" / "with_preamble.dcm", dataset)
    (tmp_path / "b" / "RAW0001").write_bytes(path.read_bytes()[132:])  # meta + dataset, no preamble
    rows = kinds(scan_batch(tmp_path / "b", workers=1))
    assert rows["RAW0001"] is Kind.IMAGE


def test_same_bytes_twice_is_a_duplicate_of_the_first(tmp_path, patients):
    path = write_dataset(tmp_path / "b" / "a.dcm", make_ct_slice(patients[0], "s", 1, 1))
    (tmp_path / "b" / "z_copy.dcm").write_bytes(path.read_bytes())
    rows = {row.relative_path: row for row in scan_batch(tmp_path / "b", workers=1)}
    assert rows["a.dcm"].kind is Kind.IMAGE
    assert rows["z_copy.dcm"].kind is Kind.DUPLICATE
    assert rows["z_copy.dcm"].detail == f"of row {rows['a.dcm'].row}"


def test_different_files_claiming_one_uid_are_both_in_conflict(tmp_path, patients):
    first = make_ct_slice(patients[0], "s", 1, 1)
    second = make_ct_slice(patients[0], "s", 1, 1)
    second.WindowCenter = "50"  # different content, same SOPInstanceUID
    write_dataset(tmp_path / "b" / "one.dcm", first)
    write_dataset(tmp_path / "b" / "two.dcm", second)
    rows = scan_batch(tmp_path / "b", workers=1)
    assert [row.uid_conflict for row in rows] == [True, True]
    assert not any(row.is_processable for row in rows)


def test_scan_never_changes_the_input(tmp_path, patients):
    write_cd_batch(tmp_path / "cd", patients[:1], series=1, slices=2)
    before = tree_digest(tmp_path / "cd")
    scan_batch(tmp_path / "cd", workers=2)
    assert tree_digest(tmp_path / "cd") == before


def test_the_completion_marker_is_recorded_as_such(tmp_path, patients):
    write_cd_batch(tmp_path / "cd", patients[:1], series=1, slices=1)
    (tmp_path / "cd" / ".copy_complete").touch()
    (tmp_path / "cd" / "PT000000" / ".copy_complete").touch()  # only the top-level one counts
    rows = kinds(scan_batch(tmp_path / "cd", workers=1))
    assert rows[".copy_complete"] is Kind.MARKER
    assert rows["PT000000/.copy_complete"] is Kind.EMPTY
