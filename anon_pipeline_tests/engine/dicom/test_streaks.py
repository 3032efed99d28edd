"""A +150 HU word over soft tissue crossed by a metal implant's streaks: found by its
letters apart from the streaks, and missed without; where a letter crosses a streak its
pixels stay; metal is found over bone's level only."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import pixel_text, streaks
from anon_pipeline.engine.dicom.streaks import (
    Metal,
    beyond_fans,
    metal_in,
    points_at_metal,
    streak_lift,
    warped_round,
)
from anon_pipeline.synthetic.other_phantoms import nth_slice
from anon_pipeline.synthetic.phantoms import stored_values
from anon_pipeline.synthetic.pixel_trials import SliceSource, fonts

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SOFT, METAL, BONE = 40.0, 3000.0, 1200.0
WORD, SIZE, LEFT, TOP = "KOWALSKI", 20, 60, 100
CENTRE = (230.0, 170.0)  # row, column of the implant
CROSSED = (0, 1, 2, 4, 5, 7)  # the letters a streak runs through, at mid-height


def streaked_slice(streaks: bool = True, word: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A 256 x 320 slice of soft tissue with 8 HU of noise, `WORD` at +150 HU (20 px)
    and a metal disc whose streaks (+300 HU, 3 pixels wide) run through the word.
    Returns the slice and the word's pixels."""
    rng = np.random.default_rng(5)
    image = np.full((256, 320), SOFT, np.float32) + rng.normal(0, 8, (256, 320))
    drawn = Image.new("L", (320, 256), 0)
    font = ImageFont.truetype(DEJAVU, SIZE)
    if word:
        ImageDraw.Draw(drawn).text((LEFT, TOP), WORD, fill=255, font=font)
    cover = np.asarray(drawn, np.float32) / 255
    image += 150 * cover
    if streaks:
        lines = Image.new("L", (320, 256), 0)
        draw = ImageDraw.Draw(lines)
        row, column = CENTRE
        for index in CROSSED:
            x = LEFT + font.getlength(WORD[:index]) + font.getlength(WORD[index]) / 2
            angle = np.arctan2(TOP + 0.6 * SIZE - row, x - column)
            far = (column + 400 * np.cos(angle), row + 400 * np.sin(angle))
            near = (column - 400 * np.cos(angle), row - 400 * np.sin(angle))
            draw.line([near, far], fill=255, width=3)
        image += 300 * (np.asarray(lines) > 0)
        rows, columns = np.indices(image.shape)
        image[np.hypot(rows - row, columns - column) < 5] = METAL
    return np.rint(image).astype(np.int16), cover > 0.5


def over_word(frame: np.ndarray, word: np.ndarray, metals: list[Metal] | None) -> bool:
    return any(
        word[top:bottom, left:right].any()
        for top, bottom, left, right, _ in pixel_text.character_lines(
            frame, pixel_text.STROKE_CONTRAST, metals=metals
        )
    )


def test_a_word_crossed_by_streaks_is_found_apart_from_them():
    frame, word = streaked_slice()
    metals = metal_in(frame, pixel_text.STROKE_CONTRAST, pixel_text.STROKE_CONTRAST)
    assert len(metals) == 1
    assert abs(metals[0].row - CENTRE[0]) < 1 and abs(metals[0].column - CENTRE[1]) < 1
    assert over_word(frame, word, metals)
    assert not over_word(frame, word, None)  # the streaks join the letters
    assert over_word(*streaked_slice(streaks=False), None)  # alone, the word is a line


def test_the_whole_check_finds_the_streaked_word():
    frame, word = streaked_slice()
    regions = pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST)
    assert any(word[r.top : r.bottom, r.left : r.right].any() for r in regions)


def test_streaks_alone_make_no_line():
    frame, _ = streaked_slice(word=False)
    metals = metal_in(frame, pixel_text.STROKE_CONTRAST, pixel_text.STROKE_CONTRAST)
    assert metals
    assert pixel_text.character_lines(frame, pixel_text.STROKE_CONTRAST, metals=metals) == []


def test_a_letter_crossing_a_streak_keeps_its_lift():
    frame, word = streaked_slice()
    metals = metal_in(frame, pixel_text.STROKE_CONTRAST, pixel_text.STROKE_CONTRAST)
    bright, _ = pixel_text.character_pixels(frame, pixel_text.STROKE_CONTRAST)
    (lift,) = streak_lift((bright.lifted,), (bright.contrast,), metals, 0, 0)
    assert lift is not None
    left = np.maximum(bright.lifted - lift, 0)
    lone, _ = streaked_slice(word=False)  # no word: where the streaks alone are
    alone = pixel_text.character_pixels(lone, pixel_text.STROKE_CONTRAST)[0]
    streak = alone.lifted > alone.contrast
    crossing = word & streak
    assert crossing.sum() > 20  # the streaks do cross the letters
    # Off the letters the streaks' lift goes; where a letter crosses, a letter's stays.
    assert (left[streak & ~word] > bright.contrast).mean() < 0.1
    assert (left[crossing] > bright.contrast).mean() > 0.6  # part-covered edges: less
    assert (lift[~streak] == 0).mean() > 0.95  # and the rest of the slice is untouched


def test_metal_is_over_bone_and_in_the_frames_own_units():
    frame, _ = streaked_slice()
    assert metal_in(np.where(frame >= METAL, BONE, frame).astype(np.int16), 60.0, 60.0) == []
    # Stored with a rescale slope of 2: the threshold passed is 30 stored steps.
    stored = (frame // 2).astype(np.int16)
    assert len(metal_in(stored, 30.0, pixel_text.STROKE_CONTRAST)) == 1
    assert metal_in(np.full((64, 64), 100, np.uint8), 15.0, pixel_text.STROKE_CONTRAST) == []
    assert metal_in(np.full(64, 3000, np.int16), 60.0, 60.0) == []  # no frame: no metal


def test_a_line_in_the_metal_fan_is_not_taken():
    metal = Metal(row=100.0, column=100.0, size=12)
    beside = (98, 105, 110, 125, 4)  # 7 px tall, up to 25 px out: streaks' leftovers
    reaching = (98, 110, 110, 170, 6)  # a line of text beside the metal reaches farther
    assert not beyond_fans(beside, [metal], 0, 0)
    assert beyond_fans(reaching, [metal], 0, 0)
    assert not beyond_fans((0, 7, 10, 25, 4), [metal], 98, 100)  # crop coordinates


def test_the_warp_is_empty_past_the_crop_whatever_memory_held():
    """The warp reaches past the crop (to the metal's farthest corner); what lies there
    must be 0, not what freed memory held: stray bits made runs with the strokes, and
    a frame's regions changed from one process to the next."""
    nothing = np.zeros((50, 60), np.uint8)
    for _ in range(5):
        # Freed memory full of set bits, as earlier warps and masks leave it.
        stale = [np.full((1440, 200), 255, np.uint8) for _ in range(3)]
        del stale
        assert not warped_round(nothing, (10.0, 10.0), 200).any()


def test_a_comb_lying_along_a_streak_is_no_line(monkeypatch):
    """Under 30 HU of noise, a dark streak across the air beside a body holds a comb of
    specks that the plain look lined up as letters: one phantom of a fresh pool was held
    so in 5 of its 13 slices (session 42). A line whose letters lie mostly on a streak
    (`pixel_text.OFF_STREAKS`) is refused; text a streak crosses keeps most of its
    letters off it (the tests above)."""
    source = SliceSource(3302, pool=1, noise=30.0)  # the pool's first phantom: metal
    for _ in range(49):  # its 49th slice, as the pool of 24 drew it
        slice_ = source.next()
    frame = stored_values(slice_)
    contrast = pixel_text.STROKE_CONTRAST
    assert metal_in(frame, contrast, contrast)
    comb = (213, 223, 458, 484)  # rows and columns of the comb, in the air on the right

    def over_comb() -> bool:
        top, bottom, left, right = comb
        return any(
            r.top < bottom and r.bottom > top and r.left < right and r.right > left
            for r in pixel_text.stroke_lines(frame, contrast)
        )

    assert not over_comb()
    # The comb is pieces of one streak, too (`ONE_STRUCTURE`, session 43), its
    # letters are what the streak lifts along its ray (`STREAK_FIELD`, session 48), and
    # it stands only in a crop merged over the streak (`OWN_CROPS`, session 49): each
    # rule refuses it alone.
    monkeypatch.setattr(pixel_text, "ONE_STRUCTURE", False)
    assert not over_comb()
    monkeypatch.setattr(pixel_text, "OFF_STREAKS", False)
    assert not over_comb()
    monkeypatch.setattr(pixel_text, "STREAK_FIELD", False)
    assert not over_comb()
    monkeypatch.setattr(pixel_text, "OWN_CROPS", False)
    assert over_comb()
    monkeypatch.setattr(pixel_text, "ONE_STRUCTURE", True)
    assert not over_comb()


def bars(turn: float, count: int = 6, distance: float = 60.0) -> np.ndarray:
    """`count` bars 2 px wide and 9 long in a row 60 px down a 100 x 200 box, each
    along the way to a metal `distance` px over them at column 100, turned by `turn`
    (degrees) from it. A fan's streaks, cut short where they fade, look so."""
    box = Image.new("L", (200, 100), 0)
    draw = ImageDraw.Draw(box)
    for index in range(count):
        column = 100 + (index - (count - 1) / 2) * 14
        towards = np.arctan2(-distance, 100 - column) + np.radians(turn)
        step = 4.5 * np.array([np.cos(towards), np.sin(towards)])
        middle = np.array([column, 60.0])
        draw.line([tuple(middle - step), tuple(middle + step)], fill=255, width=2)
    return np.asarray(box) > 0


def test_a_row_of_pieces_pointing_at_a_metal_is_its_streaks(monkeypatch):
    """A fan's pieces point at the metal, and converge on it; turned across the way
    to it, or too few, they are no fan's; nor are they standing parallel, far from the
    metal, as a row of text's stems would (`POINTING_SPREAD`)."""
    metal = [Metal(0.0, 100.0, 10)]
    assert points_at_metal(bars(0), metal, 0, 0)
    assert not points_at_metal(bars(90), metal, 0, 0)
    assert not points_at_metal(bars(0, count=3), metal, 0, 0)
    # The box standing elsewhere in the frame: the metal's place is the frame's.
    assert points_at_metal(bars(0), [Metal(40.0, 130.0, 10)], 40, 30)
    far = [Metal(-940.0, 100.0, 10)]
    assert not points_at_metal(bars(0, distance=1000.0), far, 0, 0)
    monkeypatch.setattr(streaks, "POINTING_SPREAD", 0.0)
    assert points_at_metal(bars(0, distance=1000.0), far, 0, 0)


def test_letters_beside_a_metal_do_not_point_at_it():
    """The streaked word's letters (the tests above), and a date of ones 300 px under
    a metal, its stems all pointing at it, are no fan: they stand parallel."""
    frame, word = streaked_slice()
    metals = metal_in(frame, pixel_text.STROKE_CONTRAST, pixel_text.STROKE_CONTRAST)
    bright, _ = pixel_text.character_pixels(frame, pixel_text.STROKE_CONTRAST)
    rows, columns = np.flatnonzero(word.any(axis=1)), np.flatnonzero(word.any(axis=0))
    top, left = rows[0] - 2, columns[0] - 2
    box = bright.letters[top : rows[-1] + 3, left : columns[-1] + 3]
    assert not points_at_metal(box, metals, top, left)
    date = Image.new("L", (160, 24), 0)
    ImageDraw.Draw(date).text((2, 1), "11.11.1911", fill=255, font=ImageFont.truetype(DEJAVU, 20))
    assert not points_at_metal(np.asarray(date) > 128, [Metal(-300.0, 60.0, 10)], 0, 0)


def test_a_fan_of_smooth_streaks_holds_no_line(monkeypatch):
    """Slice 13 of the other style's seed 45: an implant whose streaks vary smoothly
    with the angle and fade with the distance; where they fade under the threshold a
    row of their pieces lined up as letters (`pixel_text.FROM_METAL`, session 44)."""
    frame = stored_values(nth_slice(45, 13)[0])
    assert pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST) == []
    monkeypatch.setattr(pixel_text, "FROM_METAL", False)
    assert pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST)
