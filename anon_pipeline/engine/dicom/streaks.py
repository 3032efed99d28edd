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
are missed by this look.

Streaks that fade with the distance break, where they fall under the threshold, into
short pieces long along their streak, and a row of them lines up as letters; a line
whose elongated blobs mostly point at one metal and converge on it is refused
(`points_at_metal`)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# HU over the frame's median: metal (3,000 HU and up) over air or tissue; bone's cortex
# (up to 1,900 HU) over a median of soft tissue is not.
METAL_OVER = 2500
METAL_BLOBS = 3  # the largest blobs of metal whose streaks are looked for
METAL_SMALLEST = 20  # pixels: where two streaks cross, or a speck of noise, is no implant
ANGLES = 1440  # rows of the polar warp: a quarter degree, a pixel at 230 pixels out
STREAK_RUN = 48  # pixels along one direction: longer than any letter's stroke (28 px text)
STREAK_GAP = 1  # pixels missing from a streak's run (noise) that it bridges
STREAK_FROM = 8  # pixels past the metal's edge, where streaks stand apart
CROSSING = 15  # pixels along a streak: longer than a letter's stroke crossing it
# Pixels: the tallest line only this look may find. Text of 28 px stands 29 px from
# accent to descender in every Debian font; a partial-volume lung's chunks cut by
# streaks stood 40 to 44 px in a row (session 33).
STREAKED_TALLEST = 32
# Of such a line's letter pixels, the most that may lie on the streaks: 0.02 to 0.16 on
# the texts it found, 0.46 and 0.54 on a clean lung's comb of a wide streak (session 33).
STREAKED_SHARE = 0.3


# A metal's streaks that fade with the distance break, where they fade under the
# threshold, into short pieces, each long along its streak: a row of them across the
# fan lines up as letters (session 44: about 12 of the 45 clean slices held of the
# phantoms drawn in another style, by eye). Letters' strokes run every way; a line whose
# elongated blobs mostly point at one metal's centre is the metal's (`points_at_metal`).
POINTING_SMALLEST = 5  # pixels: a blob smaller has no direction to speak of
POINTING_ELONGATION = 2.0  # long axis over short axis, by the blob's second moments
POINTING_ANGLE = 15.0  # degrees between a blob's long axis and the way to the metal
POINTING_LEAST = 4  # blobs pointing at one metal: fewer are chance
# Of the line's blobs: 0.57 at most on 834 lines of text near metal (four seeds; none of
# 1,522 on seven refused), 0.71 to 1.0 on the lines of 7 of the 45 clean slices held of
# the other style (seed 45).
POINTING_SHARE = 0.7
# Degrees the pointing blobs' axes must span: a fan's pieces converge on the metal,
# where a row of text's stems stand parallel (a date of ones straight under a metal).
POINTING_SPREAD = 30.0


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
    if frame.ndim != 2 or not frame.size:
        return []
    # Every eighth row and column: the median of 4,096 pixels moves by a few HU.
    sample = frame[::8, ::8]
    level = float(np.median(sample)) + METAL_OVER * contrast / threshold
    metal = frame >= level
    rows, columns = np.flatnonzero(metal.any(axis=1)), np.flatnonzero(metal.any(axis=0))
    if not len(rows):
        return []
    # Labelled in the box round the metal only: a whole frame's labelling cost a
    # millisecond.
    top, left = int(rows[0]), int(columns[0])
    box = metal[top : rows[-1] + 1, left : columns[-1] + 1]
    _, _, stats, centres = cv2.connectedComponentsWithStats(box.view(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    found = []
    for label in np.argsort(-areas, kind="stable")[:METAL_BLOBS] + 1:
        if stats[label, cv2.CC_STAT_AREA] >= METAL_SMALLEST:
            size = int(max(stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT]))
            found.append(
                Metal(top + float(centres[label][1]), left + float(centres[label][0]), size)
            )
    return found


def streak_lift(
    lifted: tuple[np.ndarray, ...],
    contrasts: tuple[float, ...],
    metals: list[Metal],
    top: int,
    left: int,
) -> list[np.ndarray | None]:
    """For each polarity's `lifted` crop (at row `top`, column `left` of its frame) and
    its threshold: how far each pixel over the threshold is lifted by a streak of
    `metals`, a straight run of such pixels STREAK_RUN or more long out from the metal,
    whose own lift is followed along it; 0 off the streaks, None where there are none.
    Where a letter crosses a streak, its pixels stand a letter's lift over the
    streak's, which taking the streak's away leaves."""
    rows, columns = lifted[0].shape
    strokes = [values > contrast for values, contrast in zip(lifted, contrasts, strict=True)]
    # Both polarities warped at once, one bit each: the warp is most of the cost.
    bits = np.zeros((rows, columns), np.uint8)
    for index, mask in enumerate(strokes):
        bits |= mask.view(np.uint8) << index
    found: list[np.ndarray | None] = [None] * len(lifted)
    for metal in metals:
        centre = (metal.column - left, metal.row - top)
        reach = int(
            np.hypot(
                max(abs(centre[1]), abs(rows - centre[1])),
                max(abs(centre[0]), abs(columns - centre[0])),
            )
            + 2
        )
        polar = warped_round(bits, centre, reach)
        for index, mask in enumerate(strokes):
            level = along_streaks((polar >> index) & 1, lifted[index], mask, centre, metal)
            if level is not None:
                previous = found[index]
                found[index] = level if previous is None else np.maximum(previous, level)
    return found


def warped_round(bits: np.ndarray, centre: tuple[float, float], reach: int) -> np.ndarray:
    """`bits` warped round `centre` (column, row): a row per angle (ANGLES), a column per
    pixel out to `reach`, nearest; 0 where the warp reaches past `bits`. OpenCV leaves
    those pixels as it found them (uninitialised memory) unless told to fill them:
    stray bits there made runs with the strokes inside, and the regions found changed
    from one process to the next (session 35)."""
    flags = cv2.INTER_NEAREST + cv2.WARP_POLAR_LINEAR + cv2.WARP_FILL_OUTLIERS
    return np.asarray(cv2.warpPolar(bits, (reach, ANGLES), centre, reach, flags), np.uint8)


def along_streaks(
    polar: np.ndarray,
    lifted: np.ndarray,
    strokes: np.ndarray,
    centre: tuple[float, float],
    metal: Metal,
) -> np.ndarray | None:
    """The streaks' lift at each of `strokes` pixels, from the strokes warped round the
    metal (`polar`: a row per angle, a column per pixel out); None where no row runs
    STREAK_RUN long. Only the rows that can hold such a run are opened (opening every
    row was a quarter of this look's cost), only the streaks' pixels are sampled for
    their lift, and only the strokes' pixels look their level up (a whole warp of the
    lifts cost as much again as the look)."""
    polar[:, : metal.size // 2 + STREAK_FROM] = 0
    # A row's closing and opening are its own (the kernels are one row tall), and a row
    # of fewer than half a run's pixels closes to no run.
    rows = np.flatnonzero(np.count_nonzero(polar, axis=1) * (STREAK_GAP + 1) >= STREAK_RUN)
    if not len(rows):
        return None
    runs = cv2.morphologyEx(
        polar[rows], cv2.MORPH_CLOSE, np.ones((1, 2 * STREAK_GAP + 1), np.uint8)
    )
    runs = cv2.morphologyEx(runs, cv2.MORPH_OPEN, np.ones((1, STREAK_RUN), np.uint8))
    streaked = runs.any(axis=1)
    angles, runs = rows[streaked], runs[streaked]
    if not len(angles):
        return None
    reach = polar.shape[1]
    # The pixels the warp took for the streaks' own (nearest), and their lifts.
    theta = angles * (2 * np.pi / ANGLES)
    # Pixel indices by division: np.nonzero of a 2-D mask costs five times as much.
    along, out = np.divmod(np.flatnonzero(runs), runs.shape[1])
    ys = np.rint(centre[1] + np.sin(theta)[along] * out).astype(np.intp)
    xs = np.rint(centre[0] + np.cos(theta)[along] * out).astype(np.intp)
    inside = (ys >= 0) & (ys < lifted.shape[0]) & (xs >= 0) & (xs < lifted.shape[1])
    lifts = np.zeros(runs.shape, np.float32)
    lifts[along[inside], out[inside]] = lifted[ys[inside], xs[inside]]
    # The streak's own lift along it: an opening along the run takes out what a letter's
    # crossing adds, a few pixels long, and follows the streak's slow change.
    levels = cv2.morphologyEx(lifts, cv2.MORPH_OPEN, np.ones((1, CROSSING), np.uint8))
    py, px = np.divmod(np.flatnonzero(strokes), strokes.shape[1])
    dy, dx = py - centre[1], px - centre[0]
    angle = np.rint(np.arctan2(dy, dx) * (ANGLES / (2 * np.pi))).astype(np.intp) % ANGLES
    radius = np.minimum(np.rint(np.hypot(dy, dx)).astype(np.intp), reach - 1)
    # A stroke pixel takes the most of the streaks at its angle and the angles beside
    # (a streak between two rows of the warp).
    row_of = np.full(ANGLES, -1, np.intp)
    row_of[angles] = np.arange(len(angles))
    found = np.zeros(len(py), np.float32)
    for beside in (-1, 0, 1):
        row = row_of[(angle - beside) % ANGLES]
        on = row >= 0
        found[on] = np.maximum(found[on], levels[row[on], radius[on]])
    if not found.any():
        return None
    level = np.zeros(lifted.shape, np.float32)
    level[py, px] = found
    return level


def beyond_fans(
    line: tuple[int, int, int, int, int], metals: list[Metal], top: int, left: int
) -> bool:
    """Whether a line (top, bottom, left, right of a crop at row `top`, column `left`)
    reaches out of each metal's fan: within STREAK_RUN of its edge, streaks stand too
    close together to be followed, and what is left of them between their cuts lined up
    as four letters (session 33); a line of text near the metal reaches farther."""
    rows = np.array([line[0], line[1], line[0], line[1]], np.float64) + top
    columns = np.array([line[2], line[2], line[3], line[3]], np.float64) + left
    return all(
        np.hypot(rows - metal.row, columns - metal.column).max() >= metal.size / 2 + STREAK_RUN
        for metal in metals
    )


def points_at_metal(letters: np.ndarray, metals: list[Metal], top: int, left: int) -> bool:
    """Whether most of the blobs of `letters` (a line's box, standing at row `top`,
    column `left` of the frame) are elongated along the way to one metal's centre, and
    at least POINTING_LEAST of them: pieces of the metal's streaks, cut short where
    they fade, not letters, whose strokes run every way."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        letters.view(np.uint8), connectivity=8
    )
    if count <= POINTING_LEAST:
        return False
    # Second moments per blob, by sums over its pixels.
    flat = labels.ravel()
    rows, columns = np.divmod(np.arange(flat.size), letters.shape[1])
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    row_mean = np.bincount(flat, rows, count) / area
    column_mean = np.bincount(flat, columns, count) / area
    row_var = np.bincount(flat, rows * rows.astype(np.float64), count) / area - row_mean**2
    column_var = np.bincount(flat, columns * columns.astype(np.float64), count) / area
    column_var -= column_mean**2
    cross = np.bincount(flat, rows * columns.astype(np.float64), count) / area
    cross -= row_mean * column_mean
    # The long axis's angle and the axes' spread, from the 2 x 2 covariance.
    mean_var = (row_var + column_var) / 2
    spread = np.sqrt(((column_var - row_var) / 2) ** 2 + cross**2)
    long_axis, short_axis = mean_var + spread, np.maximum(mean_var - spread, 1e-9)
    angle = 0.5 * np.arctan2(2 * cross, column_var - row_var)  # from the columns' way
    sized = stats[:, cv2.CC_STAT_AREA] >= POINTING_SMALLEST
    sized[0] = False  # the ground
    elongated = sized & (long_axis >= POINTING_ELONGATION**2 * short_axis)
    if np.count_nonzero(elongated) < POINTING_LEAST:
        return False
    for metal in metals:
        towards = np.arctan2(metal.row - top - row_mean, metal.column - left - column_mean)
        off = np.abs(np.angle(np.exp(2j * (towards - angle)))) / 2  # axes have no sign
        pointing = elongated & (off <= np.radians(POINTING_ANGLE))
        if (
            np.count_nonzero(pointing) >= POINTING_LEAST
            and np.count_nonzero(pointing) >= POINTING_SHARE * np.count_nonzero(sized)
            and axes_span(angle[pointing]) >= np.radians(POINTING_SPREAD)
        ):
            return True
    return False


def axes_span(angles: np.ndarray) -> float:
    """The smallest arc (radians) holding every axis of `angles`: axes have no sign, so
    the arc is measured round half a turn, across the widest gap between them."""
    ordered = np.sort(np.mod(angles, np.pi))
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + np.pi]))
    return float(np.pi - gaps.max())
