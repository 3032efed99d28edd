"""A thin face's +150 HU strokes break into specks over air; grown back through their
part-covered pixels (`grown_letters`) they make a line, which must stand alone. A
lung's vessels grown so line up too, and no such line may hold a clean slice."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.engine.dicom.grown_letters import grown_letters
from anon_pipeline.synthetic.phantoms import stored_values
from anon_pipeline.synthetic.pixel_trials import SliceSource, fonts

MONO = "/usr/share/fonts/truetype/freefont/FreeMono.ttf"
pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-freefont-ttf is not installed")
CONTRAST = pixel_text.STROKE_CONTRAST


def mono_over_air(seed: int, size: int, polarity: int, line: str):
    """A 512 x 512 frame of air under 8 HU of noise with `line` in FreeMono, 150 HU over
    (or under) the air near its top left corner; and where the line's pixels are."""
    image = Image.new("L", (512, 512), 0)
    at = (10 + seed, 8 + seed)
    ImageDraw.Draw(image).text(at, line, fill=255, font=ImageFont.truetype(MONO, size))
    cover = np.asarray(image, dtype=np.float32) / 255
    values = np.random.default_rng(seed).normal(-1000.0, 8.0, cover.shape)
    values += polarity * 150 * cover
    return np.rint(values).astype(np.int16), cover > 0


def over_line(regions: list[pixel_text.Region], drawn: np.ndarray) -> bool:
    return any(drawn[r.top : r.bottom, r.left : r.right].any() for r in regions)


def test_a_broken_stroke_is_joined_through_its_faint_pixels_only():
    letters = np.zeros((20, 20), dtype=bool)
    letters[2:6, 5] = letters[7:12, 5] = True  # one stem, broken at row 6
    faint = np.zeros_like(letters)
    faint[6, 5] = True  # the part-covered pixel between
    faint[15, 15] = True  # a faint speck touching no letter
    grown = grown_letters(letters, faint)
    assert grown is not None
    assert grown[2:12, 5].all()
    assert not grown[15, 15]
    assert grown.sum() == letters.sum() + 1
    # Nothing to add: no second search for lines.
    assert grown_letters(letters, letters.copy()) is None
    assert grown_letters(letters, np.zeros_like(letters)) is None


def test_thin_mono_words_over_air_are_found_grown(monkeypatch):
    trials = [
        mono_over_air(seed, size, polarity, line)
        for seed in (5, 6, 7)
        for size in (9, 10)
        for polarity in (1, -1)
        for line in ("KOWALSKA EWA", "Nowak 14.06.1931")
    ]
    found = [over_line(pixel_text.text_regions(frame, CONTRAST), drawn) for frame, drawn in trials]
    monkeypatch.setattr(pixel_text, "GROWN_CROP", 0)
    without = [
        over_line(pixel_text.text_regions(frame, CONTRAST), drawn) for frame, drawn in trials
    ]
    assert all(found_grown or not alone for found_grown, alone in zip(found, without, strict=True))
    assert sum(found) >= sum(without) + 4


def test_air_alone_makes_no_grown_line():
    for seed in range(5):
        frame, _ = mono_over_air(seed, 9, 1, "")
        assert pixel_text.text_regions(frame, CONTRAST) == []


def test_clean_phantoms_add_no_grown_line(monkeypatch):
    """Small crops of clean slices (crisp and partial-volume lungs, metal in some) are
    grown too: no line of grown letters stands alone there."""
    added = []
    original = pixel_text.grown_lines

    def recorded(polarities, found):
        lines = original(polarities, found)
        added.extend(lines)
        return lines

    monkeypatch.setattr(pixel_text, "grown_lines", recorded)
    calls = []
    monkeypatch.setattr(
        pixel_text,
        "grown_letters",
        lambda *arguments: calls.append(1) or grown_letters(*arguments),
    )
    for source in (SliceSource(41), SliceSource(27, 12, "chest", "partial-volume")):
        for _ in range(12):
            frame = stored_values(source.next()).astype(np.int32) - 1024
            pixel_text.text_regions(frame, CONTRAST)
    assert calls  # small crops were grown
    assert added == []
