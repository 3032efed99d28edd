"""The text-in-pixels check in a batch: text held by device, clean slices released byte
for byte, other SOP classes skipped, and what was read never quoted."""

import random
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import MRImageStorage

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.synthetic.cds import fake_patient, make_realistic_ct_slice
from anon_pipeline.synthetic.phantoms import phantom_slice, stored_values
from anon_pipeline.synthetic.pixel_trials import (
    SliceSource,
    TextTrial,
    burn_in,
    fonts,
    run_clean_trials,
    run_text_trials,
)
from anon_pipeline_tests.conftest import TEST_KEY

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
NAME = "KOWALSKA Żaneta 1962-03-04"


@pytest.fixture(scope="module")
def pixel_batch(tmp_path_factory, blacklist, whitelist):
    root = tmp_path_factory.mktemp("pixels")
    patient = fake_patient(5)
    body = phantom_slice(np.random.default_rng(5), region="chest")
    trial = TextTrial(
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 12, "corner", 1, "full", (NAME,), 1
    )
    images = {
        "KEY": stored_values(burn_in(body, trial, random.Random(1))),
        "CLEAN": stored_values(body),
        "MR": stored_values(body),
    }
    batch = root / "in" / "cd_pixels"
    batch.mkdir(parents=True)
    for number, (name, pixels) in enumerate(images.items(), start=1):
        dataset = make_realistic_ct_slice(patient, "pixels", number, 1)
        dataset.PixelData = pixels.tobytes()
        if name == "MR":
            dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = MRImageStorage
        dataset.save_as(batch / name, enforce_file_format=True)
    paths = BatchPaths(batch, root / "secure", root / "release")
    report = anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    rows = {row["relative_path"]: row for row in read_rows(paths.manifest)}
    return paths, report, rows, images


def test_burned_in_text_is_held_clean_pixels_released_other_classes_skipped(pixel_batch):
    paths, report, rows, images = pixel_batch
    assert rows["KEY"]["disposition"].startswith("held: text in pixels (device ")
    assert rows["CLEAN"]["disposition"] == "anonymized"
    assert rows["MR"]["disposition"] == "skipped: outside the release scope (MRImageStorage)"
    released = list(paths.release_files.rglob("*.dcm"))
    assert len(released) == 1
    from pydicom import dcmread

    assert dcmread(released[0]).PixelData == images["CLEAN"].tobytes()  # byte for byte
    assert report.reasons["held: text in pixels"] == 1
    assert report.reasons["skipped: outside the release scope"] == 1


def test_what_was_read_is_never_quoted(pixel_batch):
    _, report, rows, _ = pixel_batch
    shown = " ".join(str(row["disposition"]) for row in rows.values()) + str(report)
    for word in NAME.split():
        assert word.lower() not in shown.lower()


def test_generated_trials_hold_most_text_and_few_clean_slices():
    """A small version of `make bench-pixels` (docs/benchmarks.md has the full figures):
    a guard against losing ground, not the goal, which is every text image held."""
    text, _ = run_text_trials(40, seed=3)
    clean, _ = run_clean_trials(40, seed=4)
    assert sum(text.held.values()) >= 35, text.released  # 30 of 40 on 2026-12-02, 36 on -03
    assert sum(clean.held.values()) <= 1, clean.held  # 0 of 40 on 2026-12-03
    # Every trial is counted by where its text stands and whether its slice has a metal
    # implant's streaks (the bench's rates of misses), and every miss once more.
    assert sum(text.drawn.values()) == text.total
    assert sum(text.missed.values()) == len(text.released)
    assert all(text.missed[kind] <= text.drawn[kind] for kind in text.missed)
    assert {kind.split(", ")[1] for kind in text.drawn} == {"streaks", "no streaks"}
    # Held only by a chance line off the text: a held trial, counted once more.
    assert len(text.lucky) <= sum(text.held.values())


def test_a_text_held_with_no_region_over_it_is_counted_as_held_by_chance(monkeypatch):
    """A text image held by a chance line elsewhere in its slice is a miss the check did
    not see: counted apart from those held with a region over their text."""
    from anon_pipeline.engine.dicom import pixel_text
    from anon_pipeline.engine.files import pixel_check
    from anon_pipeline.engine.rules.holds import Held, HoldKind

    held = Held(HoldKind.TEXT_UNREAD, "device 00000000")
    monkeypatch.setattr(pixel_check, "text_in_pixels", lambda data, identifiers: held)
    seen, _ = run_text_trials(6, seed=3)
    assert sum(seen.held.values()) == 6
    assert len(seen.lucky) < 6  # most texts are found where they stand
    monkeypatch.setattr(pixel_text, "text_regions", lambda frame, contrast: [])
    unseen, _ = run_text_trials(6, seed=3)
    assert len(unseen.lucky) == 6


def test_low_dose_slices_are_not_held_for_their_noise():
    """Clean slices with 35 HU of white noise (a low-dose or sharp-kernel CT): with a fixed
    60 HU contrast every one was held as unread text, at a third of a second each."""
    clean, _ = run_clean_trials(24, seed=5, anatomies=4, noise=35.0)
    assert sum(clean.held.values()) <= 1, clean.held


def test_a_real_ct_whose_air_is_stored_at_the_floor_is_released():
    """pydicom's own CT slice of a real abdomen, its air stored partly at -1,024 HU: the
    runs of that value in the gap of its table, at the frame's edge, were held as a line
    of text written up the frame (session 45). Its pixels are decoded from JPEG 2000."""
    from pydicom.data import get_testdata_file

    from anon_pipeline.engine.files.pixel_check import text_in_pixels

    path = get_testdata_file("explicit_VR-UN.dcm")
    assert path is not None
    assert text_in_pixels(Path(path).read_bytes(), ()) is None


def test_a_clean_body_read_whole_is_not_held_and_a_name_read_whole_is():
    """A risk class (a reformat, a localizer, a key image) is read whole too: tesseract
    made three-letter words of these six clean slices at 60 to 75 (held as text in
    pixels); a name in a corner reads at over 80."""
    from anon_pipeline.engine.files import pixel_check
    from anon_pipeline.engine.rules.text_holds import TextVerdict

    source = SliceSource(25)
    slices = [stored_values(source.next()) for _ in range(38)]
    for number in (3, 11, 28, 30, 35, 37):
        reading = pixel_check.read_frame(slices[number], 60.0, risky=True)
        assert reading.verdict(()) is not TextVerdict.IDENTIFYING, number
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    trial = TextTrial(font, 22, "corner", 1, "full", ("KOWALSKI JAN",), 1)
    named = stored_values(burn_in(SliceSource(25).next(), trial, random.Random(3)))
    confident = [
        text
        for text, confidence in pixel_check.read(named)
        if confidence >= pixel_check.WHOLE_CONFIDENCE
    ]
    assert any("KOWALSKI" in text.upper() for text in confident), confident


def test_trial_noise_has_the_level_asked_white_or_in_a_soft_kernels_grains():
    """The bench's noisy sets: `noise` HU over the phantom, white, or blurred by `grain`
    pixels so that neighbours move together as a soft kernel's do."""
    for grain in (0.0, 1.2):
        source = SliceSource(9, pool=1, noise=30.0, grain=grain)
        first, second = source.next(), source.next()
        added = (first - second) / np.sqrt(2)  # the phantom cancels: two draws of noise
        assert added.std() == pytest.approx(30.0, rel=0.03)
        neighbours = np.corrcoef(added[:, 1:].ravel(), added[:, :-1].ravel())[0, 1]
        assert (neighbours > 0.5) if grain else (abs(neighbours) < 0.05)


def test_the_hold_switched_off_reads_no_pixels(whitelist, blacklist, tmp_path):
    import dataclasses

    from anon_pipeline.engine.files.stage import Stage, StageJob

    off = dataclasses.replace(whitelist, holds=whitelist.holds - {"text_in_pixels"})
    folders = (tmp_path, tmp_path / "o", tmp_path / "w")
    assert StageJob(Stage.WHITELIST, whitelist, TEST_KEY, *folders).reads_pixels
    assert not StageJob(Stage.WHITELIST, off, TEST_KEY, *folders).reads_pixels
    assert not StageJob(Stage.BLACKLIST, blacklist, TEST_KEY, *folders).reads_pixels


def test_the_review_page_shows_what_was_withheld_and_the_held_frame(pixel_batch):
    from anon_pipeline.engine.release.withheld import held_pictures, withheld_counts

    paths, _, rows, _ = pixel_batch
    counts = withheld_counts(paths)
    assert counts[rows["KEY"]["disposition"]] == 1
    assert counts["skipped: outside the release scope (MRImageStorage)"] == 1
    assert "anonymized" not in counts
    pictures = held_pictures(paths)
    assert len(pictures) == 1 and pictures[0][2].startswith("data:image/png;base64,")
    disposition, device, _ = pictures[0]
    assert disposition == rows["KEY"]["disposition"]
    # The device in words, what its hash in the disposition stands for.
    assert "512x512" in device and "ORIGINAL\\PRIMARY" in device, device


def test_rows_alone_in_their_series_are_read_whole():
    from anon_pipeline.engine.files.scan import Kind, ScannedFile
    from anon_pipeline.engine.files.stage import lone_rows

    def row(number, name):
        return ScannedFile(number, name, 1, Kind.IMAGE)

    rows = [row(0, "s1/a/1.dcm"), row(1, "s1/a/2.dcm"), row(2, "s1/b/1.dcm"), row(3, "x.dcm")]
    assert lone_rows(rows) == frozenset({2})


def test_a_full_contrast_name_over_the_lungs_is_found():
    from anon_pipeline.engine.dicom.pixel_text import text_regions

    body = phantom_slice(np.random.default_rng(5), region="chest")
    for size in (12, 20, 25):
        trial = TextTrial(
            "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
            size,
            "body",
            1,
            "full",
            ("KOWALSKA Ewa",),
            1,
        )
        assert text_regions(stored_values(burn_in(body, trial, random.Random(size)))), size


def test_a_frame_seen_before_is_judged_against_each_files_own_identifiers():
    """The same pixels in two files: a short number that is nothing to one patient is
    the other's ID. The memo once kept the first file's verdict for both."""
    from anon_pipeline.engine.files.pixel_check import forget_readings, text_in_pixels
    from anon_pipeline.engine.rules.holds import HoldKind
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, template_slice

    body = phantom_slice(np.random.default_rng(6), region="head")
    trial = TextTrial(
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 24, "corner", 1, "full", ("4821",), 1
    )
    data = dicom_bytes(template_slice(), [stored_values(burn_in(body, trial, random.Random(3)))])
    forget_readings()
    assert text_in_pixels(data, ("Nowak", "7734")) is None  # a number, no one's here
    held = text_in_pixels(data, ("Lis", "4821"))
    assert held is not None and held.kind is HoldKind.TEXT_IN_PIXELS
    assert text_in_pixels(data, ("Nowak", "7734")) is None


def test_a_dark_date_over_the_lungs_that_only_its_flat_cores_show_is_held(monkeypatch):
    """Dark letters crossing a lung's air: the stroke look alone found no line and the
    file was released; the flat cores box it, and OCR's reading holds it."""
    from anon_pipeline.engine.dicom import pixel_text
    from anon_pipeline.engine.files.pixel_check import forget_readings, text_in_pixels
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, template_slice

    chest = phantom_slice(np.random.default_rng(12), region="chest")
    oblique = "/usr/share/fonts/truetype/freefont/FreeSansBoldOblique.ttf"
    trial = TextTrial(oblique, 21, "body", -1, "full", ("1997-08-08",), 1)
    image = stored_values(burn_in(chest, trial, random.Random(1)))
    data = dicom_bytes(template_slice(), [image])
    with monkeypatch.context() as stroke_look_alone:
        stroke_look_alone.setattr(pixel_text, "flat_lines", lambda *arguments: [])
        forget_readings()
        assert text_in_pixels(data, ()) is None  # what was released
    forget_readings()
    held = text_in_pixels(data, ())
    assert held is not None and "1997" not in str(held)


def test_a_noisy_frames_region_is_read_averaged_down_too(monkeypatch):
    """The bench's trial 260 of seed 202 under 30 HU of noise: "25.04.1964" in DejaVu
    Sans Mono Bold 19 px, 150 HU under a corner's air. The looks box it, but OCR read the
    noisy crop as a few confident letters and numbers, nothing identifying, and the file
    was released. Averaged down as the looks found it, it reads as the date."""
    from anon_pipeline.engine.files import pixel_check
    from anon_pipeline.engine.rules.holds import HoldKind
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, replayed_trial, template_slice

    label, frame, _ = replayed_trial(202, 30.0, 260)
    assert label == "DejaVuSansMono-Bold 19px corner dark +150"
    data = dicom_bytes(template_slice(), [frame])
    pixel_check.forget_readings()
    held = pixel_check.text_in_pixels(data, ())
    assert held is not None and held.kind is HoldKind.TEXT_IN_PIXELS
    assert "1964" not in str(held)
    monkeypatch.setattr(pixel_check, "READ_AVERAGED", False)
    pixel_check.forget_readings()
    assert pixel_check.text_in_pixels(data, ()) is None  # what was released


@pytest.mark.parametrize(
    "font,size,text,seed",
    [
        ("dejavu/DejaVuSansMono-BoldOblique.ttf", 14, "W:1500 L:-600", 3),
        ("dejavu/DejaVuSansCondensed-Oblique.ttf", 19, "W 400 L 40", 0),
    ],
)
def test_a_safe_annotation_boxed_in_parts_is_read_as_its_line(monkeypatch, font, size, text, seed):
    """The looks box a window setting in parts, and a part cut mid-word reads as a stray
    letter or nothing: the slice was held unread. Read again as its whole line it is safe
    annotation. The same line with a name on it is held either way."""
    from anon_pipeline.engine.files import pixel_check
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, template_slice

    def slice_with(line: str) -> bytes:
        trial = TextTrial(
            "/usr/share/fonts/truetype/" + font, size, "corner", 1, "full", (line,), 1
        )
        image = burn_in(SliceSource(seed + 50).next(), trial, random.Random(seed))
        return dicom_bytes(template_slice(), [stored_values(image)])

    safe, named = slice_with(text), slice_with(f"{text} NOWAK")
    for read_lines, flipped, safe_held in (
        (False, False, True),
        (True, False, False),
        (True, True, False),
    ):
        monkeypatch.setattr(pixel_check, "READ_LINES", read_lines)
        monkeypatch.setattr(pixel_check, "READ_FLIPPED", flipped)
        pixel_check.forget_readings()
        assert (pixel_check.text_in_pixels(safe, ()) is not None) is safe_held
        pixel_check.forget_readings()
        assert pixel_check.text_in_pixels(named, ()) is not None


def test_regions_of_one_line_are_grouped_and_stacked_lines_are_not():
    from anon_pipeline.engine.dicom.pixel_text import Region
    from anon_pipeline.engine.files.pixel_check import one_line

    boxes = [
        Region(10, 24, 5, 60, 6),  # a line's first words
        Region(12, 24, 58, 120, 5),  # its last, boxed apart
        Region(11, 23, 5, 120, 9),  # the whole line, seen in the other polarity
        Region(30, 44, 5, 120, 9),  # the line under it
        Region(10, 24, 300, 360, 4),  # far along the same rows
    ]
    assert one_line(boxes) == [(0, 1, 2)]
    assert one_line(boxes[3:]) == []


def test_a_lines_reading_clears_only_its_parts_read_unread_never_what_identifies():
    from anon_pipeline.engine.files.pixel_check import FrameReading
    from anon_pipeline.engine.rules.text_holds import TextVerdict

    parts = ((7, (("a", 72.0),)), (7, (("50", 93.0), ("mAs", 90.0))))
    whole_line = ((0, 1), 7, ((("250", 91.0), ("mAs", 90.0)),))
    assert FrameReading(parts, ()).verdict(()) is TextVerdict.UNREAD
    assert FrameReading(parts, (), (whole_line,)).verdict(()) is TextVerdict.CLEAN
    # Another region not of the line, still unread; the line read unsure in one view.
    other = ((4, ()),)
    assert FrameReading(parts + other, (), (whole_line,)).verdict(()) is TextVerdict.UNREAD
    unsure = ((0, 1), 7, ((("250", 91.0), ("mAs", 90.0)), (("2S0", 20.0),)))
    assert FrameReading(parts, (), (unsure,)).verdict(()) is TextVerdict.UNREAD
    # Too few characters for the line's width; a name in the line; a part that identifies.
    wide = ((0, 1), 30, ((("250", 91.0), ("mAs", 90.0)),))
    assert FrameReading(parts, (), (wide,)).verdict(()) is TextVerdict.UNREAD
    named = ((0, 1), 12, ((("250", 91.0), ("mAs", 90.0), ("NOWAK", 92.0)),))
    assert FrameReading(parts, (), (named,)).verdict(()) is TextVerdict.IDENTIFYING
    dated = ((7, (("1962-03-04", 90.0),)), parts[1])
    assert FrameReading(dated, (), (whole_line,)).verdict(()) is TextVerdict.IDENTIFYING
    # A file's own identifier read in the line holds that file only.
    own = ((0, 1), 7, ((("250", 91.0), ("mAs", 90.0), ("4821", 95.0)),))
    assert FrameReading(parts, (), (own,)).verdict(("4821",)) is TextVerdict.IDENTIFYING
    assert FrameReading(parts, (), (own,)).verdict(("7734",)) is TextVerdict.CLEAN
    # Clean, as anything read sure that names no one is, but no annotation: a date in part.
    partial_date = ((0,), 4, ((("989-0", 90.0),),))
    assert FrameReading(((4, ()),), (), (partial_date,)).verdict(()) is TextVerdict.UNREAD


def test_a_doubtful_region_holds_only_where_what_is_read_does():
    """A line noise makes as often as text (`Region.doubtful`) read as nothing does not
    hold; read as a name, or as the file's own identifier, it does, as any region."""
    from anon_pipeline.engine.files.pixel_check import FrameReading
    from anon_pipeline.engine.rules.text_holds import TextVerdict

    nothing = ((4, ()),)
    assert FrameReading(nothing, ()).verdict(()) is TextVerdict.UNREAD
    assert FrameReading(nothing, (), (), frozenset({0})).verdict(()) is TextVerdict.CLEAN
    named = ((4, (("NOWAK", 91.0),)),)
    assert FrameReading(named, (), (), frozenset({0})).verdict(()) is TextVerdict.IDENTIFYING
    own = ((4, (("4821", 95.0),)),)
    assert FrameReading(own, (), (), frozenset({0})).verdict(("4821",)) is (TextVerdict.IDENTIFYING)
    # Only the doubtful region is let go: another unread one still holds.
    both = (*nothing, (6, ()))
    assert FrameReading(both, (), (), frozenset({0})).verdict(()) is TextVerdict.UNREAD


def test_a_lung_kernels_chance_line_does_not_hold_its_slice():
    """Slice 29 of pool 35 under 40 HU of a lung kernel's grain: its one line is doubtful
    and OCR reads nothing there. Held as unread before session 47; released now."""
    from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST
    from anon_pipeline.engine.files.pixel_check import forget_readings, read_frame, text_in_pixels
    from anon_pipeline.engine.rules.text_holds import TextVerdict
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, template_slice

    source = SliceSource(35, pool=4, noise=40.0, grain="lung")
    for _ in range(29):
        source.next()
    frame = stored_values(source.next())
    forget_readings()
    reading = read_frame(frame, STROKE_CONTRAST, False)
    assert reading.regions and reading.doubtful
    assert reading.verdict(()) is TextVerdict.CLEAN
    assert text_in_pixels(dicom_bytes(template_slice(), [frame]), ()) is None


def test_a_date_read_in_part_the_other_way_stays_held():
    """The bench's trial 134 of seed 24: "1989-05-13" in Liberation Mono Bold 28 px, 150 HU
    under the body. One region, read as nothing; the other way as "989-0", which names no
    one. A first form of the second reading took that as clean and released it."""
    from anon_pipeline.engine.files import pixel_check
    from anon_pipeline.engine.rules.holds import HoldKind
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, replayed_trial, template_slice

    label, frame, _ = replayed_trial(24, 8.0, 134)
    assert label == "LiberationMono-Bold 28px body dark +150"
    pixel_check.forget_readings()
    held = pixel_check.text_in_pixels(dicom_bytes(template_slice(), [frame]), ())
    assert held is not None and held.kind is HoldKind.TEXT_UNREAD


@pytest.mark.parametrize(
    "flipped_reading,verdict",
    [
        ((("W", 95.0), ("400", 92.0), ("L", 92.0), ("40", 95.0)), "clean"),
        ((("NOWAK", 93.0),), "text in pixels"),
        ((("W", 95.0), ("4O0", 31.0)), "text in pixels, unread"),
    ],
)
def test_a_region_read_as_nothing_is_read_the_other_polarity_too(
    monkeypatch, flipped_reading, verdict
):
    """A +150 HU window setting in a corner whose crop took it for the wrong polarity was
    read as nothing and held unread; read the other way it is whole. What that reading
    says stands as any reading does: safe, identifying, or unsure and still unread."""
    from anon_pipeline.engine.dicom.pixel_text import Region
    from anon_pipeline.engine.files import pixel_check
    from anon_pipeline.engine.rules.text_holds import TextVerdict

    asked: list[bool] = []

    def read(crop: np.ndarray, flipped: bool = False) -> list[tuple[str, float]]:
        asked.append(flipped)
        return list(flipped_reading) if flipped else []

    region = Region(480, 497, 356, 505, 7)
    monkeypatch.setattr(pixel_check, "text_regions", lambda *arguments: [region])
    monkeypatch.setattr(pixel_check, "read", read)
    frame = np.zeros((512, 512), np.int16)
    reading = pixel_check.read_frame(frame, 60.0, risky=False)
    assert asked == [False, True]
    assert reading.verdict(()) is TextVerdict(verdict)
    monkeypatch.setattr(pixel_check, "READ_FLIPPED", False)
    assert pixel_check.read_frame(frame, 60.0, risky=False).verdict(()) is TextVerdict.UNREAD
