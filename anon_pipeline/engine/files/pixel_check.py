"""The text-in-pixels check of one file, run by the whitelisting stage's workers.

Every frame gets the cheap look (`pixel_text`); the regions it confirms are read by
OCR from an upscaled crop (`ocr`) and judged (`text_holds`). Frames of a risk class
(localizers, derived and secondary images, colour) are also read whole. A verdict
is memoised per frame content, so repeated frames cost one look. Pixels are never
changed: a file is released byte for byte or held for a person.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import xxhash

from anon_pipeline.engine.dicom.frames import UndecodableFrames, frames_of
from anon_pipeline.engine.dicom.ocr import OcrUnavailable, read_words
from anon_pipeline.engine.dicom.pixel_text import STROKE_CONTRAST, text_regions
from anon_pipeline.engine.rules.holds import Held, HoldKind
from anon_pipeline.engine.rules.text_holds import TextVerdict, judge_words

RISK_IMAGE_TYPES = frozenset({"LOCALIZER", "DERIVED", "SECONDARY", "SCREEN SAVE", "SCOUT"})
MEMO_FRAMES = 4096
REGION_PADDING = 4
_verdicts: OrderedDict[bytes, TextVerdict] = OrderedDict()


def device_signature(signature: Iterable[str]) -> str:
    """A short name for a device and image kind (manufacturer, model, size, ImageType)
    that groups holds without quoting any of them."""
    digest = hashlib.sha256("\x1f".join(signature).encode()).hexdigest()[:8]
    return f"device {digest}"


def text_in_pixels(data: bytes, identifiers: Iterable[str] = ()) -> Held | None:
    """Why this file's pixels hold it (text, unread text, undecodable), or None."""
    try:
        frames = frames_of(data)
    except UndecodableFrames as error:
        return Held(HoldKind.UNDECODABLE_PIXELS, str(error))
    if frames is None:
        return None
    identifiers = tuple(identifiers)
    risky = frames.colour or bool(RISK_IMAGE_TYPES & set(frames.image_type))
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


def frame_verdict(
    frame: np.ndarray, contrast: float, risky: bool, identifiers: tuple[str, ...]
) -> TextVerdict:
    key = xxhash.xxh3_128_digest(np.ascontiguousarray(frame).data) + bytes([risky])
    known = _verdicts.get(key)
    if known is not None:
        return known
    verdict = TextVerdict.CLEAN
    crops = [
        frame[
            max(0, region.top - REGION_PADDING) : region.bottom + REGION_PADDING,
            max(0, region.left - REGION_PADDING) : region.right + REGION_PADDING,
        ]
        for region in text_regions(frame, contrast)
    ]
    if risky:
        crops.append(frame)
    for crop in crops:
        bright = float(np.median(crop)) < float(crop.mean())  # sparse bright strokes
        found = judge_words(
            ((word.text, word.confidence) for word in read_words(crop, bright)), identifiers
        )
        if found is TextVerdict.IDENTIFYING:
            verdict = found
            break
        if found is TextVerdict.UNREAD:
            verdict = found
    _verdicts[key] = verdict
    if len(_verdicts) > MEMO_FRAMES:
        _verdicts.popitem(last=False)
    return verdict
