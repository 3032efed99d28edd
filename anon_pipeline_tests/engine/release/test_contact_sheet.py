"""Visual QC: one tile per series, decodable or clearly marked for a look by hand."""

from PIL import Image

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.release.contact_sheet import CAPTION, COLUMNS, TILE, write_contact_sheet
from anon_pipeline.synthetic.cds import write_hostile_cd
from anon_pipeline_tests.conftest import TEST_KEY


def test_every_series_gets_a_thumbnail(processed_cd, tmp_path):
    output = tmp_path / "sheet.png"
    report = write_contact_sheet(processed_cd.paths, output)
    assert (report.series, report.decoded, report.not_decodable) == (6, 6, 0)
    image = Image.open(output)
    assert image.size == (COLUMNS * TILE, TILE + CAPTION)
    assert image.convert("L").getextrema()[1] > 0  # something was drawn, not an empty sheet


def test_a_batch_with_nothing_released_says_so_instead_of_a_black_sheet(processed_cd, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = processed_cd.paths
    copy = tmp_path / "manifest.parquet"
    shutil.copy(paths.manifest, copy)
    table = pq.read_table(copy)
    nothing = table.set_column(
        table.schema.get_field_index("outcome"), "outcome", pa.array(["skipped"] * len(table))
    )
    pq.write_table(nothing, paths.manifest)
    try:
        report = write_contact_sheet(paths, tmp_path / "sheet.png")
    finally:
        shutil.copy(copy, paths.manifest)
    assert report.series == 0
    lit = sum(1 for value in Image.open(tmp_path / "sheet.png").convert("L").getdata() if value)
    assert lit > 500  # the words, not an empty black image


def test_series_that_cannot_be_decoded_are_marked_not_dropped(tmp_path, blacklist, whitelist):
    write_hostile_cd(tmp_path / "in" / "hostile")
    paths = BatchPaths(tmp_path / "in" / "hostile", tmp_path / "secure", tmp_path / "release")
    anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    report = write_contact_sheet(paths, tmp_path / "sheet.png")
    series = {p.parent for p in paths.release_files.rglob("*.dcm")}
    assert report.series == len(series)
    assert report.decoded + report.not_decodable == report.series
    assert report.decoded >= 1  # native and RLE decode without plugins


def test_instance_numbers_come_from_the_first_bytes_as_pydicom_reads_them(processed_cd):
    """The middle slice is chosen by InstanceNumber, read from each file's first bytes
    by the raw parser: the same numbers pydicom reads, for every released file."""
    from pydicom import dcmread

    from anon_pipeline.engine.release.contact_sheet import instance_number, middle_slice

    files = processed_cd.release_files()
    for path in files:
        assert instance_number(path) == int(dcmread(path).InstanceNumber)
    series = [path for path in files if path.parent == files[0].parent]
    by_number = sorted(series, key=lambda path: int(dcmread(path).InstanceNumber))
    assert middle_slice(series) == by_number[len(by_number) // 2]
