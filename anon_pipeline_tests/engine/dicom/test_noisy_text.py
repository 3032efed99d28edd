"""Under 30 HU of white noise a +150 HU line over air stands over the raised thresholds
only in specks; averaged down three rows it stands whole (`noisy_text`). A lung's
edges under that averaged noise line up as letters, so a line only that look finds
must stand alone; frames of 8 or 15 HU are not looked at again. A thin face's stems
that still break over three rows stand whole over five (the second averaged look)."""

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import noisy_text, pixel_text
from anon_pipeline.engine.dicom.noisy_text import NOISY_ROWS, averaged_down, stands_alone
from anon_pipeline.synthetic.phantoms import stored_values
from anon_pipeline.synthetic.pixel_trials import SliceSource, fonts, replayed_trial

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
THIN = "/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf"
MONO = "/usr/share/fonts/truetype/freefont/FreeMono.ttf"
AIR = -1000.0
CONTRAST = pixel_text.STROKE_CONTRAST
LINE = "Kowalski Jan 14.06.1931"


def noisy_air(seed: int, noise: float, size: int = 16, polarity: int = 1, line: str = LINE):
    """A 512 x 512 frame of air (stored as HU + 1024) under `noise` HU of white noise,
    with `line` in DejaVu Sans ExtraLight 150 HU over (or under, `polarity` -1) the air
    in a band near its foot; and where the line's pixels are."""
    image = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(image).text((60, 470), line, fill=255, font=ImageFont.truetype(THIN, size))
    cover = np.asarray(image, dtype=np.float32) / 255
    values = np.random.default_rng(seed).normal(AIR + 1024, noise, cover.shape)
    values += polarity * 150 * cover
    return np.rint(values).astype(np.int16), cover > 0


def over_line(regions: list[pixel_text.Region], drawn: np.ndarray) -> bool:
    return any(drawn[r.top : r.bottom, r.left : r.right].any() for r in regions)


def test_only_frames_whose_noise_raised_the_cheap_look_are_looked_at_again():
    assert not pixel_text.noise_raised(noisy_air(0, 8.0)[0], CONTRAST)
    assert not pixel_text.noise_raised(noisy_air(0, 15.0)[0], CONTRAST)
    assert pixel_text.noise_raised(noisy_air(0, 30.0)[0], CONTRAST)
    # The frame's units: 30 HU of noise stored at a slope of 0.5 is 60 steps.
    doubled = noisy_air(0, 60.0)[0]
    assert pixel_text.noise_raised(doubled, CONTRAST / 0.5)
    assert not pixel_text.noise_raised(noisy_air(0, 16.0)[0], CONTRAST / 0.5)


def test_averaging_down_quiets_white_noise_and_keeps_a_stem():
    rng = np.random.default_rng(1)
    frame = np.rint(rng.normal(24, 30, (200, 200))).astype(np.int16)
    frame[50:150, 100:102] += 150  # a stem two pixels wide
    averaged = averaged_down(frame)
    assert averaged.dtype == frame.dtype
    flat = averaged[:, :80].astype(np.float64)
    assert flat.std() < 30 / np.sqrt(NOISY_ROWS) * 1.15
    stem = averaged[60:140, 100:102].astype(np.float64).mean() - flat.mean()
    assert 130 < stem < 170  # the stem's own rows keep its lift


def test_a_noisy_line_over_air_is_found_only_averaged(monkeypatch):
    trials = [noisy_air(0, 30.0, size, polarity) for size in (12, 16, 22) for polarity in (1, -1)]
    found = [over_line(pixel_text.text_regions(frame, CONTRAST), drawn) for frame, drawn in trials]
    monkeypatch.setattr(pixel_text, "noise_raised", lambda *arguments: False)
    without = [
        over_line(pixel_text.text_regions(frame, CONTRAST), drawn) for frame, drawn in trials
    ]
    # Measured on seeds 0 to 3: 6, 6, 6 and 5 of 6 found; 2, 1, 1 and 2 without.
    assert sum(found) >= 5
    assert sum(without) <= 3
    assert sum(found) > sum(without)


def test_noisy_air_alone_makes_no_line():
    for seed in range(10):
        frame, _ = noisy_air(seed, 30.0, line="")
        assert pixel_text.text_regions(frame, CONTRAST) == []


def test_noisy_chests_add_no_line():
    """Chests of phantoms with their vessels under 30 HU of noise: whatever the averaged
    look lines up among their edges does not stand alone."""
    source = SliceSource(28, 12, "chest", "crisp", 30.0, 0.0)
    added = 0
    for _ in range(12):
        frame = stored_values(source.next())
        assert pixel_text.noise_raised(frame, CONTRAST)
        added += len(pixel_text.noisy_lines(frame, CONTRAST, []))
    assert added == 0


def test_a_line_among_structures_does_not_stand_alone():
    letters = np.zeros((60, 200), dtype=bool)
    box = (20, 40, 20, 180)
    letters[24:36, 30:170:6] = True  # the line's own strokes
    assert stands_alone(letters, box, [])
    for column in range(0, 200, 9):  # a lung's vessels round it
        letters[2:16, column : column + 3] = True
        letters[44:58, column : column + 3] = True
    assert not stands_alone(letters, box, [])
    # The same strokes as lines found beside it are left out of its ring.
    assert stands_alone(letters, box, [(0, 18, 0, 200), (42, 60, 0, 200)])


def test_a_straight_band_across_the_ring_is_no_structure_round_a_line(monkeypatch):
    letters = np.zeros((60, 200), dtype=bool)
    box = (20, 40, 20, 180)
    letters[24:36, 30:170:6] = True  # the line's own strokes
    letters[2:12, :] = True  # a table's edge across the whole ring, above the line
    assert stands_alone(letters, box, [])
    monkeypatch.setattr(noisy_text, "BAND_ROW", 1.01)
    assert not stands_alone(letters, box, [])  # 2,000 of 8,800 ring pixels
    monkeypatch.undo()
    # A band broken into pieces still crosses the rows (the table's edges under noise).
    letters[2:12, 60:62] = letters[2:12, 130:131] = False
    assert stands_alone(letters, box, [])
    # One that ends inside the ring is structure, as a lung's edge would be.
    letters[2:12, 150:] = False
    assert not stands_alone(letters, box, [])


def test_a_bold_date_in_noisy_air_under_the_table_is_found(monkeypatch):
    """The bench's trial 142 of seed 7 under 30 HU of noise: "2001-04-01" in
    LiberationSans Narrow Bold 25 px, 150 HU under the air of the band at the frame's
    foot, a line's height below the table's two rails. The averaged look's line stood
    in a ring of 0.21 structure, all of it the rails' rows."""
    label, frame, drawn = replayed_trial(7, 30.0, 142)
    assert label == "LiberationSansNarrow-Bold 25px band dark +150"
    assert over_line(pixel_text.text_regions(frame, CONTRAST), drawn)
    monkeypatch.setattr(noisy_text, "BAND_ROW", 1.01)
    # The five-row look (session 39) finds it too, without the rule: left out here.
    monkeypatch.setattr(pixel_text, "MORE_NOISY_ROWS", 0)
    assert not over_line(pixel_text.text_regions(frame, CONTRAST), drawn)


def test_thin_text_in_noisy_air_is_found_averaged_down_five_rows(monkeypatch):
    """The bench's trial 22 of seed 11 under 30 HU of noise: two lines of FreeMono 14 px,
    150 HU under the air in a corner. Averaged down three rows its 1-pixel stems still
    break into specks; down five they stand whole, and its lines stand alone."""
    label, frame, drawn = replayed_trial(11, 30.0, 22)
    assert label == "FreeMono 14px corner dark +150"
    assert over_line(pixel_text.text_regions(frame, CONTRAST), drawn)
    monkeypatch.setattr(pixel_text, "MORE_NOISY_ROWS", 0)
    assert not pixel_text.text_regions(frame, CONTRAST)


def thin_line_in_air(seed: int, line: str = "14.06.1931") -> tuple[np.ndarray, np.ndarray]:
    """One line in FreeMono 17 px, 150 HU under the air of a band, under 30 HU of noise."""
    image = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(image).text((60, 470), line, fill=255, font=ImageFont.truetype(MONO, 17))
    cover = np.asarray(image, dtype=np.float32) / 255
    values = np.random.default_rng(seed).normal(AIR + 1024, 30.0, cover.shape) - 150 * cover
    return np.rint(values).astype(np.int16), cover > 0


def test_a_single_thin_line_in_noisy_air_is_found_averaged_down_five_rows(monkeypatch):
    """A date alone (no second line, no other word): one line alone of the five-row look
    holds the frame. Measured on seeds 1 to 3: found by it, by no look before it."""
    for seed in (1, 2, 3):
        frame, drawn = thin_line_in_air(seed)
        assert not pixel_text.averaged_lines(averaged_down(frame), CONTRAST, [])
        assert over_line(pixel_text.text_regions(frame, CONTRAST), drawn)
    monkeypatch.setattr(pixel_text, "MORE_NOISY_ROWS", 0)
    assert not any(
        over_line(pixel_text.text_regions(frame, CONTRAST), drawn)
        for frame, drawn in [thin_line_in_air(seed) for seed in (1, 2, 3)]
    )


def test_a_shallow_streaks_comb_is_no_line(monkeypatch):
    """The same trial's frame has metal: averaged down five rows, its shallow streaks
    across the body break into combs that stand alone as lines of letters. Off the
    streaks only the text's own lines are left."""
    _, frame, drawn = replayed_trial(11, 30.0, 22)
    lines = pixel_text.noisy_lines(frame, CONTRAST, [])
    assert lines
    assert all(drawn[r.top : r.bottom, r.left : r.right].any() for r in lines)
    monkeypatch.setattr(pixel_text, "STREAK_COMBS", False)
    combs = pixel_text.noisy_lines(frame, CONTRAST, [])
    assert sum(not drawn[r.top : r.bottom, r.left : r.right].any() for r in combs) >= 3


def lung_kernel_frame(seed: int, index: int) -> np.ndarray:
    """Slice `index` of a pool of four phantoms under 40 HU of a lung kernel's grain."""
    source = SliceSource(seed, pool=4, noise=40.0, grain="lung")
    for _ in range(index):
        source.next()
    return stored_values(source.next())


def test_a_lung_kernels_chance_line_is_doubtful():
    """Slice 29 of pool 35: a lung kernel's grain averaged down five rows lines up as
    four letters in flat tissue, with no more steps along its rows than above or below.
    The line is found, and doubtful: it holds only where OCR reads it (session 47)."""
    regions = pixel_text.text_regions(lung_kernel_frame(35, 29), CONTRAST)
    assert regions
    assert all(region.doubtful and region.stems <= noisy_text.FEW_CHARACTERS for region in regions)


def test_a_thin_date_in_noisy_air_is_no_doubtful_line():
    """The five-row look's own class (a FreeMono date 150 HU under a band's air) goes on
    along its rows past any part of it found: none of its lines is doubtful."""
    for seed in (1, 2, 3):
        frame, drawn = thin_line_in_air(seed)
        over = [
            region
            for region in pixel_text.text_regions(frame, CONTRAST)
            if drawn[region.top : region.bottom, region.left : region.right].any()
        ]
        assert over
        assert not any(region.doubtful for region in over)


def test_steps_along_a_line_of_letters_beat_the_rows_beside_it_and_noise_does_not():
    """On 200 boxes of a lung kernel's grain the ratio stays at most ALONG_ROWS in 120
    (noise alone is doubtful more often than not; 184 at 1.35); a box at the start of a
    thin date 150 HU under the air stands over it (1.49: thin +150 HU strokes lift the
    steps little, and a threshold set for noise alone would release such text)."""
    from anon_pipeline.synthetic.kernels import reconstructed

    rng = np.random.default_rng(5)
    calm = 0
    for _ in range(20):
        noise = reconstructed(np.full((256, 256), 40.0, np.float32), rng, "lung", 40.0)
        averaged = averaged_down(np.rint(noise).astype(np.int16), noisy_text.MORE_NOISY_ROWS)
        for row in range(40, 240, 20):
            calm += (
                noisy_text.steps_along(averaged, (row, row + 8, 100, 120)) <= noisy_text.ALONG_ROWS
            )
    assert calm >= 110, calm
    frame, drawn = thin_line_in_air(1)
    averaged = averaged_down(frame, noisy_text.MORE_NOISY_ROWS)
    rows = np.flatnonzero(drawn.any(axis=1))
    columns = np.flatnonzero(drawn.any(axis=0))
    first = (int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[0]) + 20)
    assert noisy_text.steps_along(averaged, first) > noisy_text.ALONG_ROWS


def test_steps_along_a_line_at_the_frames_top_row_compare_with_the_band_below_only():
    """A line in the frame's first rows has no band above it: the band below is the calm
    one, never rows wrapped round from the frame's foot (flat here, which would make
    the line's rows stand three times steeper than they do)."""
    frame = np.zeros((100, 200), np.int16)
    frame[0:8, :] = np.tile([0, 90], 100)  # the line's rows, going on beyond it
    frame[9:17, :] = np.tile([0, 30], 100)  # the band just below: steps of 30
    ratio = noisy_text.steps_along(frame, (0, 8, 100, 120))
    assert ratio == pytest.approx(3.0)


def test_steps_along_a_line_with_nothing_beside_it_measured_is_no_doubtful_line():
    """A line as wide as the frame has no rows beyond it either way: nothing measured,
    so it stays a plain line (infinity), never doubtful, whatever its rows hold."""
    frame = np.zeros((100, 200), np.int16)
    frame[40:48, :] = np.tile([0, 90], 100)
    ratio = noisy_text.steps_along(frame, (40, 48, 0, 200))
    assert ratio == math.inf
    assert not ratio <= noisy_text.ALONG_ROWS
