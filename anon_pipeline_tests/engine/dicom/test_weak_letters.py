"""A +150 HU word over a lung crossed by vessels of +300 (a vessel's part volume):
found by its letters set apart from the vessels, and missed without; a vessel's soft
rim is no letter. (A vessel of +900 does not join a +150 letter: the letter's pixels
beside it are its halo's, `pixel_text.letter_parts`.)"""

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.engine.dicom.weak_letters import WEAK_LIFT, freed_shaped, weak_letters
from anon_pipeline.synthetic.pixel_trials import fonts

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
AIR, VESSEL = -850.0, -550.0
WORD, SIZE, LEFT, TOP = "KOWAL", 20, 30, 35


def lung_with_word(vessels: bool = True) -> tuple[np.ndarray, tuple[int, int]]:
    """A crop of a lung's air with `KOWAL` drawn at +150 HU, 20 px, each letter crossed
    through its middle by a vessel (a 3-pixel line at +300, 80 px long, turned 25 degrees
    more at each letter). Returns the crop and the word's rows."""
    font = ImageFont.truetype(DEJAVU, SIZE)
    word = Image.new("L", (200, 100), 0)
    ImageDraw.Draw(word).text((LEFT, TOP), WORD, fill=255, font=font)
    cover = np.asarray(word, dtype=np.float32) / 255
    crop = np.full(cover.shape, AIR, dtype=np.float32) + 150 * cover
    rows = np.flatnonzero(cover.any(axis=1))
    if vessels:
        tree = Image.new("L", (200, 100), 0)
        draw = ImageDraw.Draw(tree)
        for index, letter in enumerate(WORD):
            x = LEFT + font.getlength(WORD[:index]) + font.getlength(letter) / 2
            y = TOP + 0.6 * SIZE
            angle = np.radians(30 + 25 * index)
            dx, dy = 40 * np.cos(angle), 40 * np.sin(angle)
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=255, width=3)
        vessel = np.asarray(tree) > 0
        crop[vessel] = np.maximum(crop[vessel], VESSEL)
    return crop.astype(np.int16), (int(rows[0]), int(rows[-1]) + 1)


def over_word(crop: np.ndarray, rows: tuple[int, int]) -> bool:
    top, bottom = rows
    return any(
        line[0] < bottom and line[1] > top
        for line in pixel_text.character_lines(crop, pixel_text.STROKE_CONTRAST)
    )


def test_a_word_touching_vessels_is_found_by_its_weak_letters(monkeypatch):
    crop, rows = lung_with_word()
    assert over_word(crop, rows)
    monkeypatch.setattr(pixel_text, "weak_letters", lambda *arguments: None)
    assert not over_word(crop, rows)  # each letter is part of a vessel's blob
    assert over_word(*lung_with_word(vessels=False))  # alone, the word is a line


def test_a_vessels_soft_rim_is_no_weak_letter():
    """A vessel's part-volume edge is weak pixels beside strong ones: dropped."""
    rows, columns = np.mgrid[:40, :40]
    distance = np.hypot(rows - 20, columns - 20)
    # A core of 3 px radius at +300 over the air, falling off over 2 px: its rim pixels
    # stand as far over the air as a +150 letter's do.
    crop = AIR + 300 * np.clip((5 - distance) / 2, 0, 1)
    strokes = pixel_text.character_pixels(crop.astype(np.int16), pixel_text.STROKE_CONTRAST)[0]
    rim = strokes.letters & (strokes.lifted <= WEAK_LIFT * strokes.contrast)
    assert rim.any()  # the cut alone would leave a ring
    # The ring is dropped, so nothing is freed and there is no second look.
    assert weak_letters(strokes.letters, strokes.lifted, strokes.contrast) is None


def test_no_stronger_pixel_no_second_look():
    crop, _ = lung_with_word(vessels=False)
    strokes = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)[0]
    assert weak_letters(strokes.letters, strokes.lifted, strokes.contrast) is None


def test_letters_freed_from_vessels_are_letter_sized():
    crop, (top, bottom) = lung_with_word()
    strokes = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)[0]
    freed = weak_letters(strokes.letters, strokes.lifted, strokes.contrast)
    assert freed is not None
    assert (freed.heights >= bottom - top - 2).sum() >= 3  # KOWAL's letters, cut free
    assert freed.letters[top:bottom].sum() == freed.letters.sum()  # and nothing of the vessels


def test_a_speck_freed_from_a_vessel_is_no_reason_for_a_second_look(monkeypatch):
    crop = np.full((60, 60), AIR)
    crop[10:50, 30:33] = VESSEL
    crop[30:32, 33:36] = AIR + 150  # a 2 x 3 speck of +150 on the vessel's side
    crop = crop.astype(np.int16)
    strokes = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)[0]
    freed = weak_letters(strokes.letters, strokes.lifted, strokes.contrast)
    assert freed is not None and freed.heights.max() < pixel_text.MIN_CHARACTER_HEIGHT
    looks = []
    # The crop has no noise: ground of exact values, which the flat look would look at
    # again. Counted here is the look at freed letters only.
    monkeypatch.setattr(pixel_text, "FLAT_GROUND", 1.1)
    first_look = pixel_text.lines_of_blobs
    monkeypatch.setattr(
        pixel_text,
        "lines_of_blobs",
        lambda *arguments, **options: looks.append(options) or first_look(*arguments, **options),
    )
    pixel_text.character_lines(crop, pixel_text.STROKE_CONTRAST)
    assert len(looks) == 2  # one per polarity: none for the speck


def test_a_row_of_a_vessels_stubs_is_no_freed_line_but_a_word_is():
    """What the second look frees from a vessel is stubs that fill their hull; a word's
    letters are strokes round open space."""
    stubs = np.zeros((20, 60), dtype=bool)
    for left in (5, 20, 35):
        stubs[6:13, left : left + 6] = True  # 7 x 6, as a vessel's cut ends are
    members = [(13, 6, left, left + 6, 1) for left in (5, 20, 35)]
    assert not freed_shaped(stubs, members)

    font = ImageFont.truetype(DEJAVU, SIZE)
    image = Image.new("L", (160, 40), 0)
    ImageDraw.Draw(image).text((5, 5), WORD, fill=255, font=font)
    word = np.asarray(image) > 127
    count, _, stats, _ = cv2.connectedComponentsWithStats(word.view(np.uint8), connectivity=8)
    letters = [
        (top + height, top, left, left + width, 1)
        for left, top, width, height, _ in stats[1:].tolist()
    ]
    assert count - 1 == len(WORD) and freed_shaped(word, letters)
