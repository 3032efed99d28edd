"""Lines written up or down a frame along its sides: found, and read upright."""

import random

import numpy as np
import pytest

from anon_pipeline.engine.dicom import pixel_text, turned_text
from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, Region, turned_lines
from anon_pipeline.engine.dicom.turned_text import SIDE_STRIP, side_lines, turned_back
from anon_pipeline.engine.files import pixel_check
from anon_pipeline.engine.files.pixel_check import forget_readings, padded, text_in_pixels
from anon_pipeline.engine.rules.holds import HoldKind
from anon_pipeline.synthetic import pixel_trials as trials
from anon_pipeline.synthetic.phantoms import phantom_slice, stored_values

FONTS = "/usr/share/fonts/truetype/"


@pytest.mark.parametrize("turn", [1, -1])
@pytest.mark.parametrize("rows,width", [(512, 96), (300, 128)])
def test_a_box_of_a_turned_strip_comes_back_as_the_strips_own(turn, rows, width):
    rng = np.random.default_rng(rows + width + turn)
    view_rows, view_columns = np.rot90(np.zeros((rows, width)), turn).shape
    for _ in range(20):
        top, bottom = sorted(rng.choice(view_rows + 1, 2, replace=False))
        left, right = sorted(rng.choice(view_columns + 1, 2, replace=False))
        marked = np.zeros((view_rows, view_columns), bool)
        marked[top:bottom, left:right] = True
        strip = np.rot90(marked, -turn)
        above, below, start, end = turned_back((top, bottom, left, right), turn, rows, width)
        assert strip[above:below, start:end].all()
        assert strip.sum() == (below - above) * (end - start)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return phantom_slice(np.random.default_rng(12), region="chest")


def written_down_the_side(chest, font, size, polarity, contrast, text, turn, seed):  # noqa: PLR0913
    trial = trials.TextTrial(FONTS + font, size, "band", polarity, contrast, (text,), 1, turn=turn)
    image = stored_values(trials.burn_in(chest, trial, random.Random(seed)))
    drawn = image != stored_values(chest)
    return image, drawn


def along_the_rows(monkeypatch, image: np.ndarray) -> list[Region]:
    with monkeypatch.context() as rows_only:
        rows_only.setattr(pixel_text, "TURNED_SIDES", False)
        return pixel_text.text_regions(image, STROKE_CONTRAST)


@pytest.mark.skipif(not trials.fonts(), reason="the fonts are not installed")
@pytest.mark.parametrize(
    "font,size,polarity,contrast,text,turn,seed",
    [
        ("dejavu/DejaVuSans.ttf", 13, 1, "+150", "Nowak Jan 1961-03-12", 1, 3),
        ("dejavu/DejaVuSans.ttf", 13, -1, "+150", "Nowak Jan 1961-03-12", -1, 3),
        ("freefont/FreeSans.ttf", 11, 1, "full", "ID 88461299", 1, 5),
        ("freefont/FreeSans.ttf", 11, 1, "full", "ID 88461299", -1, 5),
        ("dejavu/DejaVuSansCondensed.ttf", 18, -1, "+150", "Wiśniewski 19/07/1947", 1, 11),
        ("freefont/FreeSansOblique.ttf", 20, 1, "+150", "Centrum Onkologii", -1, 12),
        ("liberation/LiberationSans-Regular.ttf", 16, 1, "+150", "Lis Małgorzata", -1, 13),
    ],
)
def test_a_line_written_down_a_side_is_found_there_and_nowhere_else(  # noqa: PLR0913
    monkeypatch, chest, font, size, polarity, contrast, text, turn, seed
):
    """The looks along the rows never see such a line (these were released); turned, each
    side's strip shows it as a line, boxed in the frame's own rows and columns."""
    image, drawn = written_down_the_side(chest, font, size, polarity, contrast, text, turn, seed)
    rows, columns = np.nonzero(drawn)
    assert np.ptp(rows) > 3 * np.ptp(columns)  # it runs down the frame
    assert columns.max() < SIDE_STRIP or columns.min() >= image.shape[1] - SIDE_STRIP

    def covering(regions: list[Region]) -> list[Region]:
        return [
            region
            for region in regions
            if drawn[region.top : region.bottom, region.left : region.right].sum()
            >= 0.5 * drawn.sum()
        ]

    assert not covering(along_the_rows(monkeypatch, image))
    found = covering(turned_lines(image, STROKE_CONTRAST))
    assert found
    assert all(region.bottom - region.top > region.right - region.left for region in found)
    assert {region.turn for region in found} == {1, -1}  # read either way up


@pytest.mark.skipif(not trials.fonts(), reason="the fonts are not installed")
def test_a_date_written_up_a_side_is_read_upright_as_a_date(chest):
    """OCR makes nothing of a line on its side: the crop is turned as the look saw it,
    and either way up, so the date reads as a date (held as text, not as unread)."""
    image, _ = written_down_the_side(
        chest, "dejavu/DejaVuSans-Bold.ttf", 16, 1, "full", "1961-03-12", 1, 7
    )
    forget_readings()
    held = text_in_pixels(trials.dicom_bytes(trials.template_slice(), [image]), ())
    assert held is not None and held.kind is HoldKind.TEXT_IN_PIXELS


def test_the_crop_of_a_turned_region_is_turned():
    view = np.arange(40 * 60).reshape(40, 60)
    plain = Region(10, 30, 20, 26, 3)
    turned = Region(10, 30, 20, 26, 3, turn=1)
    assert np.array_equal(padded(view, turned), np.rot90(padded(view, plain)))
    assert padded(view, turned).flags.c_contiguous


def test_turned_regions_are_never_joined_into_one_line_with_others():
    level = Region(100, 112, 40, 90, 5)
    beside = Region(100, 112, 92, 140, 5)
    turned = Region(98, 180, 91, 103, 5, turn=1)
    assert pixel_check.one_line([level, beside]) == [(0, 1)]
    assert pixel_check.one_line([level, turned]) == []


def test_clean_slices_have_no_turned_lines():
    source = trials.SliceSource(25)
    for _ in range(48):
        assert turned_lines(stored_values(source.next()), STROKE_CONTRAST) == []


def test_a_frame_too_narrow_for_sides_has_none():
    width = 2 * (SIDE_STRIP + turned_text.STRIP_OVERLAP) - 1
    assert side_lines(np.zeros((512, width), np.int16), lambda view: [(0, 10, 0, 90, 5)]) == []


def test_only_candidates_over_air_or_a_label_are_looked_at_closer():
    """The body's sides give the turned strips most of their candidates, and the closer
    look on them would cost as much as the check: only those mostly on air (under
    TURNED_GROUND over it), on white letters, or on a label's exact values are kept."""
    frame = np.full((64, 200), 24, np.int16)  # air, stored as -1,000 HU
    frame[:, 100:] = 1064 + np.random.default_rng(2).normal(0, 8, (64, 100))  # tissue
    frame[10:20, 60:70] = 4024  # white letters
    frame[40:60, 150:190] = 2224  # a label's box over the tissue
    air = pixel_text.air_level(frame)
    ground = (air + pixel_text.TURNED_GROUND, air + pixel_text.TURNED_WHITE)
    assert pixel_text.on_the_ground(frame, Region(0, 30, 10, 90, 4), ground)
    assert not pixel_text.on_the_ground(frame, Region(0, 30, 110, 140, 4), ground)
    assert pixel_text.on_the_ground(frame, Region(42, 58, 152, 188, 4), ground)
    assert pixel_text.on_the_ground(frame, Region(8, 22, 58, 72, 4), ground)


def test_the_air_is_read_inside_the_circle_a_scanner_fills():
    """Outside the field of view the bench's phantoms store noisy padding, lower than any
    air: taken for the air, it left every candidate over real air looked past."""
    rng = np.random.default_rng(3)
    frame = (24 + rng.normal(0, 20, (512, 512))).astype(np.int16)  # air, -1,000 HU
    outside = ~pixel_text.inscribed(frame.shape)
    frame[outside] = (-1024 + rng.normal(0, 8, np.count_nonzero(outside))).astype(np.int16)
    assert -40 < pixel_text.air_level(frame) < 24


def test_air_clipped_at_a_scanners_floor_is_that_value_over_its_padding():
    rng = np.random.default_rng(4)
    frame = (1064 + rng.normal(0, 8, (512, 512))).astype(np.int16)  # a body filling it
    frame[:, :150] = 0  # air clipped at -1,024 HU
    frame[~pixel_text.inscribed(frame.shape)] = -2000  # padding under it
    assert pixel_text.air_level(frame) == 0


def test_pieces_of_one_line_down_the_frame_are_as_long_as_the_line():
    pieces = [(292, 322, 5, 15), (294, 340, 6, 15), (367, 393, 5, 15)]  # "Kowalska Ewa"
    beside = (300, 330, 30, 40)  # the next line over: other columns
    far = (450, 470, 5, 15)  # more than TURNED_GAP widths on
    assert pixel_text.joined_lengths([*pieces, beside, far]) == [101, 101, 101, 30, 20]


def test_a_short_turned_line_is_doubtful_unless_it_is_a_piece_of_a_long_one(monkeypatch):
    """Alone, a line turned on a side shorter than TURNED_ASPECT of its widths is noise's as
    often as text's (a soft kernel's grains in the air beside a table): it holds only
    where OCR reads it. A name or a date is longer, and a line broken into pieces (a
    word lost to a space, upside down) is judged whole."""
    short = int(pixel_text.TURNED_ASPECT * 10) - 5
    lines = [(100, 100 + short, 20, 30, 4, 1), (300, 300 + short, 20, 30, 4, 1)]
    lines.append((300 + short + 12, 300 + 2 * short, 20, 30, 4, 1))
    monkeypatch.setattr(pixel_text, "side_lines", lambda frame, look: lines)
    regions = turned_lines(np.zeros((512, 512), np.int16), STROKE_CONTRAST)
    assert [(region.top, region.doubtful, region.turn) for region in regions] == [
        (100, True, 1),
        (100, True, -1),
        (300, False, 1),
        (300, False, -1),
        (300 + short + 12, False, 1),
        (300 + short + 12, False, -1),
    ]


@pytest.mark.parametrize("noise,looked", [(8.0, True), (40.0, False)])
def test_turned_lines_are_looked_for_only_where_the_noise_left_the_threshold(
    monkeypatch, noise, looked
):
    """A side's strip is half quiet padding outside the field of view: where noisy air
    raised the frame's threshold, the strip's own let the grain stand as lines (3 of 300
    clean slices under a standard kernel's 40 HU)."""
    side_line = Region(200, 300, 10, 20, 8, turn=1)
    monkeypatch.setattr(pixel_text, "turned_lines", lambda frame, contrast: [side_line])
    rng = np.random.default_rng(5)
    frame = (24 + rng.normal(0, noise, (256, 256))).astype(np.int16)
    assert pixel_text.noise_raised(frame, STROKE_CONTRAST) is not looked
    assert (side_line in pixel_text.text_regions(frame, STROKE_CONTRAST)) is looked
