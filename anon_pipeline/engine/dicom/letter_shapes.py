"""Whether a short line's blobs are shaped as letters are: strokes bent round open
space, not discs.

Three letters of a short line must stand in nearly empty margins (`pixel_text`'s
EMPTY_MARGIN): a lung's vessels and a soft kernel's grains stand in rows of three by
chance. Those blobs are discs: they fill their convex hull and are as thick as they are
tall. A +150 HU word over the body is strokes: a letter fills half to two thirds of its
hull, and its stroke is a fraction of its height. Where a line is made of such blobs,
its margins may be as busy as a longer line's (QUIET_MARGIN): on twelve seeds, 8 of
the 89 released texts had a line that only its empty margins turned away, and no
clean frame of 4,100 had such a line.

The other way round, a line of discs that does not stand alone is no text, whatever its
margins (`disc_shaped`): 19 of the 54 clean slices held on the bench's clean sets were
rows of a lung's vessels or grains that fill over DISC_SOLIDITY of their hull, and no
line over the text of 9,900 text trials was so.
"""

from __future__ import annotations

import cv2
import numpy as np

# The median blob's pixels, of its convex hull's: a letter's are a half to two thirds;
# a disc's, a grain's or a vessel's cross-section nearly all.
LETTER_SOLIDITY = 0.65
# The median blob's widest stroke, of its height: a disc's is all of it.
LETTER_STROKE = 0.25
# Pixels: the median blob's height. Smaller, a letter anti-aliases into a disc too.
LETTER_HEIGHT = 7
# The median blob's share of its hull over which, with a stroke of LETTER_STROKE of its
# height or more, a line is discs: a bold 9 px word's counters close and it fills up to
# 0.93, but its strokes are a pixel or two (0.17 of its height at most).
DISC_SOLIDITY = 0.88

Box = tuple[int, int, int, int, int]  # bottom, top, left, right, characters: pixel_text's Blob


def solidity(inside: np.ndarray) -> float:
    """The share of its convex hull that a mask fills, counted in pixels: the hull of the
    pixels' centres, plus half its perimeter and one (a square of n x n pixels has a
    hull of (n - 1)^2 between its centres, and fills n^2)."""
    rows, columns = np.nonzero(inside)
    if len(rows) < 3:
        return 1.0
    hull = cv2.convexHull(np.stack([columns, rows], axis=1).astype(np.int32))
    covered = cv2.contourArea(hull) + cv2.arcLength(hull, True) / 2 + 1
    return float(len(rows) / covered)


def widest_stroke(inside: np.ndarray) -> int:
    """The side of the largest square that fits in the mask: the chessboard distance to
    the nearest outside pixel is d where a square of 2d - 1 fits."""
    padded = np.pad(inside.view(np.uint8), 1)
    return int(2 * cv2.distanceTransform(padded, cv2.DIST_C, 3).max() - 1)


def shape_medians(letters: np.ndarray, blobs: list[Box]) -> tuple[float, float, float]:
    """The line's median blob height, its median share of its hull (`solidity`), and its
    median widest stroke of its height."""
    fills, strokes, heights = [], [], []
    for bottom, top, left, right, _ in blobs:
        inside = letters[top:bottom, left:right]
        fills.append(solidity(inside))
        strokes.append(widest_stroke(inside) / (bottom - top))
        heights.append(bottom - top)
    return float(np.median(heights)), float(np.median(fills)), float(np.median(strokes))


def letter_shaped(letters: np.ndarray, blobs: list[Box]) -> bool:
    """Whether the line's median blob is LETTER_HEIGHT tall or more, fills LETTER_SOLIDITY
    of its hull or less, and has a widest stroke under LETTER_STROKE of its height."""
    if not blobs:
        return False
    height, fill, stroke = shape_medians(letters, blobs)
    return height >= LETTER_HEIGHT and fill <= LETTER_SOLIDITY and stroke < LETTER_STROKE


def disc_shaped(letters: np.ndarray, blobs: list[Box]) -> bool:
    """Whether the line's median blob fills over DISC_SOLIDITY of its hull with a widest
    stroke of LETTER_STROKE of its height or more: a row of discs, as a lung's vessels
    and a soft kernel's grains make by chance."""
    if not blobs:
        return False
    _, fill, stroke = shape_medians(letters, blobs)
    return fill > DISC_SOLIDITY and stroke >= LETTER_STROKE
