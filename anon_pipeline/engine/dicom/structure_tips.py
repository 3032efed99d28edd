"""Whether a short line's blobs are the tips of stronger structures, or pockets of a
lung between its vessels, not letters.

Where a lung meets the soft tissue under it, its edge is ragged, and the closer look's
closing cuts it into tips: dark wedges a few pixels tall that hang from the lung, whose
feet end on one row (the tissue's edge), and whose tops align by chance. Three such tips
over quiet tissue stand as a short line of letters with empty margins. One phantom of
24 (fresh seed 3005) was held so in 20 of its 42 slices.

A letter stands apart from whatever is stronger than itself: at half its lift, the
pixels joined to it are its own strokes and their anti-aliased edges, over a weaker
ground. A tip at half its lift joins the structure it is the tip of, which stands
stronger still. The gaps between bright letters are no tips either: at half their lift
they join the text's ground, which stands no stronger than they do.

Between a lung's vessels its dark parenchyma makes pockets, which stand in rows of three
or four by chance. A pocket stands at the level of the lung round it, and its walls are
vessels of unequal strength, so a row's pockets are lifted unequally. A dark letter
stands darker than its ground, and what stands brighter round a letter (a bone, a
vessel) is no level of its own: only what stands at a blob's level is counted (counting
what stands stronger too released bright letters beside bone). The gaps between a
text's letters stand at their ground's level, but between letters of one strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int, int]  # bottom, top, left, right, characters: pixel_text's Blob

# Of a blob's lift: the level below its own it is joined at, and how much stronger than
# itself a structure must stand to have it as its tip.
TIP_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Surround:
    """A blob of a line and what stands within its height round it: its pixels in its
    box (`blob`), their median `level` and `lift`, and the crop's values there, turned
    so strokes stand above their ground (`window`, from row `above` and column
    `before` of the crop)."""

    blob: np.ndarray
    level: float
    lift: float
    window: np.ndarray
    above: int
    before: int

    def pixels(self) -> int:
        return int(np.count_nonzero(self.blob))


def surround(
    values: np.ndarray, sign: int, lifted: np.ndarray, letters: np.ndarray, box: Box
) -> Surround | None:
    """A blob's surround (None for a box with no letter pixels). `values`: the crop's;
    `sign`: 1 for bright strokes, -1 for dark ones; `lifted`, `letters`: the strokes'."""
    bottom, top, left, right, _ = box
    blob = letters[top:bottom, left:right]
    if not blob.any():
        return None
    height = bottom - top
    above, before = max(0, top - height), max(0, left - height)
    return Surround(
        blob,
        sign * float(np.median(values[top:bottom, left:right][blob])),
        float(np.median(lifted[top:bottom, left:right][blob])),
        sign * values[above : bottom + height, before : right + height].astype(np.float32),
        above,
        before,
    )


def tips_of_structures(
    values: np.ndarray, sign: int, lifted: np.ndarray, letters: np.ndarray, blobs: list[Box]
) -> bool:
    """Whether every blob of a line is a tip of a stronger structure: joined, at
    TIP_SHARE of its lift below its level, to more pixels than its own that stand
    TIP_SHARE of its lift above it (`surround` says what the arguments are)."""
    for box in blobs:
        bottom, top, left, right, _ = box
        round_it = surround(values, sign, lifted, letters, box)
        if round_it is None:
            return False
        window, level, lift = round_it.window, round_it.level, round_it.lift
        joined_level = window >= level - TIP_SHARE * lift
        _, labels = cv2.connectedComponents(joined_level.view(np.uint8), connectivity=8)
        above, before = round_it.above, round_it.before
        own = labels[top - above : bottom - above, left - before : right - before][round_it.blob]
        own = own[own > 0]
        if not len(own):
            return False
        joined = labels == np.bincount(own).argmax()
        if np.count_nonzero(joined & (window >= level + TIP_SHARE * lift)) < round_it.pixels():
            return False
    return True


# Of a blob's lift: how near its level the parenchyma round a pocket stands.
POCKET_LEVEL = 0.25
# Times a blob's own pixels, at its level within its height round it: the lung it is
# a pocket of.
POCKET_PIXELS = 2.0
# The most one blob of a line may be lifted over another's lift: a text's letters (or
# the gaps between them) stand alike, a pocket's walls are vessels of unequal strength.
POCKET_LIFTS = 1.5


def pockets_of_ground(
    values: np.ndarray, sign: int, lifted: np.ndarray, letters: np.ndarray, blobs: list[Box]
) -> bool:
    """Whether every blob of a line is a pocket of the ground round it, between walls of
    unequal strength: a dark lung between its vessels. Each blob's level (within
    POCKET_LEVEL of its lift) is the level of POCKET_PIXELS times its own pixels within
    its height round it, the line's blobs aside; and the blobs' lifts differ by over
    POCKET_LIFTS times. A letter stands apart from its ground, and what is stronger
    round it (a bone, a vessel) is no level of its own."""
    lifts = []
    for box in blobs:
        round_it = surround(values, sign, lifted, letters, box)
        if round_it is None:
            return False
        lifts.append(round_it.lift)
        above, before = round_it.above, round_it.before
        at_level = np.abs(round_it.window - round_it.level) <= POCKET_LEVEL * round_it.lift
        for other_bottom, other_top, other_left, other_right, _ in blobs:
            at_level[
                max(0, other_top - above) : max(0, other_bottom - above),
                max(0, other_left - before) : max(0, other_right - before),
            ] = False
        if np.count_nonzero(at_level) < POCKET_PIXELS * round_it.pixels():
            return False
    return max(lifts) > POCKET_LIFTS * min(lifts)


# Of the way from a line's ground to its letters' level: the level its blobs are joined
# at, to tell the pieces of one structure from letters.
PIECES_SHARE = 0.65
# Pixels of a column at that level that do not join what stands either side of it.
PIECES_BRIDGE = 2


def pieces_of_one(
    values: np.ndarray,
    sign: int,
    lifted: np.ndarray,
    letters: np.ndarray,
    blobs: list[Box],
    contrast: float,
) -> bool:
    """Whether a line's blobs are pieces of one structure: joined, within the line's rows
    and columns, by pixels PIECES_SHARE of the way from its ground (what stands under
    `contrast` round it) to its letters' level. A table's foam core between its shells, a
    bowel's air over a fluid level: the closer look's closing lifts such a band in the
    columns where it is narrow enough and not in the others, and its pieces share their
    top and bottom rows as a font's letters do. Letters are apart from each other at
    that level: the gaps between them stand at their ground's."""
    top, bottom = min(box[1] for box in blobs), max(box[0] for box in blobs)
    left, right = min(box[2] for box in blobs), max(box[3] for box in blobs)
    margin = max(2, (bottom - top) // 2)
    above, before = max(0, top - margin), max(0, left - margin)
    window = sign * values[above : bottom + margin, before : right + margin].astype(np.float32)
    ground_pixels = window[lifted[above : bottom + margin, before : right + margin] <= contrast]
    line_letters = letters[top:bottom, left:right]
    if ground_pixels.size < len(blobs) or not line_letters.any():
        return False
    box = window[top - above : bottom - above, left - before : right - before]
    ground = float(np.median(ground_pixels))
    level = float(np.median(box[line_letters]))
    if level - ground <= contrast:
        return False
    joined = box > ground + PIECES_SHARE * (level - ground)
    # Small letters touch through a pixel or two of anti-aliased grey (`pixel_text`'s
    # merged letters): a column that thin joins nothing.
    joined[:, np.count_nonzero(joined, axis=0) <= PIECES_BRIDGE] = False
    _, labels = cv2.connectedComponents(joined.view(np.uint8), connectivity=8)
    structures = set()
    for blob_bottom, blob_top, blob_left, blob_right, _ in blobs:
        rows = slice(blob_top - top, blob_bottom - top)
        columns = slice(blob_left - left, blob_right - left)
        own = labels[rows, columns][line_letters[rows, columns]]
        own = own[own > 0]
        # A blob none of whose pixels reach that level (a letter over other ground) is
        # a structure of its own.
        structures.add(int(np.bincount(own).argmax()) if own.size else -1 - blob_left)
        if len(structures) > 1:
            return False
    return True
