"""The text-in-pixels check of one file, run by the whitelisting stage's workers.

Every frame gets the cheap look (`pixel_text`); the regions it confirms are read by
OCR from an upscaled crop (`ocr`) and judged (`text_holds`); in a frame whose noise
raised the looks' threshold, from the frame averaged down too (`noisy_text`), as OCR
misreads a noisy crop with confidence. Frames of a risk class
(localizers, derived and secondary images, colour, and images alone in their series,
as key images are) are also read whole. What a frame's pixels say is memoised per
frame content, so repeated frames cost one look; each file is judged on it against its
own identifiers. Pixels are never changed: a file is released byte for byte or held
for a person.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash

from anon_pipeline.engine.dicom.frames import UndecodableFrames, frames_of
from anon_pipeline.engine.dicom.noisy_text import averaged_down
from anon_pipeline.engine.dicom.ocr import OcrUnavailable, read_words
from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, noise_raised, text_regions
from anon_pipeline.engine.rules.holds import Held, HoldKind
from anon_pipeline.engine.rules.text_holds import READ_CONFIDENCE, TextVerdict, judge_words

RISK_IMAGE_TYPES = frozenset({"LOCALIZER", "DERIVED", "SECONDARY", "SCREEN SAVE", "SCOUT"})
MEMO_FRAMES = 4096
REGION_PADDING = 4
READ_AVERAGED = True  # regions of a frame whose noise raised the looks' threshold
_readings: OrderedDict[bytes, FrameReading] = OrderedDict()


def device_signature(signature: Iterable[str]) -> str:
    """A short name for a device and image kind (manufacturer, model, size, ImageType)
    that groups holds without quoting any of them."""
    digest = hashlib.sha256("\x1f".join(signature).encode()).hexdigest()[:8]
    return f"device {digest}"


def text_in_pixels(
    data: bytes, identifiers: Iterable[str] = (), risky: bool = False
) -> Held | None:
    """Why this file's pixels hold it (text, unread text, undecodable), or None. A risky
    file (alone in its series, say) has every frame read whole, as a risk class has."""
    try:
        frames = frames_of(data)
    except UndecodableFrames as error:
        return Held(HoldKind.UNDECODABLE_PIXELS, str(error))
    if frames is None:
        return None
    identifiers = tuple(identifiers)
    risky = risky or frames.colour or bool(RISK_IMAGE_TYPES & set(frames.image_type))
    contrast = STROKE_CONTRAST / frames.slope if not frames.colour else STROKE_CONTRAST / 4
    worst = TextVerdict.CLEAN
    try:
        for frame in frames:
            verdict = frame_verdict(frame, contrast, risky, identifiers)
            if verdict is TextVerdict.IDENTIFYING:
                worst = verdict
                break
            if verdict is TextVerdict.UNREAD:
                worst = verdict
    except UndecodableFrames as error:
        return Held(HoldKind.UNDECODABLE_PIXELS, str(error))
    except OcrUnavailable:
        worst = TextVerdict.UNREAD  # nothing is passed unread
    if worst is TextVerdict.CLEAN:
        return None
    kind = HoldKind.TEXT_IN_PIXELS if worst is TextVerdict.IDENTIFYING else HoldKind.TEXT_UNREAD
    return Held(kind, device_signature(frames.signature))


def read(crop: np.ndarray) -> list[tuple[str, float]]:
    """What OCR reads in a crop, bright or dark text alike."""
    bright = float(np.median(crop)) < float(crop.mean())  # sparse bright strokes
    return [(word.text, word.confidence) for word in read_words(crop, bright)]


Words = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class FrameReading:
    """What a frame's pixels say, whoever's file it is in: for each region shaped like
    text, the characters the closer look counted and the words OCR read there; and for
    a frame read whole (a risk class), the words read with confidence."""

    regions: tuple[tuple[int, Words], ...]
    whole: Words

    def verdict(self, identifiers: tuple[str, ...]) -> TextVerdict:
        """Judged against one file's own identifiers: the same pixels in another
        patient's file may carry that patient's ID."""
        verdict = TextVerdict.CLEAN
        for characters, words in self.regions:
            found = judge_words(words, identifiers, characters)
            if found is TextVerdict.IDENTIFYING:
                return found
            if found is TextVerdict.UNREAD:
                verdict = found
        # Read whole, only what is read with confidence counts: a body is no line of
        # text, and what OCR makes of it unsure is not text unread.
        if self.whole and judge_words(self.whole, identifiers) is TextVerdict.IDENTIFYING:
            return TextVerdict.IDENTIFYING
        return verdict


def frame_verdict(
    frame: np.ndarray, contrast: float, risky: bool, identifiers: tuple[str, ...]
) -> TextVerdict:
    """The frame's verdict for this file. What its pixels say is memoised per frame
    content (most frames say nothing), never the verdict, which follows the file."""
    # The same bytes under another rescale slope are judged at another contrast.
    key = xxhash.xxh3_128_digest(np.ascontiguousarray(frame).data)
    key += struct.pack("<d?", contrast, risky)
    reading = _readings.get(key)
    if reading is None:
        reading = read_frame(frame, contrast, risky)
        _readings[key] = reading
        if len(_readings) > MEMO_FRAMES:
            _readings.popitem(last=False)
    return reading.verdict(identifiers)


def read_frame(frame: np.ndarray, contrast: float, risky: bool) -> FrameReading:
    """OCR of the regions the closer look confirms, from an upscaled crop, up to one that
    holds whoever's file it is; and of the whole frame for a risk class."""
    regions = []
    found = text_regions(frame, contrast)
    # Under a noisy CT's grain OCR misreads what it is shown with confidence (a date in
    # 30 HU of noise read as "25 DA JĘ"), where the frame averaged down a few rows, as
    # the looks found it, reads plainly: both are read, and the worse verdict stands.
    views = [frame]
    if found and READ_AVERAGED and noise_raised(frame, contrast):
        views.append(averaged_down(frame))
    for region in found:
        for view in views:
            crop = view[
                max(0, region.top - REGION_PADDING) : region.bottom + REGION_PADDING,
                max(0, region.left - REGION_PADDING) : region.right + REGION_PADDING,
            ]
            words = tuple(read(crop))
            regions.append((region.stems, words))
            if judge_words(words, (), region.stems) is TextVerdict.IDENTIFYING:
                # A date or a name holds any file: nothing more need be read. A file's
                # own identifiers only ever add holds.
                return FrameReading(tuple(regions), ())
    whole: Words = ()
    if risky:
        whole = tuple((text, conf) for text, conf in read(frame) if conf >= READ_CONFIDENCE)
    return FrameReading(tuple(regions), whole)


def forget_readings() -> None:
    """Empty this process's memo (a benchmark's rounds must each pay for their reading)."""
    _readings.clear()
