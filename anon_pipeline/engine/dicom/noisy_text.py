"""Text under a noisy CT's grain: the looks again on the frame averaged down three rows.

In a low-dose or sharp-kernel CT (30 HU of white noise), both looks raise their
thresholds over the noise (`pixel_text.over_noise`), the closer look's to 130 to 145 HU.
A +150 HU letter's pixels then stand over it only in part: its strokes break into
specks and no letter is left whole. Of 300 texts under 30 HU of noise, 35 were
released (session 35), 20 of them over air, in a corner or a band, plain to the eye.

Averaged over NOISY_ROWS rows, white noise falls by the root of that, so the
thresholds fall back near their floor, and a stem keeps its edges, which run down. The
looks run again on that frame where the noise raised the cheap look's threshold
(`pixel_text.noise_raised`): never at 8 or 15 HU, which cost nothing more.

Averaged noise has grains that run down, and the edges of a lung and its vessels then
line up as letters: 18 more clean holds in 600 slices at 30 HU, from 19 lines. Those
lines stood among structures (0.19 to 0.61 of the ring round them), where texts over
air or flat tissue stood nearly alone. So a line only this look finds must stand
alone: at most NOISY_RING of the ring a line's height wide round it in structures
(blobs of SPECK pixels or more, of either polarity), the other lines found so left out
of it. The look costs a second pass of both looks on those frames only.

A thin face's 1-pixel stems (FreeMono, 9 to 17 px, +150 HU over a band's air) still
break into specks over three rows; where that look finds no line alone, the frame is
averaged down MORE_NOISY_ROWS (five) and looked at once more, on the same terms. There
a shallow streak of metal across the air breaks into a comb of short stems that lines
up as letters, so in a frame with metal a line either look finds must lie mostly off
the streaks (`pixel_text.on_a_streak`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from anon_pipeline.engine.dicom.blobs import blob_stats, pixel_sizes
from anon_pipeline.engine.dicom.lone_words import SPECK

NOISY_ROWS = 3  # rows averaged: white noise falls by their root, a stem's edges stay
# Rows averaged by the second look, where the first found no line alone: a thin face's
# 1-pixel stems at +150 HU in 30 HU of noise still break into specks over three rows
# (FreeMono, DejaVuSansMono Oblique, ExtraLight, 9 to 17 px in a band's air).
# Session 39, at 30 HU, with the streaks' combs left out (`pixel_text.on_a_streak`):
# texts released 76 -> 72 of 1,200 (seeds 7, 11, 101, 202) and 63 -> 59 of 1,200 never
# looked at before (404, 505, 606, 1001); clean slices held 47 -> 47 of 2,100.
MORE_NOISY_ROWS = 5
# Structure pixels per pixel of the ring round a line only the averaged look finds, at
# the most. Of the 35 lines it found over seed 7's missed texts, 19 stood in 0.1 or less
# (0.005 at the least); the 19 clean lines it found among a lung's edges and vessels
# stood in 0.19 and more (session 35). 0.1 until session 38. At 0.14, texts released
# at 30 HU 78 -> 76 of 1,200, and no clean slice more held on 4,800 (8 to 40 HU);
# at 0.15, 74, but a fresh clean slice at 30 HU held by a line standing in 0.149.
NOISY_RING = 0.14
# Of a ring crop's columns: a row this full of structure is a straight band across it.
BAND_ROW = 0.8

# A lung kernel's grain (`synthetic/kernels.py`: ramp-shaped, a pixel or two across,
# 40 HU) averaged down MORE_NOISY_ROWS lines up as a short line of three or four letters
# in about one slice in twelve, where white noise of 40 HU does not (session 47: 23 of
# 300 clean slices held, most by this look). Such a line stands in noise that is the same
# along its rows as above and below it, where a word's line goes on past the part found
# (the rest of a name, a date). So a line of FEW_CHARACTERS characters or fewer that only
# this look finds is doubtful where the steps along its rows, beyond it either way, are
# no more than ALONG_ROWS times those of the calmer band above or below: it holds only
# where OCR reads it (`pixel_check`), never as unread. The two overlap: the chance lines
# under a lung kernel stood at 0.94 to 2.5 (30 of 40 under 1.35), the lines over text at
# 1.04 and more (seeds 7 and 11 at 30 HU and under the kernel). At 1.35, 23 -> 11 clean
# slices of 300 held under the kernel, but 2 texts of 600 under it were released (10 px,
# +150 HU, at 1.2 and 1.28); at 1.15, 23 -> 19 and none released that was seen (2,400
# texts at 30 HU and 600 under the kernel). A short word alone (FreeMono "Jan" after a
# surname lost in a lung) stands at 1.0: OCR reads it, and it holds.
FEW_CHARACTERS = 5
ALONG_ROWS = 1.15

Box = tuple[int, int, int, int]  # top, bottom, left, right (ends exclusive)


def averaged_down(frame: np.ndarray, rows: int = NOISY_ROWS) -> np.ndarray:
    """`frame` with each pixel the mean of `rows` down its column (mirrored at the
    edges), in the frame's own integer type where it has one (rounded), so the looks'
    compact integer passes (`pixel_text.compact_values`) still apply."""
    averaged = cv2.blur(frame.astype(np.float32), (1, rows))
    if frame.dtype.kind in "iu":
        return np.rint(averaged).astype(frame.dtype)
    return averaged


def stands_alone(letters: np.ndarray, box: Box, others: list[Box]) -> bool:
    """Whether the line in `box` of a crop (a line's height wider than it each way,
    clipped to the frame) stands alone: of the crop's pixels outside the line's box and
    the `others` (lines found beside it), at most NOISY_RING are `letters` (both
    polarities') in blobs of SPECK pixels or more."""
    labels, _, areas = blob_stats(letters)
    sizes = pixel_sizes(labels, areas)
    outside = np.ones(letters.shape, dtype=bool)
    for top, bottom, left, right in [box, *others]:
        outside[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = False
    structures = letters & (sizes >= SPECK)
    # Rows a straight band crosses from side to side (a table's edges over a band of text
    # in the air under it) are no lung's edges lined up as letters: left out of the ring.
    outside[np.count_nonzero(structures, axis=1) >= BAND_ROW * letters.shape[1]] = False
    ring = np.count_nonzero(outside)
    structure = np.count_nonzero(structures & outside)
    return bool(ring > 0 and structure <= NOISY_RING * ring)


def steps_along(averaged: np.ndarray, box: Box) -> float:
    """How much steeper the steps along a line's rows are beyond it (as far as twice its
    width or four times its height, each way) than along the rows of its height just
    above or below, whichever is calmer: the larger of the two sides. A word's line goes
    on past the part found, noise does not. Where neither side can be measured (a line
    as wide as the frame, or no band above or below it) the answer is infinity: with
    nothing measured a line stays a plain line, never doubtful."""
    top, bottom, left, right = box
    height, width = bottom - top, right - left
    reach = max(2 * width, 4 * height)
    rows, columns = averaged.shape
    ratios: list[float] = []
    for start, end in ((max(0, left - reach), left), (right, min(columns, right + reach))):
        if end - start < 3:
            continue
        along = mean_step(averaged[top:bottom, start:end])
        bands = [
            averaged[max(0, top - height - 1) : max(0, top - 1), start:end],
            averaged[bottom + 1 : min(rows, bottom + height + 1), start:end],
        ]
        calm = [mean_step(band) for band in bands if band.shape[0] >= 1]
        if calm:
            ratios.append(along / max(min(calm), 1e-3))
    return max(ratios, default=math.inf)


def mean_step(values: np.ndarray) -> float:
    """The mean absolute difference of each pixel with the next along its row."""
    return float(np.abs(np.diff(values.astype(np.float32), axis=1)).mean())
