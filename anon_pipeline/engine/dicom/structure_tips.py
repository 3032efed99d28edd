"""Whether a short line's blobs are the tips of stronger structures, not letters.

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
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int, int]  # bottom, top, left, right, characters: pixel_text's Blob

# Of a blob's lift: the level below its own it is joined at, and how much stronger than
# itself a structure must stand to have it as its tip.
TIP_SHARE = 0.5


def tips_of_structures(
    values: np.ndarray, sign: int, lifted: np.ndarray, letters: np.ndarray, blobs: list[Box]
) -> bool:
    """Whether every blob of a line is a tip of a stronger structure: joined, at
    TIP_SHARE of its lift below its level, to more pixels than its own that stand
    TIP_SHARE of its lift above it. `values`: the crop's; `sign`: 1 for bright strokes,
    -1 for dark ones (so a stroke stands above its ground); `lifted`, `letters`: the
    strokes'."""
    for bottom, top, left, right, _ in blobs:
        blob = letters[top:bottom, left:right]
        pixels = np.count_nonzero(blob)
        if not pixels:
            return False
        level = sign * float(np.median(values[top:bottom, left:right][blob]))
        lift = float(np.median(lifted[top:bottom, left:right][blob]))
        # Looked at a blob's height round it: a tip's structure is at hand.
        height = bottom - top
        above, before = max(0, top - height), max(0, left - height)
        window = sign * values[above : bottom + height, before : right + height].astype(np.float32)
        joined_level = window >= level - TIP_SHARE * lift
        _, labels = cv2.connectedComponents(joined_level.view(np.uint8), connectivity=8)
        own = labels[top - above : bottom - above, left - before : right - before][blob]
        own = own[own > 0]
        if not len(own):
            return False
        joined = labels == np.bincount(own).argmax()
        if np.count_nonzero(joined & (window >= level + TIP_SHARE * lift)) < pixels:
            return False
    return True
