"""Text under a scanner's padding, clipped to the stored floor 48 HU under it: found by
its islands in the padding; a field of view alone in its padding has none."""

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.engine.dicom.padding_islands import padding_mask
from anon_pipeline.synthetic.pixel_trials import fonts

pytestmark = pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PADDING, FLOOR = -2000, -2048  # stored values: -3,024 HU padding, a 12-bit frame's floor
TEXT_BOX = (20, 40, 20, 200)  # rows and columns the name is drawn in


def padded_slice(name: str | None) -> np.ndarray:
    """A 512 x 512 frame of stored values: soft tissue with 8 HU of noise inside a field
    of view 480 px across, padding outside it, and `name` (if any) written 150 HU under
    the padding in its top left corner, which the floor clips to 48 under it."""
    rng = np.random.default_rng(3)
    rows, columns = np.indices((512, 512))
    inside = np.hypot(rows - 256, columns - 256) < 240
    frame = np.where(inside, 1064 + rng.normal(0, 8, (512, 512)), PADDING)
    if name:
        drawn = Image.new("L", (512, 512), 0)
        ImageDraw.Draw(drawn).text(
            (TEXT_BOX[2], TEXT_BOX[0]), name, fill=255, font=ImageFont.truetype(DEJAVU, 16)
        )
        frame = frame - 150 * (np.asarray(drawn, np.float64) / 255)
    return np.maximum(np.rint(frame), FLOOR).astype(np.int16)


def over_text(regions: list[pixel_text.Region]) -> bool:
    top, bottom, left, right = TEXT_BOX
    return any(
        r.top < bottom and r.bottom > top and r.left < right and r.right > left for r in regions
    )


def test_text_clipped_under_the_padding_is_found_by_its_islands(monkeypatch):
    frame = padded_slice("KOWALSKI JAN 1957")
    assert over_text(pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST))
    monkeypatch.setattr(pixel_text, "PADDING_TEXT", False)
    assert not over_text(pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST))


def test_a_field_of_view_alone_in_its_padding_has_no_island():
    frame = padded_slice(None)
    assert padding_mask(frame, pixel_text.MAX_TEXT_HEIGHT, pixel_text.STROKE_CONTRAST) is None
    assert pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST) == []


def test_a_frame_without_padding_is_not_labelled():
    frame = padded_slice(None)
    rng = np.random.default_rng(4)
    noisy = (frame + rng.integers(-8, 9, frame.shape)).astype(np.int16)  # air with noise
    assert padding_mask(noisy, pixel_text.MAX_TEXT_HEIGHT, pixel_text.STROKE_CONTRAST) is None


def air_slice(rng: np.random.Generator, air: float, padded: bool) -> np.ndarray:
    """A 512 x 512 frame of stored values (HU): a body disc of soft tissue in air of mean
    `air` with 8 HU of noise, clipped at -1,024 as a scanner stores it; outside a field of
    view 480 px across, padding of -1,024 exactly if `padded`."""
    rows, columns = np.indices((512, 512))
    radius = np.hypot(rows - 256, columns - 256)
    frame = np.where(radius < 150, 40.0, air) + rng.normal(0, 8, (512, 512))
    if padded:
        frame[radius >= 240] = -1024
    return np.maximum(np.rint(frame), -1024).astype(np.int16)


def test_noise_of_air_stored_mostly_at_one_value_stands_in_no_padding():
    # Air 30 HU under the floor: most of it is -1,024, and its noise stands in it as
    # thousands of islands a few HU over it, which were held as text.
    frame = air_slice(np.random.default_rng(5), -1030.0, padded=False)
    assert frame[0, 0] == -1024 and np.mean(frame == -1024) > 0.5
    count, _ = cv2.connectedComponents((frame != -1024).view(np.uint8), connectivity=8)
    assert count > 1000
    assert padding_mask(frame, pixel_text.MAX_TEXT_HEIGHT, pixel_text.STROKE_CONTRAST) is None
    assert pixel_text.text_regions(frame, pixel_text.STROKE_CONTRAST) == []


def test_bright_text_over_the_padding_is_an_island_too():
    frame = padded_slice(None)
    drawn = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(drawn).text(
        (TEXT_BOX[2], TEXT_BOX[0]), "KOWALSKI JAN", fill=255, font=ImageFont.truetype(DEJAVU, 12)
    )
    frame = np.rint(frame + 150 * (np.asarray(drawn, np.float64) / 255)).astype(np.int16)
    mask = padding_mask(frame, pixel_text.MAX_TEXT_HEIGHT, pixel_text.STROKE_CONTRAST)
    assert mask is not None
    assert over_text(pixel_text.stroke_lines(mask, pixel_text.STROKE_CONTRAST))
