"""Letters a metal implant's streaks cross: the letters apart from the streaks.

Metal in a CT slice throws bright and dark streaks: straight lines through the metal,
across the whole slice. Where one crosses a line of text, the closer look labels the
letters it touches and the streak as one blob, far too long for a letter, and the
streak's pixels crowd the line's margins; half the texts over the body that no region
covered in session 33's trials lay on a slice with streaks, which one slice in six has.

A streak is a run along one direction from the metal, so in polar coordinates around
the metal (`cv2.warpPolar`) it is a row whose run is longer than any letter's stroke
(STREAK_RUN, from STREAK_FROM pixels past the metal's edge, where streaks fan out).
The streak's own lift, followed along it, is taken away from its pixels (`streak_lift`):
off the letters nothing is left of it, in the letters or the margins, and where a letter
crosses it the letter's own lift is. The closer look then looks again
(`pixel_text.character_lines`).

Metal is what stands METAL_OVER (HU) over the frame's median: more than any bone.
Full-contrast white text does too, and its letters are then taken as metal; that look
finds nothing a first did not, and costs a polar warp per letter taken (METAL_BLOBS at
most). Streaks that pass beside a large metal object rather than through its centre
are missed by this look."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# HU over the frame's median: metal (3,000 HU and up) over air or tissue; bone's cortex
# (up to 1,900 HU) over a median of soft tissue is not.
METAL_OVER = 2500
METAL_BLOBS = 3  # the largest blobs of metal whose streaks are looked for
METAL_SMALLEST = 6  # pixels: a speck of noise over the level is no implant
ANGLES = 1440  # rows of the polar warp: a quarter degree, a pixel at 230 pixels out
STREAK_RUN = 48  # pixels along one direction: longer than any letter's stroke (28 px text)
STREAK_GAP = 1  # pixels missing from a streak's run (noise) that it bridges
STREAK_FROM = 8  # pixels past the metal's edge, where streaks stand apart
CROSSING = 15  # pixels along a streak: longer than a letter's stroke crossing it
# Pixels: the tallest line only this look may find. Text of 28 px stands 29 px from
# accent to descender in every Debian font; a partial-volume lung's chunks cut by
# streaks stood 40 to 44 px in a row (session 33).
STREAKED_TALLEST = 32


@dataclass(frozen=True, slots=True)
class Metal:
    """A blob of metal in a frame: its centre (row, column) and its larger extent."""

    row: float
    column: float
    size: int


def metal_in(frame: np.ndarray, contrast: float, threshold: float) -> list[Metal]:
    """The largest blobs of `frame` METAL_OVER HU over its median ([] for most frames);
    `contrast` over `threshold` is the frame's units per HU (its rescale slope's
    inverse), so the level is in the frame's own units."""
    # Every eighth row and column: the median of 4,096 pixels moves by a few HU.
    sample = frame[::8, ::8]
    if frame.ndim != 2 or not sample.size:
        return []
    level = float(np.median(sample)) + METAL_OVER * contrast / threshold
    metal = frame >= level
    if not metal.any():
        return []
    _, _, stats, centres = cv2.connectedComponentsWithStats(metal.view(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    found = []
    for label in np.argsort(-areas, kind="stable")[:METAL_BLOBS] + 1:
        if stats[label, cv2.CC_STAT_AREA] >= METAL_SMALLEST:
            size = int(max(stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT]))
            found.append(Metal(float(centres[label][1]), float(centres[label][0]), size))
    return found


def streak_lift(
    strokes: np.ndarray, lifted: np.ndarray, metals: list[Metal], top: int, left: int
) -> np.ndarray | None:
    """How far each pixel of a crop (at row `top`, column `left` of its frame) is lifted
    by a streak of `metals`: a straight run of `strokes` STREAK_RUN pixels or more out
    from the metal, whose own lift (`lifted`) is followed along it; 0 off the streaks,
    None where there are none. Where a letter crosses a streak, its pixels stand a
    letter's lift over the streak's, which taking the streak's away leaves."""
    rows, columns = strokes.shape
    mask = strokes.view(np.uint8)
    values = lifted.astype(np.float32)
    found = np.zeros_like(values)
    bridge = np.ones((1, 2 * STREAK_GAP + 1), np.uint8)
    run = np.ones((1, STREAK_RUN), np.uint8)
    beside = np.ones((3, 1), np.uint8)  # a streak between two rows of the warp
    along = np.ones((1, CROSSING), np.uint8)
    for metal in metals:
        centre = (metal.column - left, metal.row - top)
        far = np.hypot(
            max(abs(centre[1]), abs(rows - centre[1])),
            max(abs(centre[0]), abs(columns - centre[0])),
        )
        reach = int(far) + 2
        flags = cv2.INTER_NEAREST + cv2.WARP_POLAR_LINEAR
        polar = cv2.warpPolar(mask, (reach, ANGLES), centre, reach, flags)
        polar[:, : metal.size // 2 + STREAK_FROM] = 0
        polar = cv2.morphologyEx(polar, cv2.MORPH_CLOSE, bridge)
        polar = cv2.morphologyEx(polar, cv2.MORPH_OPEN, run)
        if not polar.any():
            continue
        # The streak's own lift along it: an opening along the run takes out what a
        # letter's crossing adds, a few pixels long, and follows the streak's slow change.
        lifts = cv2.warpPolar(values, (reach, ANGLES), centre, reach, flags)
        lifts[polar == 0] = 0
        level = cv2.dilate(cv2.morphologyEx(lifts, cv2.MORPH_OPEN, along), beside)
        flags += cv2.WARP_INVERSE_MAP
        np.maximum(found, cv2.warpPolar(level, (columns, rows), centre, reach, flags), out=found)
    return found if found.any() else None
