"""Where a frame may carry text: lines of letters found, bodies and noise left alone."""

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.engine.dicom.frames import UndecodableFrames, frames_of
from anon_pipeline.engine.dicom.pixel_text import text_regions
from anon_pipeline.synthetic.other_phantoms import nth_slice
from anon_pipeline.synthetic.phantoms import phantom_slice, stored_values
from anon_pipeline.synthetic.pixel_trials import (
    SliceSource,
    TextTrial,
    burn_in,
    dicom_bytes,
    fonts,
    template_slice,
)

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def head():
    return phantom_slice(np.random.default_rng(11), region="head")


@pytest.mark.parametrize("size", [9, 14, 28])
@pytest.mark.parametrize("polarity,contrast", [(1, "full"), (1, "+150"), (-1, "full")])
def test_a_line_of_text_is_found_where_it_stands(head, size, polarity, contrast):
    trial = TextTrial(DEJAVU, size, "corner", polarity, contrast, ("KOWALSKA Ewa 1962",), 1)
    image = stored_values(burn_in(head, trial, random.Random(size)))
    regions = text_regions(image)
    assert regions
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(head)) > 40)
    top, left = drawn.min(axis=0)
    assert any(r.top <= top + size and r.bottom >= top and r.left <= left + size for r in regions)


def test_uniform_noise_and_a_small_image_are_not_text():
    noise = np.random.default_rng(3).integers(-1000, 3000, size=(512, 512), dtype=np.int16)
    assert text_regions(noise) == []
    assert text_regions(np.zeros((32, 32), dtype=np.int16)) == []


def test_low_dose_noise_is_not_text_and_full_contrast_text_over_it_is(head):
    """A low-dose or sharp-kernel CT's noise (40 HU) makes 60 HU strokes everywhere by
    chance: strokes must stand out from the frame's own noise, as burned-in text does."""
    rng = np.random.default_rng(5)
    noisy = head + rng.normal(0, 40, head.shape).astype(np.float32)
    soft_tissue = rng.normal(40, 40, head.shape).astype(np.float32)
    assert text_regions(stored_values(noisy)) == []
    assert text_regions(stored_values(soft_tissue)) == []
    trial = TextTrial(DEJAVU, 12, "body", 1, "full", ("KOWALSKA Ewa 1962",), 1)
    marked = stored_values(burn_in(noisy, trial, random.Random(2)))
    drawn = np.argwhere(np.abs(marked.astype(np.int32) - stored_values(noisy)) > 400)
    top, left = drawn.min(axis=0)
    regions = text_regions(marked)
    assert any(r.top <= top + 12 and r.bottom >= top and r.left <= left + 12 for r in regions)


def test_the_noise_threshold_is_the_median_of_all_pixels_flat_ones_counted():
    from anon_pipeline.engine.dicom.pixel_text import over_noise

    steps = np.abs(np.random.default_rng(8).normal(0, 30, (64, 511))).round().astype(np.int16)
    median = float(np.median(steps))
    assert over_noise(steps, 60.0, 3.0) == pytest.approx(3 * median, abs=3)
    assert over_noise(steps.astype(np.float32), 60.0, 3.0) == pytest.approx(3 * median)
    assert over_noise(steps // 4, 60.0, 3.0) == 60.0  # quiet noise: the contrast itself
    text_on_black = np.zeros((64, 511), dtype=np.int16)
    text_on_black[::3, ::5] = 255  # edges only where letters are: no noise at all
    assert over_noise(text_on_black, 60.0, 3.0) == 60.0


def test_text_on_black_is_found_as_a_screen_shows_it():
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(canvas).text(
        (40, 200), "KOWALSKA Ewa 1962", fill=255, font=ImageFont.truetype(DEJAVU, 14)
    )
    assert text_regions(np.asarray(canvas, dtype=np.uint8))


def test_native_frames_are_viewed_and_a_short_pixel_data_is_undecodable(head):
    import io

    from pydicom import dcmwrite

    template = template_slice()
    frames = [stored_values(head), stored_values(head) + 1]
    found = frames_of(dicom_bytes(template, frames))
    assert found is not None and found.count == 2
    assert np.array_equal(next(iter(found)), frames[0])
    template.NumberOfFrames = 3  # says three frames, carries one
    template.PixelData = stored_values(head).tobytes()
    buffer = io.BytesIO()
    dcmwrite(buffer, template, enforce_file_format=True)
    with pytest.raises(UndecodableFrames, match="shorter"):
        frames_of(buffer.getvalue())


def test_frames_of_files_in_turn_are_each_files_own_pixels_without_a_copy(head):
    """The frames of one file after another (each parse takes stretches of the last
    file's layout) are each file's own, and are a view of its bytes, not a copy."""
    template = template_slice()
    files = []
    for number in range(4):
        template.InstanceNumber = number + 1
        if number == 2:  # a file with an element the others lack shifts every offset
            template.ImageComments = "x" * 33
        elif "ImageComments" in template:
            del template.ImageComments
        frames = [stored_values(head) + number] * (1 + number % 2)
        files.append((dicom_bytes(template, frames), frames))
    for data, frames in files:
        found = frames_of(data)
        assert found is not None and found.count == len(frames)
        for seen, drawn in zip(found, frames, strict=True):
            assert np.array_equal(seen, drawn)
        assert np.shares_memory(found.array, np.frombuffer(data, dtype=np.uint8))


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm"])
def test_compressed_frames_are_decoded_as_pydicom_decodes_them(name):
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    with open(path, "rb") as file:
        found = frames_of(file.read())
    expected = dcmread(path).pixel_array
    assert found is not None
    first = next(iter(found))
    assert first.ndim == 2
    if found.colour:
        assert first.shape == expected.shape[-3:-1]
    else:
        assert np.array_equal(first, expected if expected.ndim == 2 else expected[0])


@pytest.mark.parametrize("shape", [(9, 9), (37, 130), (130, 12), (3, 40), (5, 2)])
def test_the_running_extremes_are_scipys_grey_erosion_and_dilation(shape):
    from scipy import ndimage

    from anon_pipeline.engine.dicom.pixel_text import MAX_STROKE_WIDTH, running

    values = np.random.default_rng(sum(shape)).normal(0, 300, shape).astype(np.float32)
    width = 2 * MAX_STROKE_WIDTH + 1
    for axis, size in ((1, (1, width)), (0, (width, 1))):
        assert np.array_equal(running(values, axis, np.minimum), ndimage.grey_erosion(values, size))
        assert np.array_equal(
            running(values, axis, np.maximum), ndimage.grey_dilation(values, size)
        )


def test_a_pixels_lift_is_its_farthest_from_an_opening_or_closing_along_either_axis(chest):
    """Bright strokes stand above the row's and the column's openings, dark ones below
    their closings: the lift is the larger of the two, and a letter's pixel is one that
    stands out of its neighbourhood (scipy's morphology, on a chest's 16-bit values)."""
    from scipy import ndimage

    from anon_pipeline.engine.dicom.pixel_text import (
        HALO,
        MAX_STROKE_WIDTH,
        STROKE_SHARE,
        character_pixels,
    )

    crop = stored_values(chest)[150:330, 100:400].astype(np.int16)
    values = crop.astype(np.int32)
    width = 2 * MAX_STROKE_WIDTH + 1
    sizes = ((1, width), (width, 1))
    above = np.max([values - ndimage.grey_opening(values, size) for size in sizes], axis=0)
    below = np.max([ndimage.grey_closing(values, size) - values for size in sizes], axis=0)
    bright, dark = character_pixels(crop, 60.0)
    for strokes, expected in ((bright, above), (dark, below)):
        assert np.array_equal(strokes.lifted, expected)
        nearby = ndimage.grey_dilation(expected, (2 * HALO + 1, 2 * HALO + 1))
        # In float32, as the check's: 0.35 * 60 is 21 there and 20.999... in float64.
        share = np.float32(STROKE_SHARE) * nearby.astype(np.float32)
        letters = expected > np.maximum(strokes.contrast, share)
        assert np.array_equal(strokes.letters, letters)
        assert letters.any()


@pytest.mark.parametrize("density", [0.05, 0.3, 0.6])
def test_blobs_and_their_boxes_are_scipys_labelling(density):
    """OpenCV labels the blobs: the same blobs and boxes as scipy's 8-connected labels,
    and the structures' 4-connected ones keep the same pixels."""
    from scipy import ndimage

    from anon_pipeline.engine.dicom.pixel_text import Strokes, blob_boxes

    rng = np.random.default_rng(int(density * 100))
    strokes = rng.random((61, 97)) < density
    labels, boxes = blob_boxes(strokes)
    expected, count = ndimage.label(strokes, structure=np.ones((3, 3)))
    slices = ndimage.find_objects(expected)
    assert sorted(map(tuple, boxes.tolist())) == sorted(
        (rows.start, rows.stop, columns.start, columns.stop) for rows, columns in slices
    )
    assert len(boxes) == count
    # The same partition of the pixels: each of scipy's blobs is one of OpenCV's.
    pairs = set(zip(expected[strokes].tolist(), labels[strokes].tolist(), strict=True))
    assert len(pairs) == count == len({label for _, label in pairs})

    lifted = (rng.normal(0, 100, strokes.shape) * strokes).astype(np.float32)
    inside = lifted > 60
    structures, found = ndimage.label(inside)
    strongest = np.asarray(ndimage.maximum(lifted, structures, np.arange(found + 1)))
    expected_parts = lifted > np.maximum(60, 0.35 * strongest[structures])
    of_structures = Strokes(lifted, inside, 60.0).of_structures()
    assert of_structures.any()
    assert np.array_equal(of_structures, expected_parts)


@pytest.mark.parametrize("shape", [(510, 512), (520, 520)])
def test_as_many_blobs_as_a_mask_can_hold_keep_their_own_labels(shape):
    """One pixel in every 2 x 2 block, the most 8-connected blobs a mask holds: 16-bit
    labels where they cannot run out (65,280 blobs), 32-bit ones past that."""
    from anon_pipeline.engine.dicom.pixel_text import blob_boxes

    strokes = np.zeros(shape, dtype=bool)
    strokes[::2, ::2] = True
    labels, boxes = blob_boxes(strokes)
    assert len(boxes) == strokes.sum() == len(np.unique(labels[strokes]))
    assert labels.dtype == (np.uint16 if strokes.sum() < 65535 else np.int32)
    assert np.array_equal(boxes[:, 1] - boxes[:, 0], np.ones(len(boxes)))
    assert sorted(map(tuple, boxes[:, [0, 2]].tolist())) == sorted(
        map(tuple, np.argwhere(strokes).tolist())
    )


def test_line_candidates_are_those_of_every_blob_tried(chest):
    """Lines are tried only from blobs with partners on their baseline: the candidates
    are those found when a line is tried from every blob, in a lung and in text."""
    from anon_pipeline.engine.dicom import pixel_text

    def tried_from_every_blob(blobs):
        candidates = []
        for first, (bottom, top, *_) in enumerate(blobs):
            compatible = [
                other
                for other in range(first + 1, len(blobs))
                if abs(blobs[other][0] - bottom) <= 2
                and max(blobs[other][0] - blobs[other][1], bottom - top)
                <= 1.6 * min(blobs[other][0] - blobs[other][1], bottom - top)
            ]
            for line in pixel_text.lines_tried(blobs, first, compatible):
                members = [blobs[index] for index in line]
                total = sum(blob[4] for blob in members)
                if len(members) < pixel_text.LINE_BLOBS:
                    continue
                if total < pixel_text.LINE_CHARACTERS and not pixel_text.same_rows(members):
                    continue
                aligned = pixel_text.aligned_letters(members)
                if aligned >= pixel_text.LINE_BLOBS:
                    candidates.append(line)
        return candidates

    trial = TextTrial(DEJAVU, 14, "body", 1, "+150", ("KOWALSKI JAN", "1961-05-12"), 1)
    image = stored_values(burn_in(chest, trial, random.Random(3)))
    found_lines = 0
    for strokes in pixel_text.character_pixels(image.astype(np.int16), 60.0):
        blobs, _ = pixel_text.letter_blobs(strokes.letters)
        lines = [candidate[5] for candidate in pixel_text.line_candidates(blobs)]
        assert lines == tried_from_every_blob(blobs)
        found_lines += len(lines)
    assert found_lines


def unpacked(words: np.ndarray, columns: int) -> np.ndarray:
    """The cheap look's packed rows as booleans again."""
    return np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :columns].astype(bool)


def plain_stroke_mask(frame: np.ndarray, contrast: float) -> np.ndarray:
    """The stroke mask pixel by pixel: a step up then one down within WIDEST_STEM
    columns after (or down then up), every ROW_STEP-th row, in floats."""
    from anon_pipeline.engine.dicom.pixel_text import NOISE_STEPS, ROW_STEP, WIDEST_STEM

    rows = frame[::ROW_STEP].astype(np.float64)
    step = rows[:, 1:] - rows[:, :-1]
    steeper = max(contrast, NOISE_STEPS * float(np.median(np.abs(step[::4]))))
    up, down = step > steeper, step < -steeper
    mask = np.zeros((len(rows), step.shape[1] - 1), dtype=bool)
    for column in range(mask.shape[1]):
        after = slice(column + 1, column + 1 + WIDEST_STEM)
        mask[:, column] = (up[:, column] & down[:, after].any(axis=1)) | (
            down[:, column] & up[:, after].any(axis=1)
        )
    return mask


def test_stems_as_wide_as_a_bold_letters_drawn_without_anti_aliasing_are_strokes():
    """A bold 28 px letter drawn without anti-aliasing, or saturated by a window, has
    stems 5 to 6 pixels wide between two hard edges: strokes to the cheap look. Wider
    bars (a table's edge, a bone) are not."""
    from anon_pipeline.engine.dicom.pixel_text import ROW_STEP, stroke_mask

    frame = np.zeros((64, 256), dtype=np.int16)
    lefts = {width: 16 + 24 * width for width in range(1, 9)}
    for width, left in lefts.items():
        frame[8:56, left : left + width] = 1000
    marked = unpacked(stroke_mask(frame, 60.0), frame.shape[1] - 2)[20 // ROW_STEP]
    # A stroke is marked at its first edge: the step into it, one column before it.
    assert [width for width, left in lefts.items() if marked[left - 1]] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("contrast", [60.0, 30.5, 59.99, 0.0])
def test_integer_frames_mark_the_strokes_float_ones_do(head, contrast):
    """Integer differences are compared with the contrast's floor: the same strokes as
    in floats, and those the plain pixel-by-pixel rule marks."""
    from anon_pipeline.engine.dicom.pixel_text import stroke_mask

    stored = stored_values(head)
    for frame in (stored, stored.astype(np.int32), (stored // 16 + 100).astype(np.uint8)):
        strokes = stroke_mask(frame, contrast)
        assert np.array_equal(strokes, stroke_mask(frame.astype(np.float64), contrast))
        assert strokes.any()
    for columns in (512, 505, 130, 64):  # whole words, and a last word part used
        frame = stored[:, :columns]
        expected = plain_stroke_mask(frame, contrast)
        packed = stroke_mask(frame, contrast)
        assert np.array_equal(unpacked(packed, columns - 2), expected)
        assert not unpacked(packed, packed.shape[1] * 64)[:, columns - 2 :].any()


@pytest.mark.parametrize("columns", [512, 505, 130, 64])
def test_stem_ends_and_baseline_counts_are_those_of_the_plain_rule(head, columns):
    """The cheap look works on 64 columns per word: the stems' ends, and their counts
    per span of two windows, are those counted pixel by pixel on booleans."""
    from anon_pipeline.engine.dicom.pixel_text import (
        STEM_ROWS,
        WINDOW,
        baseline_counts,
        stem_ends,
        stroke_mask,
    )

    trial = TextTrial(DEJAVU, 12, "band", 1, "full", ("KOWALSKI 1961", "ID 5561"), 1)
    image = stored_values(burn_in(head[:, :columns], trial, random.Random(5)))
    packed = stroke_mask(image, 60.0)
    mask = unpacked(packed, columns - 2)
    # A stem: a stroke in STEM_ROWS rows read, each within a column of the one below;
    # it ends where the row below has no stroke within a column.
    leaning = mask.copy()
    leaning[:, 1:] |= mask[:, :-1]
    leaning[:, :-1] |= mask[:, 1:]
    expected_ends = np.zeros_like(mask)
    for row in range(STEM_ROWS - 1, len(mask) - 1):
        stem = mask[row].copy()
        for above in range(1, STEM_ROWS):
            stem &= leaning[row - above]
        expected_ends[row] = stem & ~leaning[row + 1]
    ends = stem_ends(packed)
    assert np.array_equal(unpacked(ends, columns - 2), expected_ends)
    assert expected_ends.any()

    near = expected_ends.copy()
    near[:-1] |= expected_ends[1:]
    windows = -(-(columns - 2) // WINDOW)
    padded = np.pad(near, ((0, 0), (0, windows * WINDOW - near.shape[1])))
    per_window = padded.reshape(len(padded), windows, WINDOW).sum(axis=2)
    expected = per_window.copy()
    expected[:, :-1] += per_window[:, 1:]
    assert expected.max() > 2
    assert np.array_equal(baseline_counts(ends, windows), expected)


@pytest.fixture(scope="module")
def chest():
    return phantom_slice(np.random.default_rng(12), region="chest")


def covers(regions, image, body, rows):
    """Whether some region covers the text drawn within `rows` of the image."""
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(body))[rows] > 40)
    top, bottom = drawn[:, 0].min() + rows.start, drawn[:, 0].max() + rows.start
    return any(r.top <= bottom and r.bottom >= top for r in regions)


def test_both_lines_of_a_block_are_found_each_beside_the_other(chest):
    """Dark text in a tight label, two lines: each line's neighbour stands in its margin,
    which once hid both."""
    oblique = "/usr/share/fonts/truetype/freefont/FreeSansOblique.ttf"
    trial = TextTrial(oblique, 14, "corner", -1, "full", ("1999-12-09", "1988-11-20"), 1)
    image = stored_values(burn_in(chest, trial, random.Random(5)))
    regions = text_regions(image)
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(chest)) > 40)
    middle = (drawn[:, 0].min() + drawn[:, 0].max()) // 2
    assert covers(regions, image, chest, slice(0, middle))
    assert covers(regions, image, chest, slice(middle, image.shape[0]))


def test_a_faint_corner_line_beside_a_chest_is_found(chest):
    trial = TextTrial(DEJAVU, 11, "corner", 1, "+150", ("Nowak 27/02/1970",), 1)
    image = stored_values(burn_in(chest, trial, random.Random(1)))
    assert covers(text_regions(image), image, chest, slice(0, image.shape[0]))


def test_faint_letters_touching_a_strong_vessel_keep_their_strokes():
    """+150 HU letters standing on a vessel of +850: the vessel's strength once counted
    for the whole blob it makes with the letters, and all their pixels fell below its
    share (only the gaps between them, as dark text, were left to find)."""
    from PIL import Image, ImageDraw, ImageFont

    from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, character_pixels

    body = np.random.default_rng(4).normal(40, 8, (256, 256)).astype(np.float32)
    mask = Image.new("L", (256, 256), 0)
    font = ImageFont.truetype(DEJAVU, 18)
    ImageDraw.Draw(mask).text((30, 110), "PESEL 97070130935", fill=255, font=font)
    cover = np.asarray(mask, dtype=np.float32) / 255
    image = body + 150 * cover
    baseline = int(np.flatnonzero(cover.any(axis=1)).max())
    image[baseline : baseline + 3, 20:240] += 850  # the vessel the letters stand on
    bright, _ = character_pixels(stored_values(image).astype(np.float32), STROKE_CONTRAST)
    letters = cover[: baseline - 2] > 0.9  # beside the vessel a letter may lose its foot
    assert bright.letters[: baseline - 2][letters].mean() > 0.8
    assert any(
        r.top <= baseline and r.bottom >= baseline - 10 for r in text_regions(stored_values(image))
    )


@pytest.mark.parametrize("seed,contrast", [(12, "full"), (25, "+150")])
def test_a_line_over_a_lung_is_found_though_its_margins_are_busy(chest, seed, contrast):
    """Dark digits over a lung: the lung's air channels make strokes all around them,
    but ten letters of one height on one baseline are no chance."""
    serif = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"
    trial = TextTrial(serif, 20, "body", -1, contrast, ("1983-10-04",), 1)
    image = stored_values(burn_in(chest, trial, random.Random(seed)))
    assert covers(text_regions(image), image, chest, slice(0, image.shape[0]))


@pytest.mark.parametrize(
    "dtype,low,high",
    [(np.int16, -1024, 3071), (np.uint16, 40000, 44095), (np.int32, -70000, -66000)],
)
def test_strokes_found_in_16_bits_are_those_found_in_float(chest, dtype, low, high):
    """The closer look filters 16-bit values where the crop's range allows: shifted or
    not, every stroke and its strength are what float32 gives."""
    from anon_pipeline.engine.dicom.pixel_text import (
        STROKE_CONTRAST,
        character_pixels,
        compact_values,
    )

    trial = TextTrial(DEJAVU, 12, "body", 1, "+150", ("Nowak 27/02/1970",), 1)
    image = burn_in(chest, trial, random.Random(2))[150:300, 100:400]
    scaled = low + (image - image.min()) / (image.max() - image.min()) * (high - low)
    crop = np.round(scaled).astype(dtype)
    assert compact_values(crop).dtype == np.int16
    for fast, plain in zip(
        character_pixels(crop, STROKE_CONTRAST),
        character_pixels(crop.astype(np.float32), STROKE_CONTRAST),
        strict=True,
    ):
        assert fast.letters.any()
        assert np.array_equal(fast.letters, plain.letters)
        assert np.array_equal(fast.lifted, plain.lifted)
        assert np.array_equal(fast.of_structures(), plain.of_structures())


def test_a_range_too_wide_for_16_bits_is_filtered_in_float():
    from anon_pipeline.engine.dicom.pixel_text import compact_values

    wide = np.array([[-20000, 20000], [0, 1]], dtype=np.int32)
    assert compact_values(wide).dtype == np.float32
    assert compact_values(np.zeros((2, 2), dtype=np.float64)).dtype == np.float32


def test_a_baselines_letter_height_is_the_run_of_rows_with_strokes_above_it():
    from anon_pipeline.engine.dicom.pixel_text import (
        MAX_TEXT_HEIGHT,
        ROW_STEP,
        WINDOW,
        stem_heights,
    )

    mask = np.zeros((60, 256), dtype=bool)
    mask[30:36, 70] = True  # six rows read of strokes, ending on row 35 in window 2
    mask[20:29, 200] = True  # strokes beyond the windows of the first baseline
    mask[0:4, 40] = True  # a stem running into the frame's top edge
    found = np.array([[35, 2], [28, 6], [3, 1], [50, 0]])
    busy = mask.reshape(len(mask), -1, WINDOW).any(axis=2)
    assert stem_heights(busy, found).tolist() == [6, 9, MAX_TEXT_HEIGHT // ROW_STEP, 0]


def lost_glyphs_crop(text: str, size: int, kept: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """+150 HU digits over soft tissue of which only the `kept` glyphs survive, as where a
    vessel or a metal streak cancels the rest; the crop and the rows drawn."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(DEJAVU, size)
    mask = Image.new("L", (40 + int(font.getlength(text)), 4 * size), 0)
    ImageDraw.Draw(mask).text((20, size), text, fill=255, font=font)
    cover = np.asarray(mask, dtype=np.float32) / 255
    for lost in set(range(len(text))) - kept:
        cover[
            :, 20 + int(font.getlength(text[:lost])) : 20 + int(font.getlength(text[: lost + 1]))
        ] = 0
    body = np.random.default_rng(size).normal(40, 8, cover.shape).astype(np.float32)
    return stored_values(body + 150 * cover), np.flatnonzero(cover.any(axis=1))


def test_a_line_that_lost_letters_to_vessels_is_found_across_the_gaps():
    """Digits of which every other pair is gone, as where vessels cross +150 HU letters:
    each piece left is two letters, no line alone, but six of one height and baseline
    a letter's gap apart are. The line once broke at every gap."""
    from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, character_lines

    text = "97070130935"
    crop, drawn = lost_glyphs_crop(text, 20, set(range(len(text))) - {2, 3, 6, 7, 10})
    lines = character_lines(crop, STROKE_CONTRAST)
    assert any(
        top <= drawn.max() and bottom >= drawn.min() and characters >= 6
        for top, bottom, _, _, characters in lines
    )


@pytest.mark.parametrize(
    "size,kept,found",
    [
        (24, {0, 3, 6, 9}, True),  # four tall digits left, two lost between each
        (24, {0, 3, 6}, False),  # three: chance can align three blobs
        (14, {0, 3, 6, 9}, False),  # four small ones: a lung's specks are that size
    ],
)
def test_four_tall_letters_left_by_a_streak_are_a_line_across_the_gaps(size, kept, found):
    """A metal streak across +150 HU text takes letters out whole, and the survivors stand
    more than a letter's gap apart. Four letters 13 px and taller sharing top and bottom
    are a line across gaps of up to three letter heights; five were needed before, and
    streaked dates were released (docs/benchmarks.md, evening of 2026-12-04)."""
    from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, character_lines

    crop, drawn = lost_glyphs_crop("2310195512", size, kept)
    lines = character_lines(crop, STROKE_CONTRAST)
    across = [
        (top, bottom, left, right)
        for top, bottom, left, right, _ in lines
        if top <= drawn.max() and bottom >= drawn.min()
    ]
    assert bool(across) is found
    if found:  # one line over all four survivors, not a piece of it
        assert max(right - left for *_, left, right in across) > 6 * size


def test_partial_volume_lungs_are_a_texture_of_their_own():
    """The second lung style, on which false holds are measured too: its vessels take
    the values between lung and soft tissue that a slice's thickness gives them."""
    between = {
        lungs: np.mean(
            [
                ((image > -750) & (image < -250)).mean()
                for seed in range(3)
                for image in [phantom_slice(np.random.default_rng(seed), 256, "chest", lungs)]
            ]
        )
        for lungs in ("crisp", "partial-volume")
    }
    assert between["partial-volume"] > 1.4 * between["crisp"]
    with pytest.raises(ValueError, match="lungs must be one of"):
        phantom_slice(np.random.default_rng(0), lungs="smooth")


@pytest.mark.parametrize(
    "carried,found",
    [
        ((216, 201), True),  # bottoms 4 px up: letters a vessel crossed at the baseline
        ((216, 205), False),  # 11 px tall, under CARRIED_SHARE of the line's 17: specks
        ((230, 215), False),  # below the line's rows: no letter of it
    ],
)
def test_a_line_runs_on_through_letters_a_vessel_took_off_its_baseline(carried, found):
    """+150 HU digits, every other one crossed by a vessel along the baseline: those lose
    their bottom rows and are no partners of the others, which then stand two letters
    apart and the line broke at each (two dates released, docs/benchmarks.md, night of
    2026-12-04). Blobs across the line's rows, of nearly its height, carry it on."""
    from anon_pipeline.engine.dicom.pixel_text import line_candidates

    bottom, top = carried
    blobs = []
    for index in range(7):  # 14 px wide letters 4 px apart, left to right
        left = 100 + 18 * index
        if index % 2:
            blobs.append((bottom, top, left, left + 14, 1))
        else:  # the last one's top a vessel took off (by more than ONE_ROW_SLACK allows):
            # three align
            blobs.append((220, 206 if index == 6 else 203, left, left + 14, 1))
    lines = [members for *_, members, _ in line_candidates(blobs)]
    assert ([0, 2, 4, 6] in lines) is found
    assert all(len(members) < 3 for members in lines) is not found


@pytest.mark.parametrize(
    "height,edge,moved,feet,found",
    [
        (24, "top", 2, 1, True),  # a vessel moved the top of every other 24 px letter by two
        (24, "top", 3, 1, False),  # by three: more than a pixel per ten of the letters' height
        (12, "top", 2, 1, False),  # 12 px letters: a pixel, as before
        (24, "bottom", 2, 0, False),  # bottoms stay within a pixel: a lung's vessels differ there
        (24, "top", 4, 0, True),  # feet on one row: a pixel of the top per six of height
        (24, "top", 5, 0, False),
        (12, "top", 2, 0, True),
        (11, "top", 2, 0, False),
    ],
)
def test_tall_letters_align_though_a_vessel_moved_their_tops(height, edge, moved, feet, found):
    """Letters share their top within a pixel per ALIGNED_SLACK of their height: a 24 px
    name whose every other letter a vessel crossed at the top had no three letters within
    one pixel, and was released (docs/benchmarks.md, night of 2026-12-04). Letters whose
    feet stand on one row exactly (`feet` 0: no foot a pixel lower) may differ by a pixel
    per ONE_ROW_SLACK at the top: a +150 HU letter's faint top row comes and goes."""
    from anon_pipeline.engine.dicom.pixel_text import line_candidates

    blobs = []
    for index in range(4):
        shift = moved * (index % 2)
        top, bottom = 100 + (shift if edge == "top" else 0), 100 + height + feet * (index % 2)
        bottom -= shift if edge == "bottom" else 0
        blobs.append((bottom, top, 100 + 18 * index, 114 + 18 * index, 1))
    lines = [members for *_, members, _ in line_candidates(blobs)]
    assert ([0, 1, 2, 3] in lines) is found


def test_letters_on_one_row_count_short_of_standing_alone():
    """Five blobs on one bottom row whose tops differ by two are aligned, but count as
    fewer than STANDS_ALONE: a partial-volume lung made five such, and a line that stands
    alone needs no quiet margins (a clean chest was held)."""
    from anon_pipeline.engine.dicom.pixel_text import STANDS_ALONE, aligned_letters

    blobs = [
        (124, 110 + 2 * (index % 2), 100 + 18 * index, 112 + 18 * index, 1) for index in range(5)
    ]
    assert aligned_letters(blobs) == STANDS_ALONE - 1
    exact = [(124, 110, left, right, count) for _, _, left, right, count in blobs]
    assert aligned_letters(exact) == 5


@pytest.mark.parametrize(
    "text,kept,size,found",
    [
        ("ID 39433789", {0, 1, 3}, 24, True),  # "ID 3": the rest lost over a lung's air
        ("18.12.1933", {7, 8, 9}, 19, True),  # "933"
        ("18.12.1933", {7, 8, 9}, 10, False),  # digits under SAME_ROWS_HEIGHT: a lung's specks
        ("ID 39433789", {0, 1, 4}, 24, False),  # "ID" and a digit two letters on: no line
    ],
)
def test_three_letters_of_one_top_and_bottom_row_are_a_line(monkeypatch, text, kept, size, found):
    """Three letters of fewer than LINE_CHARACTERS characters are no line, unless they are
    SAME_ROWS_HEIGHT tall and share their top and bottom rows exactly: an ID over soft
    tissue whose digits past "ID 3" crossed a lung was released (held-out seed 404)."""
    from anon_pipeline.engine.dicom import pixel_text

    crop, drawn = lost_glyphs_crop(text, size, kept)

    def over_text(lines):
        return any(top <= drawn.max() and bottom >= drawn.min() for top, bottom, *_ in lines)

    assert over_text(pixel_text.character_lines(crop, pixel_text.STROKE_CONTRAST)) is found
    monkeypatch.setattr(pixel_text, "same_rows", lambda members: False)
    assert not over_text(pixel_text.character_lines(crop, pixel_text.STROKE_CONTRAST))


def joined_letters(count: int, bridge: int) -> np.ndarray:
    """`count` 9 px letters, each a 6 px wide outline, a column apart and joined there by
    `bridge` pixels of grey."""
    word = np.zeros((9, 7 * count - 1), dtype=bool)
    for left in range(0, 7 * count, 7):
        word[:, left : left + 6] = True
        word[2:7, left + 2 : left + 4] = False
        if left:
            word[4 : 4 + bridge, left - 1] = True
    return word


@pytest.mark.parametrize(
    "count,bridge,cut",
    [
        (3, 1, True),  # three letters joined by a pixel
        (4, 2, True),  # four joined by two
        (3, 2, False),  # three joined by two: a lung's edge cuts so, and three align
        (4, 3, False),  # three pixels: a stroke, not the grey between letters
    ],
)
def test_small_letters_joined_by_their_grey_are_cut_apart(count, bridge, cut):
    """Small letters a pixel apart merge into one blob through the grey between them.
    Cut where a column holds a pixel, three aligned pieces are letters; cut where it
    holds two, which a lung's edges also do, four must align."""
    from anon_pipeline.engine.dicom.pixel_text import merged_letters

    pieces = merged_letters(joined_letters(count, bridge))
    expected = [[0, 9, left, left + 6] for left in range(0, 7 * count, 7)]
    assert pieces.tolist() == (expected if cut else [])


def test_two_rings_touching_are_not_cut_into_letters():
    """Two of a lung's rings touching cut into two pieces, which is no word."""
    from anon_pipeline.engine.dicom.pixel_text import merged_letters

    rings = np.zeros((10, 19), dtype=bool)
    for left in (0, 9):
        rings[:, left : left + 10] = True
        rings[2:8, left + 2 : left + 8] = False
    assert merged_letters(rings).shape == (0, 4)


@pytest.mark.parametrize(
    "font,polarity",
    [
        ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", -1),
        ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", 1),
        ("/usr/share/fonts/truetype/liberation/LiberationSans-Italic.ttf", -1),
    ],
)
def test_a_9_px_date_whose_digits_merged_is_found_on_a_label(head, font, polarity):
    """A 9 px date on a label: its digits touch through their anti-aliasing and it was
    one wide blob, no letter, and released (docs/benchmarks.md, 2026-12-05)."""
    trial = TextTrial(font, 9, "band", polarity, "full", ("1984-06-25",), 1)
    image = stored_values(burn_in(head, trial, random.Random(3)))
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(head)) > 40)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    assert any(
        r.top <= bottom and r.bottom >= top and r.left <= right and r.right >= left
        for r in text_regions(image)
    )


@pytest.fixture(scope="module")
def another_head():
    return phantom_slice(np.random.default_rng(12), region="head")


@pytest.mark.parametrize("polarity,seed", [(-1, 3), (-1, 8), (1, 0), (1, 3)])
def test_a_serif_date_in_a_band_is_a_baseline_though_its_strokes_end_at_mid_height(
    another_head, polarity, seed
):
    """FreeSerif's digits end their strokes at mid-height as often as on their feet, so
    no baseline stood out from the rows a few pixels above it, and +150 HU dates in a
    band were released. Nothing stands under them: over quiet air, no lung."""
    serif = "/usr/share/fonts/truetype/freefont/FreeSerif.ttf"
    trial = TextTrial(serif, 20, "band", polarity, "+150", ("1971-12-25",), 1)
    image = stored_values(burn_in(another_head, trial, random.Random(seed)))
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(another_head)) > 40)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    assert any(
        r.top <= bottom and r.bottom >= top and r.left <= right and r.right >= left
        for r in text_regions(image)
    )


def test_quiet_below_is_no_stroke_in_the_rows_read_under_a_span():
    from anon_pipeline.engine.dicom.pixel_text import QUIET_BELOW, quiet_below

    window_busy = np.random.default_rng(1).random((40, 8)) < 0.3
    span_busy = window_busy.copy()
    span_busy[:, :-1] |= window_busy[:, 1:]
    expected = np.zeros_like(window_busy)
    for row in range(40 - QUIET_BELOW):
        expected[row] = ~span_busy[row + 1 : row + 1 + QUIET_BELOW].any(axis=0)
    assert np.array_equal(quiet_below(window_busy), expected)
    assert expected.any() and not expected.all()


def test_thin_dark_text_on_a_label_box_at_the_frames_top_is_found(monkeypatch):
    """FreeMono 9 px, dark at full contrast on a renderer's label box of one exact value
    (1,200 HU) cut by the frame's top row: its anti-aliased strokes stand 150 to 1,260
    HU off the box, and the halo share breaks them into specks. On ground of exact
    values (`flat_ground`) the letters are looked at again with a lower share."""
    font = ImageFont.truetype("/usr/share/fonts/truetype/freefont/FreeMono.ttf", 9)
    trials = []
    for seed in range(4):
        for line in ("Dąbrowski^Żaneta", "Nowak Jan", "ID 57970347", "14.06.1931", "Lis^Łukasz"):
            for top in (-3, -2, -1):
                x, width = 150 + 7 * seed, int(font.getlength(line))
                image = Image.new("L", (512, 512), 0)
                ImageDraw.Draw(image).text((x, top + 3), line, fill=255, font=font)
                cover = np.asarray(image, dtype=np.float32) / 255
                hounsfield = np.random.default_rng(seed).normal(-1000, 8, cover.shape)
                hounsfield[0 : top + 17, x - 3 : x + width + 3] = 1200  # the label box
                frame = stored_values(hounsfield * (1 - cover) - 1000 * cover)
                trials.append((frame, cover > 0))

    def found() -> list[bool]:
        return [
            any(drawn[r.top : r.bottom, r.left : r.right].any() for r in text_regions(frame))
            for frame, drawn in trials
        ]

    assert pixel_text.flat_ground(trials[0][0][:20, 140:300])  # the box and its text
    assert not pixel_text.flat_ground(trials[0][0][100:200, 100:300])  # noisy air
    with_flat = found()
    monkeypatch.setattr(pixel_text, "FLAT_GROUND", 1.1)  # never flat: the plain share only
    without = found()
    assert all(now or not before for now, before in zip(with_flat, without, strict=True))
    # Measured: 54 of 60 found, 52 at the plain share only.
    assert sum(with_flat) >= sum(without) + 2


def test_blobs_that_end_on_a_rows_cut_are_no_line(monkeypatch):
    """Another style's slice (seed 47, 64): specks of a noisy air grown into blobs that
    all ended on the crop's cut last row, and stood on it as on a baseline. They stood
    only in a crop merged over a metal's streaks, too (`OWN_CROPS`, session 49): each
    rule refuses them alone."""
    frame = stored_values(nth_slice(47, 64)[0])
    assert text_regions(frame) == []
    with monkeypatch.context() as alone:
        alone.setattr(pixel_text, "OWN_CROPS", False)
        assert text_regions(frame) == []
    monkeypatch.setattr(pixel_text, "ends_on_a_cut", lambda *_: False)
    assert text_regions(frame) == []
    monkeypatch.setattr(pixel_text, "OWN_CROPS", False)
    assert text_regions(frame)


@pytest.mark.parametrize(
    ("cut_rows", "clear", "on_a_cut"),
    [((False, True), 2, True), ((False, False), 2, False), ((False, True), 3, False)],
)
def test_a_line_needs_three_blobs_clear_of_the_rows_a_crop_cut(cut_rows, clear, on_a_cut):
    letters = np.zeros((20, 80), bool)
    strokes = pixel_text.Strokes(np.zeros((20, 80)), letters, 60.0, cut_rows=cut_rows)
    members = [(20, 12, 10 * index, 10 * index + 6, 1) for index in range(5 - clear)]
    members += [(18, 10, 60 + 6 * index, 64 + 6 * index, 1) for index in range(clear)]
    assert pixel_text.ends_on_a_cut(strokes, members) is on_a_cut


def test_noise_beside_a_scanners_padding_is_measured_off_it(monkeypatch):
    """Another style's slice (seed 45, 33): 19 HU of sharp-kernel noise in the air beside
    the padding outside the field of view. Measured over both, half of them lifted by
    nothing, the noise let specks grow into a line."""
    values = np.full((40, 100), -2000, np.int16)
    values[:, 40:] = np.random.default_rng(3).normal(0, 19, (40, 60)).astype(np.int16)
    noisy = pixel_text.noisy_pixels(values)
    assert noisy is not None
    assert np.count_nonzero(noisy[:, 42:]) > 0.9 * noisy[:, 42:].size
    assert not noisy[:, 1:38].any()
    values[:, :80] = -2000  # mostly exact (a label's box): too little left to measure on
    assert pixel_text.noisy_pixels(values) is None
    frame = stored_values(nth_slice(45, 33)[0])
    assert text_regions(frame) == []
    monkeypatch.setattr(pixel_text, "noisy_pixels", lambda _: None)
    # The padding is the frame's floor too: its faint threshold is measured off it
    # again (`off_the_floor`, session 46); without either, the specks grow into a line.
    assert text_regions(frame) == []
    monkeypatch.setattr(pixel_text, "off_the_floor", lambda *_: None)
    assert text_regions(frame)


def test_the_faint_threshold_is_measured_off_air_clipped_at_the_floor(monkeypatch):
    """Tissue's noise (16 HU, as a phantom's texture and noise lift it) beside air a
    scanner clipped at -1,024, a few pixels just over it: the faint threshold stays the
    tissue's, not half the letters' threshold."""
    rng = np.random.default_rng(4)
    tissue = rng.normal(40, 16, (60, 120)).astype(np.float32)
    crop = tissue.copy()
    crop[:, :70] = np.maximum(rng.normal(-1040, 8, (60, 70)), -1024)
    crop = crop.astype(np.int16)
    alone = pixel_text.character_pixels(tissue.astype(np.int16), pixel_text.STROKE_CONTRAST)
    beside = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)
    assert alone[0].faint > 50
    assert all(b.faint >= a.faint - 6 for a, b in zip(alone, beside, strict=True))
    monkeypatch.setattr(pixel_text, "off_the_floor", lambda *_: None)
    unguarded = pixel_text.character_pixels(crop, pixel_text.STROKE_CONTRAST)
    assert unguarded[0].faint < alone[0].faint - 6


def test_off_the_floor_leaves_noisy_crops_and_a_screens_letters_alone():
    noisy = np.random.default_rng(5).normal(40, 8, (40, 80)).astype(np.int16)
    lowest = np.minimum.reduce([noisy[:, :-2], noisy[:, 1:-1], noisy[:, 2:]])
    assert pixel_text.off_the_floor(noisy[:, 1:-1], lowest) is None  # one lowest pixel
    label = Image.fromarray(np.zeros((40, 200), np.uint8))  # letters on a screen's black
    font = ImageFont.truetype(DEJAVU, 14)
    ImageDraw.Draw(label).text((4, 10), "KOWALSKA 1962", fill=255, font=font)
    values = np.asarray(label).astype(np.int16)
    opened = pixel_text.running(pixel_text.running(values, 1, np.minimum), 1, np.maximum)
    assert pixel_text.off_the_floor(values, opened) is None  # their opening is the black


def test_a_clean_slice_with_its_air_at_the_floor_is_not_held(monkeypatch):
    """Slice 7 of the bench's pool 25 with its air 30 HU lower and clipped at -1,024, as
    the bench's row of such slices draws it: grains of the tissue's noise grew into a
    line while the faint threshold was measured over the clipped air (session 46)."""
    source = SliceSource(25)
    for _ in range(7):
        source.next()
    hounsfield = source.next()
    hounsfield = np.where(hounsfield < -900, hounsfield - np.float32(30), hounsfield)
    frame = stored_values(np.maximum(hounsfield, np.float32(-1024)))
    assert np.mean(frame == frame.min()) > 0.3
    assert text_regions(frame) == []
    monkeypatch.setattr(pixel_text, "off_the_floor", lambda *_: None)
    assert text_regions(frame)
