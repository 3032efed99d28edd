"""What a metal's streaks lift along its rays: a field the closer look's lines are judged
against.

`streaks` follows a streak where its pixels stay over the threshold for STREAK_RUN
pixels out from the metal: straight, sharp streaks. A scanner's streaks may instead vary
smoothly with the angle round the metal, bands a few pixels to tens wide, fading with
the distance (session 43's other style draws them so). Where the anatomy under such a
band changes, its pixels fall under the threshold and rise over it again, and no run is
long enough to follow: the pieces, with the noise, stand as letters. Of the 40 clean
slices of that style held (seed 45, 1,000 slices), 30 were among the 212 with metal;
with the streaks drawn away and nothing else changed, 3 (session 48).

The field: the frame warped round the metal, a row per angle (`streaks.ANGLES`). What
varies with the angle is each pixel less the mean of its angular neighbours
(ANGULAR_MEAN rows); what of that stays along a ray is its median over ALONG pixels of
the ray, every half of that, blended between. Streaks stay along their rays; anatomy
changes along them, and a line of text crosses a ray for its height (29 pixels at
most, under half of ALONG), so neither moves a median. Pixels of a stored floor (a
scanner's padding, clipped air) take no part, and the field is 0 on them.

A line whose letter pixels mostly fall under their threshold once the field is taken
away (under EXPLAINED of them) is the streaks', not text (`pixel_text.off_the_field`).
Text a streak crosses keeps its own lift where it is taken away. The field is drawn only
for a frame with metal where the closer look found a line, so clean frames without
metal never pay for it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from anon_pipeline.engine.dicom.streaks import ANGLES, STREAK_FROM, Metal

ANGULAR_MEAN = 41  # rows of the warp (a quarter degree each): 10 degrees round the metal
ALONG = 64  # pixels of a ray per median: over twice the tallest text's height
# Of a line's letter pixels, the least share that must stay over their threshold once
# the field is taken away. Over text, 0.74 and more on the 1,134 trials whose frame has
# metal (or bone or white text taken for it) and a line (bench and other style, seeds 7,
# 11, 24, 101); at 0.6 and 0.7, 2 and 6 more of the other style's 18 metal slices still
# held would be released, with less margin (session 48).
EXPLAINED = 0.5
FIELD_METALS = 1  # the largest metal's streaks: the others' are weaker, and cost as much


def streak_field(frame: np.ndarray, metals: list[Metal], floors: list[int]) -> np.ndarray:
    """The lift each pixel of `frame` owes the streaks of its largest `metals`
    (FIELD_METALS), in the frame's own units: 0 on the metal itself, on the values of
    `floors` (a stored floor's), and where nothing was measured."""
    frame_values = frame.astype(np.float32)
    measured = ~np.isin(frame, floors) if floors else np.ones(frame.shape, bool)
    field = np.zeros(frame.shape, np.float32)
    for metal in metals[:FIELD_METALS]:
        field += along_rays(frame_values, measured, metal)
    field[~measured] = 0
    return field


def along_rays(frame: np.ndarray, measured: np.ndarray, metal: Metal) -> np.ndarray:
    """One metal's field over the frame (float32): what varies with the angle round the
    metal and stays along its rays, warped back."""
    rows, columns = frame.shape
    centre = (metal.column, metal.row)
    reach = math.ceil(
        np.hypot(max(centre[0], columns - centre[0]), max(centre[1], rows - centre[1]))
    )
    polar_flags = cv2.INTER_LINEAR + cv2.WARP_POLAR_LINEAR + cv2.WARP_FILL_OUTLIERS
    polar = cv2.warpPolar(frame, (reach, ANGLES), centre, reach, polar_flags)
    # Measured all round: a pixel the warp blends with a floor's is left out.
    inside = (
        cv2.warpPolar(measured.astype(np.float32), (reach, ANGLES), centre, reach, polar_flags)
        > 0.99
    )
    start = min(metal.size // 2 + STREAK_FROM, reach)
    inside[:, :start] = False
    varying = angular_lift(polar, inside)
    centres, medians = [], []
    for first in range(start, reach - ALONG // 2 + 1, ALONG // 2):
        centres.append(first + min(ALONG, reach - first) / 2)
        medians.append(row_medians(varying[:, first : first + ALONG]))
    if not centres:
        return np.zeros(frame.shape, np.float32)
    # Blended between the centres of the medians, flat before the first and past the last.
    spans = np.array(centres, np.float32)
    radius = np.arange(reach, dtype=np.float32)
    before = np.clip(np.searchsorted(spans, radius) - 1, 0, len(spans) - 1)
    after = np.minimum(before + 1, len(spans) - 1)
    gap = np.maximum(spans[after] - spans[before], 1.0)
    weight = np.clip((radius - spans[before]) / gap, 0.0, 1.0)
    stacked = np.stack(medians, axis=1)
    field = stacked[:, before] * (1 - weight) + stacked[:, after] * weight
    field[:, :start] = 0
    inverse = cv2.INTER_LINEAR + cv2.WARP_POLAR_LINEAR + cv2.WARP_INVERSE_MAP
    return np.asarray(
        cv2.warpPolar(field.astype(np.float32), (columns, rows), centre, reach, inverse)
    )


def angular_lift(polar: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Each measured pixel of the warp less the mean of the measured pixels within
    ANGULAR_MEAN rows of it (round the full turn); NaN where half of those are not
    measured, or it is not."""
    reach = ANGULAR_MEAN // 2 + 1
    values = np.where(inside, polar, 0).astype(np.float32)
    weights = inside.astype(np.float32)

    def round_mean(plane: np.ndarray) -> np.ndarray:
        wrapped = np.concatenate([plane[-reach:], plane, plane[:reach]])
        return cv2.blur(wrapped, (1, ANGULAR_MEAN), borderType=cv2.BORDER_REPLICATE)[reach:-reach]

    sums, counts = round_mean(values), round_mean(weights)
    varying = polar - sums / np.maximum(counts, 1e-6)
    varying[~inside | (counts < 0.5)] = np.nan
    return varying


def row_medians(values: np.ndarray) -> np.ndarray:
    """The median of each row's numbers (NaN left out); 0 for a row with fewer than a
    quarter of ALONG of them. Sorted once: NaN sorts last."""
    ordered = np.sort(values, axis=1)
    counts = np.count_nonzero(~np.isnan(values), axis=1)
    low = np.take_along_axis(ordered, np.maximum(counts - 1, 0)[:, None] // 2, axis=1)[:, 0]
    high = np.take_along_axis(ordered, (counts // 2)[:, None], axis=1)[:, 0]
    medians = (low + high) / 2
    medians[counts < ALONG // 4] = 0
    return np.nan_to_num(medians).astype(np.float32)
