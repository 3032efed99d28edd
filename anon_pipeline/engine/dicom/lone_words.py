"""A word where nothing else is: faint letters over air, a band or flat tissue, whose
strokes break into pieces no letter's size.

A thin font (FreeMono's strokes are under a pixel wide at 9 to 11 px) drawn +150 HU over
air covers few pixels whole, so its letters stand over the threshold only in pieces, and
the closer look (`pixel_text.lines_of_blobs`) finds no letter to align; an oblique one
breaks the merged-letter cuts too. Joined along the row (a pixel each side), the pieces
make one blob the shape of a word: 5 to 40 pixels tall, three times as wide or more,
its rows crossing a stroke four times or more, and once per height of its width (a
letter's sides, one letter after the next), and filling at most FILL of its box (a
band between two table rails fills all of it). Chance makes no such blob where nothing
else stands: so the blob must stand in quiet surroundings, with no structure (a blob
of SPECK pixels or more) over QUIET of the ring a word's height wide around it. Over
a lung, a word joins its vessels and is no lone word: the closer look's other passes
are for that. The ring counts the other polarity's structures too: in noise of 30 and
40 HU, chance made words of 5 by 17 pixels (two of 600 slices) whose ring was quiet in
their own polarity only, and the air between a table's two rails is a dark band whose
rails are bright.

The cheap look (`pixel_text.candidate_regions`) may find no baseline in such a word, its
stems broken too. So it also proposes windows of strokes that stand alone (`lone_windows`): a
group 2 to 24 rows read tall, with LONE_WINDOWS windows dense with strokes and at most
RING_WINDOWS windows of strokes round it.
"""

from __future__ import annotations

import cv2
import numpy as np

from anon_pipeline.engine.dicom.blobs import blob_stats, pixel_sizes

JOIN = 1  # pixels each side along the row: an oblique thin letter's pieces, one letter's
ALONG_ROW = np.ones((1, 2 * JOIN + 1), np.uint8)
LOWEST, TALLEST = 5, 40  # a word's height, pixels
WORD_WIDTH = 3  # times its height: three letters or more
CROSSINGS = 4  # strokes a word's rows cross (their median), at the least, and width / height
FEWEST_CHARACTERS = 4  # counted for a lone word, as for a line of LINE_CHARACTERS
FILL = 0.7  # of its box, at the most: a word's letters have gaps and counters
SPECK = 8  # joined pixels: a structure in the surroundings, not the noise's specks
QUIET = 0.02  # structure pixels per pixel of the ring around a lone word, at the most
# Pixels of a crop, at the most, where a lone word is looked for: a word that stands
# alone is a candidate of its own (a band across the frame's top is 512 by 30), and a
# lung's candidates merge into crops of 100,000 pixels, where a word joins its vessels.
# Of the 9 words the look found on 22 seeds, 8 stood in crops this small; over every
# crop it cost 8 M instructions a file more (a tenth of the check), 2.4 M so bounded.
LONE_CROP = 20_000
LONE_ROWS = (2, 24)  # rows read (every other pixel row) a lone group of windows spans
LONE_WINDOWS = 3  # dense windows in a group, at the least
DENSE = 3  # strokes a window holds in a row read: one of a word's, not of noise's
RING_WINDOWS = 2  # windows with a stroke round a group, not touching it, at the most

Line = tuple[int, int, int, int, int]  # top, bottom, left, right, characters


def lone_words(
    letters: np.ndarray,
    frame_sides: tuple[bool, bool, bool, bool],
    other: np.ndarray | None = None,
) -> list[Line]:
    """Word-shaped blobs of `letters` (a crop's letter pixels, one polarity) joined along
    their rows, in quiet surroundings (of `other`, the other polarity's, too: the air
    between a table's two bright rails is a dark band): top, bottom, left, right and
    characters each. `frame_sides`: whether the crop's top, bottom, left and right are
    the frame's own edges; a blob touching a side the crop cut through is no word one
    can judge."""
    if not letters.any():
        return []
    joined = cv2.dilate(letters.view(np.uint8), ALONG_ROW).view(bool)
    labels, boxes, areas = blob_stats(joined)
    rows, columns = letters.shape
    limits = ((boxes[:, 0] > 0), (boxes[:, 1] < rows), (boxes[:, 2] > 0), (boxes[:, 3] < columns))
    boxes = boxes.copy()
    boxes[:, 2] += JOIN  # the dilation's ends are no letter's
    boxes[:, 3] -= JOIN
    heights, widths = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    shaped = (heights >= LOWEST) & (heights <= TALLEST) & (widths >= WORD_WIDTH * heights)
    for inside, frame_side in zip(limits, frame_sides, strict=True):
        if not frame_side:
            shaped &= inside
    words = []
    for index in np.flatnonzero(shaped).tolist():
        top, bottom, left, right = boxes[index].tolist()
        height = bottom - top
        word = (labels[top:bottom, left:right] == index + 1) & letters[top:bottom, left:right]
        if word.mean() > FILL:
            continue
        crossings = np.count_nonzero(word[:, 1:] & ~word[:, :-1], axis=1) + word[:, 0]
        crossed = crossings[crossings > 0]
        if not len(crossed) or np.median(crossed) < max(CROSSINGS, (right - left) / height):
            continue
        if not quiet_ring(letters, labels, areas, index + 1, (top, bottom, left, right), other):
            continue
        characters = max(FEWEST_CHARACTERS, round((right - left) / (0.75 * height)))
        words.append((top, bottom, left, right, characters))
    return words


def quiet_ring(
    letters: np.ndarray,
    labels: np.ndarray,
    areas: np.ndarray,
    label: int,
    box: tuple[int, int, int, int],
    other: np.ndarray | None = None,
) -> bool:
    """Whether the ring a word's height wide around `box` (clipped to the crop) holds
    structure pixels (letter pixels of other blobs of SPECK or more, and of blobs of
    `other` as large) over at most QUIET of its pixels."""
    top, bottom, left, right = box
    height = bottom - top
    near = (
        slice(max(0, top - height), bottom + height),
        slice(max(0, left - height), right + height),
    )
    around = labels[near]
    sizes = pixel_sizes(around, areas)
    structure = np.count_nonzero(letters[near] & (around != label) & (sizes >= SPECK))
    if other is not None and other[near].any():
        # Off the word (a pixel round its box): between its letters the other polarity
        # has strokes of its own, the gaps.
        outside = other[near].copy()
        rows, columns = top - near[0].start, left - near[1].start
        outside[
            max(0, rows - 1) : rows + height + 1, max(0, columns - 1) : columns + right - left + 1
        ] = False
        joined = cv2.dilate(outside.view(np.uint8), ALONG_ROW).view(bool)
        other_labels, _, other_areas = blob_stats(joined)
        other_sizes = pixel_sizes(other_labels, other_areas)
        structure += np.count_nonzero(outside & (other_sizes >= SPECK))
    ring = around.size - height * (right - left)
    return bool(ring > 0 and structure <= QUIET * ring)


def lone_windows(strokes: np.ndarray, row_step: int, window: int) -> list[Line]:
    """Groups of the cheap look's windows that stand alone (`strokes`: the strokes each
    window of columns holds, per row read), as pixel boxes (a row read above and below):
    top, bottom, left, right, and the dense windows in the group. A window of a word
    holds DENSE strokes or more, and noise's strokes pass the threshold one or two at a
    time; a faint word's windows group as the dense ones alone or with the sparse ones
    between them, so both groupings are asked (noise of 30 HU makes a third of a
    group a frame: measured on 30 frames of noise alone)."""
    busy, dense = strokes > 0, strokes >= DENSE
    groups = standing_alone(dense, busy, dense) + standing_alone(busy, busy, dense)
    return [
        (max(0, top - 1) * row_step, (bottom + 1) * row_step, left * window, right * window, cells)
        for top, bottom, left, right, cells in dict.fromkeys(groups)
    ]


def standing_alone(
    grouped: np.ndarray, busy: np.ndarray, dense: np.ndarray
) -> list[tuple[int, int, int, int, int]]:
    """The 8-connected groups of `grouped` windows LONE_ROWS tall, holding LONE_WINDOWS
    `dense` windows or more, with at most RING_WINDOWS `busy` windows round them that
    do not touch them: rows and windows (top, bottom, left, right; ends exclusive) and
    their dense windows."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        grouped.view(np.uint8), connectivity=8
    )
    # The groups' dense windows in one count, and their heights, before any group is
    # looked at alone: a lung's frame has some thirty groups, few of them tall enough.
    dense_cells = np.bincount(labels[dense], minlength=count)
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    sized = (heights >= LONE_ROWS[0]) & (heights <= LONE_ROWS[1]) & (dense_cells >= LONE_WINDOWS)
    groups = []
    for label in np.flatnonzero(sized[1:]) + 1:
        left, top, width, height, _ = stats[label].tolist()
        cells = int(dense_cells[label])
        margin = max(2, height // 2)
        near = (
            slice(max(0, top - margin), top + height + margin),
            slice(max(0, left - 1), left + width + 1),
        )
        # The group's own sparse windows (its letters' ends) touch it: not its ring.
        own = cv2.dilate((labels[near] == label).view(np.uint8), np.ones((3, 3), np.uint8))
        if np.count_nonzero(busy[near] & (own == 0)) > RING_WINDOWS:
            continue
        groups.append((top, top + height, left, left + width, cells))
    return groups
