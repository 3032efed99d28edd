"""Visual QC: one tile per series, decodable or clearly marked for a look by hand."""

from PIL import Image

from anon_pipeline.engine.contact_sheet import COLUMNS, TILE, write_contact_sheet
from anon_pipeline.engine.pipeline import BatchPaths, anonymize_batch
from anon_pipeline.engine.synthetic import write_hostile_cd
from anon_pipeline_tests.conftest import TEST_KEY


def test_every_series_gets_a_thumbnail(processed_cd, tmp_path):
    output = tmp_path / "sheet.png"
    report = write_contact_sheet(processed_cd.paths, output)
    assert (report.series, report.decoded, report.not_decodable) == (6, 6, 0)
    image = Image.open(output)
    assert image.size == (COLUMNS * TILE, TILE + 16)
    assert image.convert("L").getextrema()[1] > 0  # something was drawn, not an empty sheet


def test_series_that_cannot_be_decoded_are_marked_not_dropped(tmp_path, blacklist, whitelist):
    write_hostile_cd(tmp_path / "in" / "hostile")
    paths = BatchPaths(tmp_path / "in" / "hostile", tmp_path / "secure", tmp_path / "release")
    anonymize_batch(paths, blacklist=blacklist, whitelist=whitelist, key=TEST_KEY, workers=1)
    report = write_contact_sheet(paths, tmp_path / "sheet.png")
    series = {p.parent for p in paths.release_files.rglob("*.dcm")}
    assert report.series == len(series)
    assert report.decoded + report.not_decodable == report.series
    assert report.decoded >= 1  # native and RLE decode without plugins
