"""Text of one exact value found from its flat cores; noise, bodies and metal are not text."""

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import flat_text, pixel_text
from anon_pipeline.engine.dicom.flat_text import ALIGNED_PIECES, flat_lines, most_aligned
from anon_pipeline.synthetic.phantoms import phantom_slice, stored_values
from anon_pipeline.synthetic.pixel_trials import (
    GREY,
    SliceSource,
    TextTrial,
    burn_in,
    fonts,
    grey_trial,
    text_trial,
)

pytestmark = pytest.mark.skipif(not fonts(), reason="the fonts are not installed")
FONTS = "/usr/share/fonts/truetype/"


def lines_of(image: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    return flat_lines(
        image,
        pixel_text.STROKE_CONTRAST,
        pixel_text.MIN_CHARACTER_HEIGHT,
        pixel_text.MAX_TEXT_HEIGHT,
    )


@pytest.fixture(scope="module")
def chest():
    return phantom_slice(np.random.default_rng(12), region="chest")


@pytest.mark.parametrize(
    "font,size,text,seed",
    [
        ("freefont/FreeSansBoldOblique.ttf", 21, "1997-08-08", 1),
        ("liberation/LiberationSansNarrow-Bold.ttf", 26, "ID 88461299", 2),
        ("dejavu/DejaVuSansMono.ttf", 18, "ID 60297235", 10),
        ("liberation/LiberationMono-Regular.ttf", 26, "15.05.2001", 6),
    ],
)
def test_dark_text_over_a_lung_is_found_from_its_flat_cores(chest, font, size, text, seed):
    """Dark letters at full contrast crossing a lung merge with its air, and the stroke
    look found no line in any of these (the text was released); inside, the letters are
    one exact value, which the body's noise never is."""
    trial = TextTrial(FONTS + font, size, "body", -1, "full", (text,), 1)
    image = stored_values(burn_in(chest, trial, random.Random(seed)))
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(chest)) > 40)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    found = lines_of(image)
    assert any(
        above <= top + 4 and below >= bottom - 4 and start <= left and end >= right
        for above, below, start, end, _ in found
    )
    regions = pixel_text.text_regions(image)
    assert any(r.top <= bottom and r.bottom >= top and r.left <= right for r in regions)
    characters = max(count for *_, count in found)
    assert len(text.replace(" ", "")) - 3 <= characters <= len(text) + 3


@pytest.mark.parametrize("region,seed", [("chest", 1), ("chest", 2), ("abdomen", 3), ("head", 4)])
def test_clean_slices_have_no_flat_lines(region, seed):
    assert lines_of(stored_values(phantom_slice(np.random.default_rng(seed), region=region))) == []


def painted(body: np.ndarray, draw, value: float) -> np.ndarray:
    """The body with a shape drawn in at `value`, anti-aliased as a reconstruction blurs
    metal's edge (drawn at 4 times the size, averaged down)."""
    mask = Image.new("L", (body.shape[1] * 4, body.shape[0] * 4), 0)
    draw(ImageDraw.Draw(mask))
    cover = np.asarray(mask.resize(body.shape[::-1], Image.BOX), dtype=np.float32) / 255
    return stored_values(body * (1 - cover) + value * cover)


@pytest.mark.parametrize(
    "shape",
    [
        lambda draw: draw.arc([800, 600, 1280, 920], 200, 340, fill=255, width=8),  # a wire
        lambda draw: draw.arc([800, 600, 1280, 920], 190, 350, fill=255, width=12),
        lambda draw: draw.line(
            [(800, 800), (920, 760), (1040, 800), (1160, 760)], fill=255, width=8
        ),
        lambda draw: draw.ellipse([960, 960, 1080, 1048], fill=255),  # an implant's head
        lambda draw: [  # two rods
            draw.ellipse([920 + 120 * k, 1200, 944 + 120 * k, 1224], fill=255) for k in (0, 1)
        ],
    ],
)
@pytest.mark.parametrize("value", [3071.0, 2000.0])
def test_saturated_metal_is_no_line_of_text(chest, shape, value):
    """Metal clipped at the scanner's top value is flat too, but a blob's inside has no
    edge on both sides, and a wire is one piece where a line has letters."""
    assert lines_of(painted(chest, shape, value)) == []


def test_noise_flat_frames_and_small_or_float_frames_have_no_flat_lines():
    noise = np.random.default_rng(3).integers(-1000, 3000, size=(512, 512), dtype=np.int16)
    assert lines_of(noise) == []
    assert lines_of(np.zeros((512, 512), dtype=np.int16)) == []  # padding: no edges
    assert lines_of(np.zeros((3, 3), dtype=np.int16)) == []
    assert lines_of(np.zeros((64, 64), dtype=np.float32)) == []


def test_text_on_a_flat_label_is_found_from_its_cores():
    """Dark letters on a bright label box: both are flat, the letters are the thin ones."""
    body = np.random.default_rng(6).normal(40, 8, (256, 256)).astype(np.float32)
    body[100:140, 20:236] = 1200
    mask = Image.new("L", (256, 256), 0)
    font = ImageFont.truetype(FONTS + "dejavu/DejaVuSans-Bold.ttf", 20)
    ImageDraw.Draw(mask).text((40, 108), "NOWAK 1962", fill=255, font=font)
    cover = np.asarray(mask, dtype=np.float32) / 255
    image = stored_values(body * (1 - cover) - 1000 * cover)
    found = lines_of(image)
    assert any(
        above < 130 and below > 110 and start <= 44 and end >= 150
        for above, below, start, end, _ in found
    )


@pytest.mark.parametrize("size,density", [(262144, 0.0001), (1021, 0.01), (7, 0.5), (0, 0.0)])
def test_set_positions_are_numpys_flatnonzero(size, density):
    from anon_pipeline.engine.dicom.flat_text import set_positions

    flags = np.random.default_rng(size).random(size) < density
    flags[-1:] = True  # one past the last whole word too
    assert np.array_equal(set_positions(flags), np.flatnonzero(flags))


def test_a_small_bold_date_over_tissue_has_enough_cores():
    """12 px bold digits have 10 to 20 flat cores; chance gives a value 2 at most."""
    body = np.random.default_rng(9).normal(40, 8, (128, 256)).astype(np.float32)
    mask = Image.new("L", (256, 128), 0)
    font = ImageFont.truetype(FONTS + "dejavu/DejaVuSansCondensed-Bold.ttf", 12)
    ImageDraw.Draw(mask).text((30, 50), "23.09.1943", fill=255, font=font)
    cover = np.asarray(mask, dtype=np.float32) / 255
    found = lines_of(stored_values(body * (1 - cover) - 1000 * cover))
    assert any(above <= 54 and below >= 58 and start <= 34 for above, below, start, *_ in found)
    assert lines_of(stored_values(body)) == []


def test_a_dates_flat_ones_standing_apart_are_one_line():
    """A date whose only flat cores are its 1s' stems, letters apart (its round digits
    are anti-aliased through): each stem alone is no line, side by side they are."""
    body = np.random.default_rng(12).normal(40, 8, (128, 256)).astype(np.float32)
    mask = Image.new("L", (256, 128), 0)
    font = ImageFont.truetype(FONTS + "dejavu/DejaVuMathTeXGyre.ttf", 16)
    ImageDraw.Draw(mask).text((30, 50), "1964-03-21", fill=255, font=font)
    cover = np.asarray(mask, dtype=np.float32) / 255
    image = stored_values(body * (1 - cover) - 1000 * cover)
    drawn = np.argwhere(cover > 0.5)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    assert any(
        above <= top + 4 and below >= bottom - 4 and start <= left and end >= right
        for above, below, start, end, _ in lines_of(image)
    )


def test_boxes_beside_each_other_on_the_same_rows_merge_and_others_do_not():
    from anon_pipeline.engine.dicom.flat_text import beside

    stems = [[10, 20, 100, 101, 9], [11, 20, 40, 41, 9], [10, 21, 70, 72, 9]]
    assert beside(stems) == [[10, 21, 40, 101, 27]]
    assert beside([[10, 20, 0, 1, 9], [10, 20, 60, 61, 9]]) == [
        [10, 20, 0, 1, 9],
        [10, 20, 60, 61, 9],
    ]
    assert len(beside([[10, 20, 0, 1, 9], [14, 20, 5, 6, 9]])) == 2  # a top 4 rows off


@pytest.mark.parametrize("outside", ["padded", "clipped"])
def test_runs_in_flat_expanses_are_dropped_first_with_the_same_cores(chest, outside, monkeypatch):
    """Padding outside the field of view (or air clipped to one value) is runs everywhere:
    they are dropped by array passes before their neighbours are gathered, and the cores
    found are those the edge test alone finds."""
    from anon_pipeline.engine.dicom import flat_text

    trial = TextTrial(
        FONTS + "freefont/FreeSansBoldOblique.ttf", 21, "body", -1, "full", ("1997-08-08",), 1
    )
    image = stored_values(burn_in(chest, trial, random.Random(1)))
    rows, columns = np.mgrid[: image.shape[0], : image.shape[1]]
    if outside == "padded":
        image[(rows - 256) ** 2 + (columns - 256) ** 2 > 250**2] = -3072
    else:
        image = np.maximum(image, image.min() + 10)
    width = image.shape[1]
    down = flat_text.run_starts(image[1:] == image[:-1]).reshape(-1)
    line = image.reshape(-1)
    across = flat_text.run_starts(line[1:] == line[:-1])
    kept_down, kept_across = flat_text.beside_an_edge(down, across, width)
    assert down.sum() + across.sum() > 10 * (kept_down.sum() + kept_across.sum())
    dropped_first = flat_text.flat_cores(image, pixel_text.STROKE_CONTRAST)
    monkeypatch.setattr(flat_text, "CROWDED_RUNS", image.size)
    gathered = flat_text.flat_cores(image, pixel_text.STROKE_CONTRAST)
    order = np.lexsort(dropped_first[:2]), np.lexsort(gathered[:2])
    assert len(gathered[0]) > 50
    for first, second in zip(dropped_first, gathered, strict=True):
        assert np.array_equal(first[order[0]], second[order[1]])
    assert lines_of(image)


def test_shifted_flags_are_false_past_the_ends():
    from anon_pipeline.engine.dicom.flat_text import shifted

    flags = np.array([True, False, True, True])
    assert shifted(flags, 1, 4).tolist() == [False, True, True, False]
    assert shifted(flags, -2, 5).tolist() == [False, False, True, False, True]
    assert shifted(flags, 9, 3).tolist() == [False, False, False]


@pytest.mark.parametrize(
    "found_columns,regions",
    [
        ((234, 277), 2),  # "0-07" at the end of a date: the flat box is kept beside it
        ((160, 280), 1),  # a line found across the date: the flat box adds nothing
    ],
)
def test_a_flat_line_is_kept_unless_a_line_found_covers_it(monkeypatch, found_columns, regions):
    """The closer look found the last three digits of a dark date ("0-07", read as safe)
    and the flat cores the whole date; the flat box was dropped because the two touched,
    and the date was released (held-out seed 1003). It goes only where a line found spans
    it, to within the letter it is widened by."""
    from anon_pipeline.engine.dicom import pixel_text

    left, right = found_columns
    monkeypatch.setattr(
        pixel_text, "candidate_regions", lambda *_: [pixel_text.Region(189, 204, 224, 288, 3)]
    )
    monkeypatch.setattr(
        pixel_text,
        "character_lines",
        lambda crop, contrast, **_: [(7, 22, left - 208, right - 208, 3)],
    )
    monkeypatch.setattr(pixel_text, "flat_lines", lambda *_: [(183, 210, 147, 293, 9)])
    found = pixel_text.text_regions(np.zeros((512, 512), dtype=np.int16))
    assert len(found) == regions
    assert found[0] == pixel_text.Region(189, 204, left, right, 3)
    assert (pixel_text.Region(183, 210, 147, 293, 9) in found) is (regions == 2)


@pytest.mark.parametrize(
    "font,size,position,polarity,text,seed",
    [
        ("freefont/FreeSansBold.ttf", 72, "body", -1, "1956-03-12", 3),
        ("liberation/LiberationSans-Bold.ttf", 80, "band", 1, "ZIELINSKA", 5),
        ("freefont/FreeSansBold.ttf", 60, "body", 1, "PESEL 56031212345", 6),
    ],
)
def test_letters_too_big_for_the_frames_own_look_are_found_halved(  # noqa: PLR0913
    chest, font, size, position, polarity, text, seed
):
    """A banner's bold letters have stems wider than a flat core's reach and stand
    taller than a line is looked for: the frame's own flat look misses them, and all
    three were released. Halved, their insides are still one value and in reach."""
    from anon_pipeline.engine.dicom.flat_text import large_flat_lines
    from anon_pipeline.engine.files.pixel_check import forget_readings, text_in_pixels
    from anon_pipeline.engine.rules.holds import HoldKind
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, template_slice

    trial = TextTrial(FONTS + font, size, position, polarity, "full", (text,), 1)
    image = stored_values(burn_in(chest, trial, random.Random(seed)))
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(chest)) > 40)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)

    def covered(lines: list[tuple[int, int, int, int, int]]) -> bool:
        return any(
            above <= top + 4 and below >= bottom - 4 and start <= left + 4 and end >= right - 4
            for above, below, start, end, _ in lines
        )

    assert not covered(lines_of(image))
    assert covered(large_flat_lines(image, pixel_text.STROKE_CONTRAST, pixel_text.MAX_TEXT_HEIGHT))
    forget_readings()
    held = text_in_pixels(dicom_bytes(template_slice(), [image]), ())
    assert held is not None
    assert held.kind in (HoldKind.TEXT_IN_PIXELS, HoldKind.TEXT_UNREAD)


@pytest.mark.parametrize("region,seed", [("chest", 1), ("chest", 2), ("abdomen", 3), ("head", 4)])
@pytest.mark.parametrize("noise", [2.0, 8.0, 30.0])
def test_clean_slices_halved_have_no_large_flat_lines(region, seed, noise):
    """Halving quiets the noise, so equal neighbours come more often: still no line, even
    at 2 HU, or with the air clipped to one value as some scanners store it."""
    from anon_pipeline.engine.dicom.flat_text import large_flat_lines

    rng = np.random.default_rng(seed)
    body = phantom_slice(rng, region=region)
    noisy = body + rng.normal(0, noise, body.shape).astype(np.float32)
    for image in (noisy, np.maximum(noisy, -1024)):
        assert large_flat_lines(stored_values(image), 60.0, pixel_text.MAX_TEXT_HEIGHT) == []


def test_a_frame_is_halved_down_to_the_large_side_in_its_own_type():
    """A 1024-pixel frame is looked at halved and quartered, a 512 one halved, a 256 one
    not at all; a halved inside keeps its exact value, in any integer type."""
    from anon_pipeline.engine.dicom import flat_text

    seen: list[tuple[int, ...]] = []
    original = flat_text.flat_lines
    try:
        flat_text.flat_lines = lambda frame, *rest: seen.append(frame.shape) or []
        for side in (1024, 512, 256):
            flat_text.large_flat_lines(np.zeros((side, side), np.int16), 60.0, 48)
    finally:
        flat_text.flat_lines = original
    assert seen == [(512, 512), (256, 256), (256, 256)]
    for dtype in (np.uint8, np.int16, np.uint16, np.int32):
        frame = np.full((9, 12), 7, dtype)
        frame[0, 0] = 11  # one block's mean is 8
        small = flat_text.halved(frame)
        assert small.dtype == frame.dtype and small.shape == (4, 6)
        assert small[0, 0] == 8 and (small.ravel()[1:] == 7).all()


@pytest.mark.parametrize("turn", [1, -1])
@pytest.mark.parametrize(
    "font,size,position,polarity,text,seed",
    [
        ("dejavu/DejaVuSans-Bold.ttf", 20, "corner", 1, "KOWALSKA EWA", 1),
        ("liberation/LiberationSans-Regular.ttf", 24, "body", -1, "1962-03-04", 2),
    ],
)
def test_a_line_running_up_or_down_the_frame_is_found_on_the_same_cores(  # noqa: PLR0913
    monkeypatch, chest, turn, font, size, position, polarity, text, seed
):
    """A line written up or down the frame: no look along its rows sees it, and all of
    these were released. The frame's flat cores, joined along its columns, box it."""
    from anon_pipeline.engine.files.pixel_check import forget_readings, text_in_pixels
    from anon_pipeline.synthetic.pixel_trials import dicom_bytes, template_slice

    trial = TextTrial(FONTS + font, size, position, polarity, "full", (text,), 1)
    turned_chest = np.ascontiguousarray(np.rot90(chest, turn))
    image = stored_values(np.rot90(burn_in(turned_chest, trial, random.Random(seed)), -turn))
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(chest)) > 40)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    assert bottom - top > right - left  # it runs down the frame

    def covered(lines: list[tuple[int, int, int, int, int]]) -> bool:
        return any(
            above <= top + 4 and below >= bottom - 4 and start <= left + 4 and end >= right - 4
            for above, below, start, end, _ in lines
        )

    contrast, tallest = pixel_text.STROKE_CONTRAST, pixel_text.MAX_TEXT_HEIGHT
    assert covered(flat_lines(image, contrast, pixel_text.MIN_CHARACTER_HEIGHT, tallest))
    assert not covered(
        flat_lines(image, contrast, pixel_text.MIN_CHARACTER_HEIGHT, tallest, turned=False)
    )
    data = dicom_bytes(template_slice(), [image])
    forget_readings()
    assert text_in_pixels(data, ()) is not None
    with monkeypatch.context() as along_rows_only:
        along_rows_only.setattr(
            pixel_text, "flat_lines", lambda *arguments: flat_lines(*arguments, turned=False)
        )
        along_rows_only.setattr(pixel_text, "TURNED_SIDES", False)  # session 50's look
        forget_readings()
        assert text_in_pixels(data, ()) is None  # what was released


@pytest.mark.parametrize(
    "font,size,text,polarity,seed",
    [
        ("freefont/FreeSansBold.ttf", 25, "Centrum Onkologii", 1, 0),
        ("freefont/FreeSansBold.ttf", 25, "Centrum Onkologii", -1, 5),
        ("dejavu/DejaVuSans-Bold.ttf", 17, "Nowak Żaneta", -1, 2),
    ],
)
def test_text_in_one_grey_level_over_a_body_is_found_by_its_exact_cores(
    chest, font, size, text, polarity, seed
):
    """A renderer writes one grey level, here 150 HU off the median it covers. Across a
    lung and the tissue beside it that level is the box's typical pixel, so the pixels
    near it are the body's too and made no letter-sized pieces: the line was released
    (the bench's grey row, session 42). The letters' cores of that exact value are."""
    trial = TextTrial(FONTS + font, size, "body", polarity, GREY, (text,), 1)
    image = stored_values(burn_in(chest, trial, random.Random(seed)))
    drawn = image != stored_values(chest)
    values, counts = np.unique(image[drawn], return_counts=True)
    level = int(values[counts.argmax()])
    (top, left), (bottom, right) = np.argwhere(drawn).min(axis=0), np.argwhere(drawn).max(axis=0)
    crop = image[top - 3 : bottom + 4, left - 3 : right + 4].astype(np.int32)
    half = abs(float(np.median(crop)) - level) / 2
    tallest = bottom - top + 9
    assert most_aligned(np.abs(crop - level) < half, tallest) < ALIGNED_PIECES
    assert most_aligned(crop == level, tallest) >= ALIGNED_PIECES
    assert any(
        above <= top + 4 and below >= bottom - 4 and start <= left and end >= right
        for above, below, start, end, _ in lines_of(image)
    )


def test_a_grey_trial_is_the_benchs_draw_in_one_grey_level(chest):
    """The bench's grey row draws what its text row draws (the same random choices),
    but writes every letter in one value, 150 HU off the median of what it covers."""
    grey = [grey_trial(random.Random(9), fonts(), index) for index in range(3)]
    plain = [text_trial(random.Random(9), fonts(), index) for index in range(3)]
    assert [trial.contrast for trial in grey] == [GREY] * 3
    assert [(t.font, t.size, t.position, t.lines) for t in grey] == [
        (t.font, t.size, t.position, t.lines) for t in plain
    ]
    trial = TextTrial(FONTS + "dejavu/DejaVuSans-Bold.ttf", 20, "body", -1, GREY, ("ID 123",), 1)
    image = burn_in(chest, trial, random.Random(3))
    covered = np.abs(image - chest) > 0
    values, counts = np.unique(image[covered], return_counts=True)
    level = float(values[counts.argmax()])
    assert counts.max() > 100  # the letters' insides: one value
    assert counts.max() < covered.sum()  # their edges blend into what they cover
    assert abs(level - (float(np.median(chest[image == level])) - 150)) < 5  # its median


@pytest.mark.parametrize("seed,region", [(0, "abdomen"), (5, None), (8, "chest")])
def test_air_stored_mostly_at_the_floor_makes_no_flat_line(seed, region):
    # Air reconstructed 30 HU under -1,024 and clipped there, as some scanners store it:
    # half the frame is that one value, and its runs in a table's gap stood as a line.
    body = phantom_slice(np.random.default_rng(seed), region=region)
    image = stored_values(np.maximum(np.where(body < -900, body - 30, body), -1024))
    assert np.mean(image == image.min()) > 0.3
    cores = flat_text.flat_cores(image, pixel_text.STROKE_CONTRAST)
    assert flat_text.lines_of_cores(image, cores, 5, 48)  # the floor's runs alone
    assert lines_of(image) == []


def test_dark_text_at_a_clipped_floor_over_tissue_is_still_found(chest):
    # The floor's cores are left out, but letters of that value over a body stand out
    # to the stroke look as they did.
    clipped = np.maximum(np.where(chest < -900, chest - 30, chest), -1024)
    trial = TextTrial(
        FONTS + "dejavu/DejaVuSans-Bold.ttf", 16, "body", -1, "full", ("KOWALSKI JAN",), 1
    )
    drawn = burn_in(clipped, trial, random.Random(2))
    image = stored_values(np.maximum(np.where(drawn < -990, drawn - 24, drawn), -1024))
    regions = pixel_text.text_regions(image, pixel_text.STROKE_CONTRAST)
    text = np.argwhere(drawn != clipped)
    (top, left), (bottom, right) = text.min(axis=0), text.max(axis=0)
    assert any(
        r.top <= bottom and r.bottom >= top and r.left <= right and r.right >= left for r in regions
    )


def test_stored_floors_are_the_padding_and_the_air_clipped_over_it():
    rng = np.random.default_rng(6)
    sample = rng.normal(40, 8, (64, 64)).astype(np.int16)
    assert flat_text.stored_floors(sample) == []  # noise: no value fills a twentieth
    sample[:, :20] = -1024  # air clipped at the floor
    assert flat_text.stored_floors(sample) == [-1024]
    sample[:8, :] = -3024  # padding stored under it
    assert flat_text.stored_floors(sample) == [-3024, -1024]
    sample[8, 20:40] = np.arange(-2900, -1100, 90)  # its edge blended with the air
    assert flat_text.stored_floors(sample) == [-3024, -1024]
    sample[9, 20:64] = -1500  # a band as wide as a floor's straggles: no floor under it
    assert flat_text.stored_floors(sample) == [-3024]
    sample[:, :20] = rng.normal(-1000, 8, (64, 20)).astype(np.int16)
    sample[:8, :] = -3024  # padding over air that is not clipped
    assert flat_text.stored_floors(sample) == [-3024]


def test_air_clipped_over_a_scanners_padding_makes_no_line(monkeypatch):
    """Slice 0 of the bench's pool 25 as a GE scanner stores it: -3,024 HU outside the
    field of view, under air 20 HU lower and clipped at -1,024. With the padding taken
    for the only floor, the clipped air's runs in the table's gap stood as a line."""
    hounsfield = SliceSource(25).next()
    hounsfield = np.maximum(np.where(hounsfield < -900, hounsfield - 20, hounsfield), -1024)
    rows, columns = np.indices(hounsfield.shape)
    outside = (rows - 255.5) ** 2 + (columns - 255.5) ** 2 > 256**2
    image = stored_values(np.where(outside, np.float32(-3024), hounsfield))
    assert pixel_text.text_regions(image) == []

    floors = flat_text.stored_floors

    def lowest_only(sample: np.ndarray) -> list[int]:
        return floors(sample)[:1]

    monkeypatch.setattr(flat_text, "stored_floors", lowest_only)
    monkeypatch.setattr(pixel_text, "stored_floors", lowest_only)
    assert pixel_text.text_regions(image)
