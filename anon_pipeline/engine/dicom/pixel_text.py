"""Where a frame's pixels may carry text: a cheap look at every frame, a closer one where
it finds a line of characters.

Burned-in text is thin strokes (1 to 4 pixels wide) with a sharp edge on each side,
and its letters stand on a common baseline: the vertical strokes of a word (stems,
and the sides of round letters) end in the same row. The cheap look
(`baseline_candidates`) works on every other row of the frame, in a few vectorised
passes over booleans: it marks thin strokes, bright or dark, across each row, keeps
those that run down several rows (stems), and counts the stems that end in the same
row within a window of columns. Lungs, whose vessels make strokes everywhere, have
stems but no baseline; bone, tables and metal streaks have neither. Most frames end
there. Where a window has a baseline, the closer look (`text_regions`) boxes the line
of text over it, for OCR to read (`ocr`).

Contrast is judged in the frame's own units scaled by its rescale slope (the caller
scales it), so a threshold of 60 is 60 HU on a CT whatever its stored values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STROKE_CONTRAST = 60.0  # HU, or grey levels of an 8-bit image
MAX_STROKE_WIDTH = 4
ROW_STEP = 2  # the cheap look reads every other row: a 9-pixel letter spans 3 of them
STEM_ROWS = 2  # a stem runs down at least this many of the rows read (3 to 4 pixels)
WINDOW = 32  # columns per baseline window; a window and its right neighbour are counted
BASELINE_STEMS = 4  # stems ending in one row (±1) of a 64-column span: a line of text
MAX_TEXT_HEIGHT = 48


@dataclass(frozen=True, slots=True)
class Region:
    """A box of a frame where a line of text may stand: rows top..bottom, columns
    left..right (end exclusive), and the number of stems on its baseline."""

    top: int
    bottom: int
    left: int
    right: int
    stems: int

    @property
    def height(self) -> int:
        return self.bottom - self.top


def stroke_mask(frame: np.ndarray, contrast: float) -> np.ndarray:
    """Every ROW_STEP-th row: where the row crosses a thin stroke, an edge up then down
    (bright stroke) or down then up (dark stroke) within MAX_STROKE_WIDTH pixels, each
    edge steeper than `contrast`. Marks the stroke's first edge."""
    rows = frame[::ROW_STEP]
    if rows.dtype == np.int16 or rows.dtype == np.uint8:
        # int16 differences of 12-bit CT values and int16 of 8-bit ones cannot overflow
        rows = rows.astype(np.int16, copy=False)
        limit = np.iinfo(np.int16).max // 2
        if rows.dtype == np.int16 and (rows.max() > limit or rows.min() < -limit):
            rows = rows.astype(np.int32)
    elif rows.dtype.kind in "iu":
        rows = rows.astype(np.int32)
    step = rows[:, 1:] - rows[:, :-1]
    up, down = step > contrast, step < -contrast
    down_after, up_after = down[:, 1:].copy(), up[:, 1:].copy()
    for width in range(2, MAX_STROKE_WIDTH + 1):
        down_after[:, : -width + 1] |= down[:, width:]
        up_after[:, : -width + 1] |= up[:, width:]
    return (up[:, :-1] & down_after) | (down[:, :-1] & up_after)


def stem_ends(mask: np.ndarray) -> np.ndarray:
    """Where a stroke that runs down STEM_ROWS rows read (leaning by a column at most,
    as italics do) ends: the rows read, True at a stem's last row."""
    leaning = mask.copy()
    leaning[:, 1:] |= mask[:, :-1]
    leaning[:, :-1] |= mask[:, 1:]
    running = mask[STEM_ROWS - 1 :].copy()
    for above in range(1, STEM_ROWS):
        running &= leaning[STEM_ROWS - 1 - above : mask.shape[0] - above]
    ends = np.zeros_like(mask)
    ends[STEM_ROWS - 1 : -1] = running[:-1] & ~leaning[STEM_ROWS:]
    return ends


def baseline_counts(ends: np.ndarray) -> np.ndarray:
    """Stems ending in each row read (or the next), per span of two WINDOWs of columns."""
    near = ends.copy()
    near[:-1] |= ends[1:]
    rows, columns = near.shape
    padded = -(-columns // WINDOW) * WINDOW
    if padded != columns:
        near = np.pad(near, ((0, 0), (0, padded - columns)))
    per_window = near.reshape(rows, padded // WINDOW, WINDOW).sum(axis=2, dtype=np.int16)
    spans = per_window.copy()
    spans[:, :-1] += per_window[:, 1:]
    return spans


def text_regions(frame: np.ndarray, contrast: float = STROKE_CONTRAST) -> list[Region]:
    """Boxes of `frame` (in its own rows and columns) over the baselines of lines of
    text, in reading order; [] for most frames."""
    if frame.ndim != 2 or min(frame.shape) < 2 * WINDOW:
        return []
    mask = stroke_mask(frame, contrast)
    ends = stem_ends(mask)
    spans = baseline_counts(ends)
    found = np.argwhere(spans >= BASELINE_STEMS)
    if not len(found):
        return []
    return merged_regions(frame.shape, mask, found, spans)


def merged_regions(
    shape: tuple[int, ...], mask: np.ndarray, found: np.ndarray, spans: np.ndarray
) -> list[Region]:
    """One box per run of baseline spans: from the tallest stem's top over the baseline to a
    descender's depth below it, across the spans and a window either side."""
    boxes: list[list[int]] = []
    for row, window in found.tolist():
        left = max(0, (window - 1) * WINDOW)
        right = min(shape[1], (window + 3) * WINDOW)
        baseline = (row + 1) * ROW_STEP
        column_strokes = mask[max(0, row - MAX_TEXT_HEIGHT // ROW_STEP) : row + 1, left:right]
        stroke_rows = np.flatnonzero(column_strokes.any(axis=1)[::-1] == 0)
        height = (int(stroke_rows[0]) if len(stroke_rows) else MAX_TEXT_HEIGHT // ROW_STEP)
        top = max(0, baseline - (height + 2) * ROW_STEP)
        bottom = min(shape[0], baseline + max(4, height))
        stems = int(spans[row, window])
        for box in boxes:
            if top < box[1] and bottom > box[0] and left < box[3] and right > box[2]:
                box[0], box[1] = min(box[0], top), max(box[1], bottom)
                box[2], box[3] = min(box[2], left), max(box[3], right)
                box[4] = max(box[4], stems)
                break
        else:
            boxes.append([top, bottom, left, right, stems])
    return sorted((Region(*box) for box in boxes), key=lambda region: (region.top, region.left))
