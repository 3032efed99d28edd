"""A faint letter where it touches a stronger structure: the letter's pixels apart
from what they touch.

Over a lung, a +150 HU letter lies on air, and where a vessel's part volume (+250 to
+450 over the air) touches or crosses it, the closer look labels both as one blob, too
large and of no letter's shape; a line of such letters has too few left to align. (A
vessel of +900 does not join it: the letter's pixels beside it are the vessel's halo,
`pixel_text.letter_parts`.) Dark letters on bright tissue meet dark structures the
same way. Pixels lifted under WEAK_LIFT times the threshold are labelled again on
their own, so the letter stands apart from the structure (`weak_letters`).

The same cut leaves a vessel's part-volume rim: a ring or a crescent of weak pixels
round the strong core, which lines up by chance. Such a blob lies mostly beside the
stronger pixels, where a letter only touches them, so a weak blob with over RIM_SHARE
of its pixels beside a stronger one is dropped.

Taking the core away leaves a vessel's stubs too, and a row of them lines up by
chance, so a line only this look finds must be of letter-shaped blobs (`freed_shaped`).

The second look costs a labelling and a search for lines, so it is only taken where it
can find a line the first did not: where a blob it frees from a stronger one is of a
letter's size (`pixel_text.frees_a_letter`), and it reuses its own labelling.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from anon_pipeline.engine.dicom.blobs import blob_boxes
from anon_pipeline.engine.dicom.letter_shapes import Box, shape_medians

# Times the threshold (60 HU): a +150 HU letter's pixels stand under it; a vessel over
# a lung's air, or full-contrast text, far over it.
WEAK_LIFT = 4
# Of a weak blob's pixels, the share beside a stronger pixel that makes it a rim.
# Half (session 31): a third found fewer texts; no rim test held 19 more of 300
# partial-volume chests.
RIM_SHARE = 0.5
# A line only the second look finds: its median blob fills at most FREED_SOLIDITY of its
# convex hull, with a widest stroke under FREED_STROKE of its height. The 20 texts it
# found on 22 seeds fill 0.44 to 0.75, with strokes of 0.10 to 0.29; four of the seven
# clean lines it added on the bench's clean sets are a vessel's stubs (fill 0.85 to 1.0,
# or strokes of 0.38 and 0.5). With the rule, none of the 20 is lost.
FREED_SOLIDITY = 0.8
FREED_STROKE = 1 / 3


@dataclass(frozen=True)
class Freed:
    """The weak letter pixels (`letters`) and their blobs (`labels`, and `boxes` as
    `blob_boxes` gives them, a dropped rim's emptied), so the second look need not label
    them again; and the heights and widths of the blobs that touched a stronger pixel:
    the only ones the first look saw otherwise."""

    letters: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    heights: np.ndarray
    widths: np.ndarray


def weak_letters(letters: np.ndarray, lifted: np.ndarray, contrast: float) -> Freed | None:
    """The letter pixels lifted under WEAK_LIFT * `contrast`, less the blobs of them that
    are mostly rims of the stronger ones; None where no letter pixel is stronger or
    no weak blob touched one (the blobs would be the first look's)."""
    strong = letters & (lifted > WEAK_LIFT * contrast)
    if not strong.any():
        return None
    weak = letters & ~strong
    beside = cv2.dilate(strong.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    labels, boxes = blob_boxes(weak)
    # Counted over the letter pixels only: a few thousand of a crop's hundred thousand.
    where = np.flatnonzero(weak)
    blob_of = labels.ravel()[where]
    pixels = np.bincount(blob_of, minlength=len(boxes) + 1)
    touching = np.bincount(blob_of[beside.ravel()[where]], minlength=len(boxes) + 1)
    kept = touching <= RIM_SHARE * pixels
    kept[0] = False  # the background
    freed = (kept & (touching > 0))[1:]
    if not freed.any():
        return None
    apart = np.zeros_like(weak)
    apart.ravel()[where] = kept[blob_of]
    freed_boxes = boxes[freed]
    boxes[~kept[1:], 1] = boxes[~kept[1:], 0]  # a rim: no height, no letter
    heights, widths = freed_boxes[:, 1] - freed_boxes[:, 0], freed_boxes[:, 3] - freed_boxes[:, 2]
    return Freed(apart, labels, boxes, heights, widths)


def freed_shaped(letters: np.ndarray, members: list[Box]) -> bool:
    """Whether a line found among freed letters is of letters, not of the stubs a vessel
    leaves when its strong core is taken away: thick, or filling their hull."""
    if not members:
        return False
    _, fill, stroke = shape_medians(letters, members)
    return fill <= FREED_SOLIDITY and stroke < FREED_STROKE
