"""The text-in-pixels check of one file, run by the whitelisting stage's workers.

Every frame gets the cheap look (`pixel_text`); the regions it confirms are read by
OCR from an upscaled crop (`ocr`) and judged (`text_holds`); in a frame whose noise
raised the looks' threshold, from the frame averaged down too (`noisy_text`), as OCR
misreads a noisy crop with confidence. Frames of a risk class
(localizers, derived and secondary images, colour, and images alone in their series,
as key images are) are also read whole. What a frame's pixels say is memoised per
frame content, so repeated frames cost one look; each file is judged on it against its
own identifiers. A region read as nothing sure is read again, the other polarity's
way and as the whole line it is part of; only a reading that is safe annotation
through and through clears it. Pixels are never changed: a file is released byte for
byte or held for a person.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash

from anon_pipeline.engine.dicom.flat_text import CHARACTER_WIDTH
from anon_pipeline.engine.dicom.frames import UndecodableFrames, frames_of
from anon_pipeline.engine.dicom.noisy_text import averaged_down
from anon_pipeline.engine.dicom.ocr import OcrUnavailable, read_words
from anon_pipeline.engine.dicom.pixel_text import (
    STROKE_CONTRAST,
    Region,
    noise_raised,
    text_regions,
)
from anon_pipeline.engine.rules.holds import Held, HoldKind
from anon_pipeline.engine.rules.text_holds import (
    TextVerdict,
    judge_words,
    safe_annotation,
)

RISK_IMAGE_TYPES = frozenset({"LOCALIZER", "DERIVED", "SECONDARY", "SCREEN SAVE", "SCOUT"})
MEMO_FRAMES = 4096
REGION_PADDING = 4
READ_AVERAGED = True  # regions of a frame whose noise raised the looks' threshold
# Whether the regions of one line that the looks boxed apart are read again as the line
# (`one_line`): a part cut mid-word reads as a letter or nothing ("a" of "250 mAs") and
# was held unread, though the line reads whole as safe annotation.
READ_LINES = True
LINE_OVERLAP = 0.5  # of the lower region's rows, shared by regions of one line
# Whether a region read as nothing sure is read again taking its text for the other
# polarity: a +150 HU window setting in a corner read as nothing one way, whole the other.
READ_FLIPPED = True
# Tesseract's confidence a word read from a whole frame (a risk class's) must reach to
# count: read whole, a clean body gives nonsense words of three letters ("PAZ", "SKU")
# at 60 to 75 (30 of 800 clean slices of both styles held so, at 60), and none over 80;
# the bench's names and dates read whole stand at 85 and over (98 of 111).
WHOLE_CONFIDENCE = 80.0
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


def read(crop: np.ndarray, flipped: bool = False) -> list[tuple[str, float]]:
    """What OCR reads in a crop, bright or dark text alike: taken as sparse bright strokes
    where its median is under its mean; `flipped`, the other way."""
    bright = float(np.median(crop)) < float(crop.mean())
    return [(word.text, word.confidence) for word in read_words(crop, bright != flipped)]


Words = tuple[tuple[str, float], ...]
# Readings of a frame read again: the readings they stand for (indices), the characters
# they must account for, and the words read in each view.
Reread = tuple[tuple[int, ...], int, tuple[Words, ...]]


@dataclass(frozen=True, slots=True)
class FrameReading:
    """What a frame's pixels say, whoever's file it is in: for each region shaped like
    text, the characters the closer look counted and the words OCR read there; for a
    frame read whole (a risk class), the words read with confidence; and what was read
    again where a region was unread (`read_again`): which readings it stands for, their
    characters, and the words of each view; and which readings are of doubtful regions
    (`Region.doubtful`), that hold only where what is read does."""

    regions: tuple[tuple[int, Words], ...]
    whole: Words
    again: tuple[Reread, ...] = ()
    doubtful: frozenset[int] = frozenset()

    def verdict(self, identifiers: tuple[str, ...]) -> TextVerdict:
        """Judged against one file's own identifiers: the same pixels in another
        patient's file may carry that patient's ID. A region read in part ("a" of "250
        mAs") or as nothing is unread; where its reading again is safe annotation
        through and through (`safe_annotation`) in every view, with characters enough,
        that clears it. Nothing read as identifying is ever overruled."""
        verdicts = [
            judge_words(words, identifiers, characters) for characters, words in self.regions
        ]
        if TextVerdict.IDENTIFYING in verdicts:
            return TextVerdict.IDENTIFYING
        for member in self.doubtful:  # noise's chance line, unless it reads as text
            if verdicts[member] is TextVerdict.UNREAD:
                verdicts[member] = TextVerdict.CLEAN
        for members, characters, views in self.again:
            judged = {judge_words(words, identifiers, characters) for words in views}
            if TextVerdict.IDENTIFYING in judged:
                return TextVerdict.IDENTIFYING
            if judged == {TextVerdict.CLEAN} and all(safe_annotation(words) for words in views):
                for member in members:
                    verdicts[member] = TextVerdict.CLEAN
        # Read whole, only what is read with confidence counts: a body is no line of
        # text, and what OCR makes of it unsure is not text unread.
        if self.whole and judge_words(self.whole, identifiers) is TextVerdict.IDENTIFYING:
            return TextVerdict.IDENTIFYING
        return TextVerdict.UNREAD if TextVerdict.UNREAD in verdicts else TextVerdict.CLEAN


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
    holds whoever's file it is; again where a region was unread (`read_again`); and of
    the whole frame for a risk class."""
    regions: list[tuple[int, Words]] = []
    boxes: list[Region] = []  # each reading's region
    found = text_regions(frame, contrast)
    # Under a noisy CT's grain OCR misreads what it is shown with confidence (a date in
    # 30 HU of noise read as "25 DA JĘ"), where the frame averaged down a few rows, as
    # the looks found it, reads plainly: both are read, and the worse verdict stands.
    views = [frame]
    if found and READ_AVERAGED and noise_raised(frame, contrast):
        views.append(averaged_down(frame))
    crops: list[np.ndarray] = []  # and its crop
    for region in found:
        for view in views:
            crops.append(padded(view, region))
            words = tuple(read(crops[-1]))
            regions.append((region.stems, words))
            boxes.append(region)
            if judge_words(words, (), region.stems) is TextVerdict.IDENTIFYING:
                # A date or a name holds any file: nothing more need be read. A file's
                # own identifiers only ever add holds.
                return FrameReading(tuple(regions), ())
    again, identifying = read_again(regions, boxes, crops, views)
    if identifying:
        return FrameReading(tuple(regions), (), again)
    whole: Words = ()
    if risky:
        whole = tuple((text, conf) for text, conf in read(frame) if conf >= WHOLE_CONFIDENCE)
    doubtful = frozenset(index for index, box in enumerate(boxes) if box.doubtful)
    return FrameReading(tuple(regions), whole, again, doubtful)


def read_again(
    regions: list[tuple[int, Words]],
    boxes: list[Region],
    crops: list[np.ndarray],
    views: list[np.ndarray],
) -> tuple[tuple[Reread, ...], bool]:
    """The readings unread (`regions`, of `boxes` in `crops`) read again: each the other
    polarity's way, and the lines they are parts of (`one_line`) whole, in every view;
    and whether one of those readings identifies, where reading stops."""
    again: list[Reread] = []
    unread = [
        index
        for index, (characters, words) in enumerate(regions)
        if judge_words(words, (), characters) is TextVerdict.UNREAD
    ]
    # A crop whose ground is as mixed as its text (a corner's air and a body's edge)
    # may be taken for the wrong polarity, and read as nothing: read the other way too.
    for index in unread if READ_FLIPPED else []:
        again.append(((index,), regions[index][0], (tuple(read(crops[index], flipped=True)),)))
        if identifies(again[-1]):
            return tuple(again), True
    for members in one_line(boxes) if unread and READ_LINES else []:
        # A region read in two views is one box twice: a line is two boxes or more.
        if not set(members) & set(unread) or len({boxes[member] for member in members}) < 2:
            continue
        line = Region(
            min(boxes[member].top for member in members),
            max(boxes[member].bottom for member in members),
            min(boxes[member].left for member in members),
            max(boxes[member].right for member in members),
            0,
        )
        # The line's characters: as many as its width holds, never fewer than a part's.
        characters = max(
            max(regions[member][0] for member in members),
            round((line.right - line.left) / (CHARACTER_WIDTH * line.height)),
        )
        readings = tuple(tuple(read(padded(view, line))) for view in views)
        again.append((members, characters, readings))
        if identifies(again[-1]):
            return tuple(again), True
    return tuple(again), False


def identifies(reread: Reread) -> bool:
    """Whether a reading again identifies whoever's file it is in."""
    _, characters, readings = reread
    return any(judge_words(words, (), characters) is TextVerdict.IDENTIFYING for words in readings)


def padded(view: np.ndarray, region: Region) -> np.ndarray:
    """The crop OCR reads of a region: REGION_PADDING more each way, clipped, and
    turned as the looks saw its line (`Region.turn`)."""
    crop = view[
        max(0, region.top - REGION_PADDING) : region.bottom + REGION_PADDING,
        max(0, region.left - REGION_PADDING) : region.right + REGION_PADDING,
    ]
    return np.ascontiguousarray(np.rot90(crop, region.turn)) if region.turn else crop


def one_line(boxes: list[Region]) -> list[tuple[int, ...]]:
    """Groups of two or more readings whose regions are parts of one line: they touch
    (within REGION_PADDING) and stand level, sharing LINE_OVERLAP of the lower one's
    rows, directly or through others of the group. Lines stacked one over another are
    never one."""
    group = list(range(len(boxes)))

    def root(index: int) -> int:
        while group[index] != index:
            group[index] = group[group[index]]
            index = group[index]
        return index

    for first, one in enumerate(boxes):
        for second in range(first + 1, len(boxes)):
            other = boxes[second]
            if one.turn or other.turn:  # a line up or down the frame is read alone
                continue
            level = min(one.bottom, other.bottom) - max(one.top, other.top)
            touching = (
                one.left - REGION_PADDING <= other.right
                and other.left - REGION_PADDING <= one.right
            )
            if touching and level >= LINE_OVERLAP * min(one.height, other.height):
                group[root(second)] = root(first)
    members: dict[int, list[int]] = {}
    for index in range(len(boxes)):
        members.setdefault(root(index), []).append(index)
    return [tuple(indices) for indices in members.values() if len(indices) > 1]


def forget_readings() -> None:
    """Empty this process's memo (a benchmark's rounds must each pay for their reading)."""
    _readings.clear()
