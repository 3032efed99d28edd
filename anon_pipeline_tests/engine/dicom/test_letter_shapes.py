"""Letters are strokes round open space, a lung's blobs are discs: a short line of
letters may stand in margins as busy as a longer line's, a row of discs may not, and a
row of discs that needs quiet margins is no line at all."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.engine.dicom.letter_shapes import (
    disc_shaped,
    letter_shaped,
    solidity,
    widest_stroke,
)
from anon_pipeline.synthetic.pixel_trials import fonts

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def disc(diameter: int) -> np.ndarray:
    rows, columns = np.mgrid[:diameter, :diameter] - (diameter - 1) / 2
    return rows**2 + columns**2 <= (diameter / 2) ** 2


def test_a_square_fills_its_hull_a_disc_nearly_and_a_ring_or_a_letter_far_less():
    assert solidity(np.ones((6, 6), dtype=bool)) == pytest.approx(1.0)
    assert solidity(disc(9)) > 0.85
    ring = disc(11).copy()
    ring[2:9, 2:9] &= ~disc(7)
    assert solidity(ring) < 0.65
    letter_l = np.zeros((12, 8), dtype=bool)
    letter_l[:, :2] = True
    letter_l[-2:, :] = True
    assert solidity(letter_l) < 0.6  # an L fills little over half of it


def test_the_widest_stroke_is_the_largest_square_that_fits():
    assert widest_stroke(np.ones((5, 5), dtype=bool)) == 5
    assert widest_stroke(np.ones((12, 2), dtype=bool)) == 1  # a 2-wide square does not fit
    assert widest_stroke(np.ones((12, 3), dtype=bool)) == 3
    assert widest_stroke(disc(9)) >= 5


def drawn(text: str = "", discs: bool = False, specks: bool = True) -> np.ndarray:
    """A crop of soft tissue (40 HU) with a short line drawn at +150 HU: three digits
    of 20 px, or three discs as a lung's vessels stand, and a speck of the same
    strength in the margins over and under it (about 2 % of each)."""
    image = Image.new("L", (120, 70), 0)
    draw = ImageDraw.Draw(image)
    if text:
        draw.text((30, 20), text, fill=255, font=ImageFont.truetype(DEJAVU, 20))
    if discs:
        for left in (30, 46, 62):
            draw.ellipse((left, 26, left + 7, 37), fill=255)
    crop = 40 + 150 * np.asarray(image, dtype=np.float32) / 255
    if specks:
        crop[19:21, 40:43] += 150  # over the line
        crop[46:48, 50:53] += 150  # under it
    return crop.astype(np.int16)


def over_line(crop: np.ndarray) -> list[tuple[int, int]]:
    """The rows (top, bottom) of each line the closer look finds in the crop."""
    return [line[:2] for line in pixel_text.character_lines(crop, pixel_text.STROKE_CONTRAST)]


def blobs_of(crop: np.ndarray):
    strokes = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)[0]
    return strokes.letters, pixel_text.letter_blobs(strokes.letters)[0]


def test_digits_are_letter_shaped_and_discs_are_not():
    assert letter_shaped(*blobs_of(drawn("803")))
    assert not letter_shaped(*blobs_of(drawn(discs=True)))
    # The same digits drawn at 8 px: too small to tell a stroke from a disc.
    small = np.zeros((12, 30), dtype=bool)
    small[1:6, 1:5] = small[1:6, 8:12] = small[1:6, 15:19] = True
    assert not letter_shaped(small, [(6, 1, 1, 5, 1), (6, 1, 8, 12, 1), (6, 1, 15, 19, 1)])


def test_a_short_line_of_letters_may_stand_in_busy_margins_a_row_of_discs_may_not(monkeypatch):
    """Three digits of a date whose other digits a lung took stand in margins a speck of
    a vessel reaches; three letters of under six characters needed empty ones, and 8 of
    89 released texts were turned away so. Three discs in a row stay turned away."""

    assert over_line(drawn("803")) == [(24, 39)]
    assert over_line(drawn(discs=True)) == []
    monkeypatch.setattr(pixel_text, "letter_shaped", lambda letters, blobs: False)
    assert over_line(drawn("803")) == []


def test_digits_and_bold_small_words_are_no_discs_and_a_row_of_vessels_is():
    """Bold 9 and 11 px words fill up to 0.93 of their hull, but their strokes are a
    pixel or two: over every font Debian ships, 9 to 28 px, no word was disc-shaped."""
    assert disc_shaped(*blobs_of(drawn(discs=True)))
    assert not disc_shaped(*blobs_of(drawn("803")))
    folder = DEJAVU.rsplit("/", 1)[0]
    for face in ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf"):
        for size in (9, 11):
            image = Image.new("L", (90, 30), 0)
            font = ImageFont.truetype(f"{folder}/{face}", size)
            ImageDraw.Draw(image).text((4, 8), "11.1988", fill=255, font=font)
            crop = (40 + 2960 * np.asarray(image, dtype=np.float32) / 255).astype(np.int16)
            strokes = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)[0]
            blobs = pixel_text.letter_blobs(strokes.letters)[0]
            assert len(blobs) >= 3, (face, size)
            assert not disc_shaped(strokes.letters, blobs), (face, size)


def test_a_row_of_discs_in_empty_margins_is_no_line(monkeypatch):
    """Three discs on one baseline in empty margins were a line: 19 of the 54 clean
    slices held over the bench's seven clean sets were such rows of a lung's vessels or
    a soft kernel's grains. They are discs; letters are not."""

    assert over_line(drawn(discs=True, specks=False)) == []
    monkeypatch.setattr(pixel_text, "disc_shaped", lambda letters, blobs: False)
    assert over_line(drawn(discs=True, specks=False)) == [(26, 38)]
