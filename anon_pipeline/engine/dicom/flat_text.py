"""Text burned in with one exact value, where the stroke look loses it.

A renderer fills a letter's inside with one exact value; a CT's noise almost never
repeats a value four times running. So pixels of one value that run four down (a
stem) or four across (a bar), with a contrasting edge on both sides within a stroke's
width, are a letter's core. Dark text at full contrast over a body is where this
matters: where its letters cross a lung's air they merge with it, so the stroke look
(`pixel_text`) sees no letters of one height and no quiet margins, and the line was
released. Their cores over the tissue are still flat and still align.

The check costs two comparisons of the frame with itself shifted by a pixel and a
count (0.16 ms a slice); a clean slice has about a dozen chance runs, scattered over
many values, and most end there. Text drawn with an offset (+150 over its background)
carries the noise and is left to the stroke look; so are thin or slanted letters under
about 16 pixels, whose strokes are anti-aliased through. Text in one grey level a little
off its background (150 HU) is flat too: its letters are counted by their cores of that
exact value (`aligned_pieces`).

Letters too big for that (a banner or a stamp: stems wider than STROKE_REACH either
side of a core, letters taller than the tallest asked) are looked for the same way in
the frame halved, down to LARGE_SIDE pixels a side (`large_flat_lines`): their
insides stay one exact value when averaged 2 x 2, and their stems come within reach.
Averaging halves the noise, so a halved clean slice has even fewer runs.

Air a scanner stores at its floor (-1,024 HU), and padding, are one exact value over
expanses, so their runs are no renderer's: the frame's lowest and highest values are
left out where they fill a twentieth of it (`unclipped`).

Saturated metal is flat too: a blob has no edge on both sides of its inside, and a
wire's value makes one piece, where a line of text makes three or more whose bottoms
align. A row of thin rings of one value would pass as letters and be read.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FLAT_RUN = 4  # pixels of one value running down or across: noise does not repeat so long
# Runs in a frame below which it has no line to find: a clean slice's noise makes about
# 11 (the most seen, 32); a line of text 14 pixels or more makes 30 to 1,000.
FLAT_FRAME = 16
# Runs' cores of one value in one line: on 1,100 clean slices, no value had more than 2
# (with an edge on both sides); a 12 px bold date has 10 to 20.
FLAT_STARTS = 8
# Pixels either side of a run's middle where the stroke's edges lie: a run's own length
# less one, so a run across the middle pixel is a side with no edge (`beside_an_edge`).
STROKE_REACH = FLAT_RUN - 1
# Of a frame's pixels, at its lowest or highest value: stored so (clipped air, padding),
# where runs of one value are no renderer's. Text of that value is left to the other looks.
CLIPPED_SHARE = 0.05
STRAGGLERS = 0.01  # of a sample, at most, between two stored floors (`stored_floors`)
CROWDED_RUNS = 2000  # runs in a frame beyond which those in flat expanses are dropped first
# A line's cores are joined across the gaps between letters and words (columns) and
# between a letter's bars and stems (rows) before they are boxed.
JOIN = (27, 13)
ALIGNED_PIECES = 3  # letters near the value, their bottoms within PIECE_SLACK rows
PIECE_SLACK = 2
LINE_GAP = 4  # letter heights between a line's flat cores (the letters between have none)
SMALLEST_PIECE = 6  # pixels: an anti-aliased speck is no letter
CHARACTER_WIDTH = 0.6  # of a letter's height: a line's characters, from its width
CORE_MARGIN = 4  # pixels a letter reaches past its flat core (its anti-aliased edge)
# The smallest side a halved frame keeps: a 512-pixel CT is looked at halved once.
# Bold letters of 48 to 96 px at full contrast: 38 of 150 released without it, none
# with it; no line on 12,000 clean slices halved (8 to 40 HU, clipped air; session 41).
LARGE_SIDE = 256

Line = tuple[int, int, int, int, int]  # top, bottom, left, right (ends exclusive), characters


def flat_lines(
    frame: np.ndarray, contrast: float, shortest: int, tallest: int, turned: bool = True
) -> list[Line]:
    """Boxes to read around lines of letters whose cores are one exact value, with a
    margin of a letter's height either side (a line's other words) and the characters
    the line's width suggests; [] for most frames. `turned`: lines that run up or down
    the frame too (the frame turned a quarter either way, on the same cores)."""
    if frame.ndim != 2 or min(frame.shape) < FLAT_RUN or frame.dtype.kind not in "iu":
        return []
    rows, columns, values = unclipped(frame, flat_cores(frame, contrast))
    lines = lines_of_cores(frame, (rows, columns, values), shortest, tallest)
    if not turned or not len(values):
        return lines
    height, width = frame.shape
    # np.rot90 turns counter-clockwise: pixel (r, c) goes to (width - 1 - c, r) of the
    # view, and a box of the view comes back as the frame's columns turned over.
    upwards = (width - 1 - columns, rows, values)
    for top, bottom, left, right, count in lines_of_cores(
        np.rot90(frame), upwards, shortest, tallest
    ):
        lines.append((left, right, width - bottom, width - top, count))
    # Clockwise: (r, c) goes to (c, height - 1 - r).
    downwards = (columns, height - 1 - rows, values)
    for top, bottom, left, right, count in lines_of_cores(
        np.rot90(frame, -1), downwards, shortest, tallest
    ):
        lines.append((height - right, height - left, top, bottom, count))
    return lines


def unclipped(
    frame: np.ndarray, cores: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flat `cores` (rows, columns, values) but those of the frame's stored floors
    (`stored_floors`) or highest value, where it fills CLIPPED_SHARE of the frame or
    more (every fourth row and column):
    air a scanner stores at its floor, or padding, runs by being stored so, not drawn.
    In a table's gap between its shells such runs stood as a line (a real CT of
    pydicom's, and 45 of 300 clean slices whose air is mostly -1,024 HU; session 45)."""
    rows, columns, values = cores
    if not len(values):
        return cores
    sample = frame[::4, ::4]
    kept = np.ones(len(values), dtype=bool)
    ends = stored_floors(sample)
    if np.count_nonzero(sample == sample.max()) >= CLIPPED_SHARE * sample.size:
        ends.append(int(sample.max()))
    for end in ends:
        kept &= values != end
    return rows[kept], columns[kept], values[kept]


def stored_floors(sample: np.ndarray) -> list[int]:
    """The values at the bottom of `sample` that each fill CLIPPED_SHARE of it, lowest
    first: its lowest, and the next that does, with at most STRAGGLERS of the sample
    between the two (a padding's edge blended with the air, as a frame halved blends
    them). A scanner may store its padding outside the field of view under the air it
    clipped at its floor (-3,024 HU under -1,024, as GE's do): there the air's value is
    no frame's lowest (session 46)."""
    if not sample.size:
        return []
    lowest = sample.min()
    if np.count_nonzero(sample == lowest) < CLIPPED_SHARE * sample.size:
        return []
    floors = [int(lowest)]
    rest = sample[sample > lowest]
    reach = math.ceil((CLIPPED_SHARE + STRAGGLERS) * sample.size)
    if rest.size > reach + 1:
        rest = np.partition(rest, reach)[: reach + 1]  # the smallest: a floor's among them
    values, counts = np.unique(rest, return_counts=True)
    under = np.cumsum(counts) - counts
    level = (counts >= CLIPPED_SHARE * sample.size) & (under <= STRAGGLERS * sample.size)
    if level.any():
        floors.append(int(values[level.argmax()]))
    return floors


def lines_of_cores(
    frame: np.ndarray,
    cores: tuple[np.ndarray, np.ndarray, np.ndarray],
    shortest: int,
    tallest: int,
) -> list[Line]:
    """`flat_lines` of one way of reading the frame: its flat `cores` (rows, columns,
    values) joined into lines of letters `shortest` to `tallest` pixels tall."""
    rows, columns, values = cores
    lines = []
    counted = np.unique(values, return_counts=True)
    for value in counted[0][counted[1] >= FLAT_STARTS].tolist():
        chosen = values == value
        for top, bottom, left, right in joined_boxes(rows[chosen], columns[chosen]):
            height, width = bottom - top, right - left
            if not shortest <= height <= tallest or width < height:
                continue
            if aligned_pieces(frame, value, top, bottom, left, right) < ALIGNED_PIECES:
                continue
            letter = height + CORE_MARGIN
            lines.append(
                (
                    max(0, top - letter // 3),
                    min(frame.shape[0], bottom + letter // 3),
                    max(0, left - letter),
                    min(frame.shape[1], right + letter),
                    max(1, round(width / (CHARACTER_WIDTH * letter))),
                )
            )
    return lines


def large_flat_lines(frame: np.ndarray, contrast: float, tallest: int) -> list[Line]:
    """`flat_lines` of letters from a quarter of `tallest` to `tallest` in the frame
    halved (and halved again while LARGE_SIDE allows), in the frame's own pixels:
    letters a frame's own look has no reach for. The smaller ones are its own."""
    lines: list[Line] = []
    scale, scaled = 1, frame
    while scaled.ndim == 2 and scaled.dtype.kind in "iu" and min(scaled.shape) >= 2 * LARGE_SIDE:
        scaled, scale = halved(scaled), 2 * scale
        lines += [
            (top * scale, bottom * scale, left * scale, right * scale, characters)
            for top, bottom, left, right, characters in flat_lines(
                scaled, contrast, tallest // 4, tallest
            )
        ]
    return lines


def halved(frame: np.ndarray) -> np.ndarray:
    """Each 2 x 2 block's mean (rounded), in the frame's own integer type: a letter's
    inside of one exact value stays that value. OpenCV's area resize, which is that
    mean, for the types it takes; numpy's for the rest (a 32-bit image's)."""
    rows, columns = frame.shape[0] // 2, frame.shape[1] // 2
    even = frame[: 2 * rows, : 2 * columns]
    if frame.dtype in (np.uint8, np.uint16, np.int16):
        return cv2.resize(even, (columns, rows), interpolation=cv2.INTER_AREA)
    blocks = even.astype(np.float64).reshape(rows, 2, columns, 2).mean(axis=(1, 3))
    return np.rint(blocks).astype(frame.dtype)


def run_starts(equal: np.ndarray) -> np.ndarray:
    """Where FLAT_RUN pixels in a row of `equal` (a pixel against its next) are one value."""
    last = len(equal) - (FLAT_RUN - 2)
    starts = equal[:last] & equal[1 : last + 1]
    for offset in range(2, FLAT_RUN - 1):
        starts &= equal[offset : last + offset]
    return starts


def flat_cores(frame: np.ndarray, contrast: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The middle pixels (rows, columns, values) of runs of one value that have an edge
    steeper than `contrast` on both sides across the run: a stroke's core, not the inside
    of a blob or the frame's padding. Empty arrays when the frame has too few runs."""
    width = frame.shape[1]
    line = frame.reshape(-1)  # the rows end to end: a pixel's neighbours are 1 and width away
    down = run_starts(frame[1:] == frame[:-1]).reshape(-1)
    across = run_starts(line[1:] == line[:-1])
    empty = np.zeros(0, dtype=np.intp)
    runs = np.count_nonzero(down) + np.count_nonzero(across)
    if runs < FLAT_FRAME:
        return empty, empty, empty
    if runs > CROWDED_RUNS:  # padding or clipped air: most runs are in flat expanses
        down, across = beside_an_edge(down, across, width)
    middle = FLAT_RUN // 2 - 1
    down_at = set_positions(down) + middle * width
    across_at = set_positions(across)
    across_at = across_at[across_at % width <= width - FLAT_RUN] + middle  # not over a row's end
    at = np.concatenate(
        [
            edged_both_sides(line, down_at, 1, contrast),
            edged_both_sides(line, across_at, width, contrast),
        ]
    )
    rows, columns = np.divmod(at, width)
    return rows, columns, line[at].astype(np.int64)


def beside_an_edge(
    down: np.ndarray, across: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The runs (`flat_cores`' flags, the rows end to end) without those whose middle
    pixel has a run of FLAT_RUN across it on either side: no pixel within STROKE_REACH
    there differs from it, so the edge test would drop it anyway. Padding outside a
    scanner's field of view is such runs everywhere (60,000 a frame), and gathering
    their neighbours cost 2.6 ms a frame; a few array passes take them out first."""
    middle, reach = FLAT_RUN // 2 - 1, STROKE_REACH
    kept_down = down & ~shifted(across, middle * width, len(down))
    kept_down &= ~shifted(across, middle * width - reach, len(down))
    kept_across = across & ~shifted(down, middle, len(across))
    kept_across &= ~shifted(down, middle - reach * width, len(across))
    return kept_down, kept_across


def shifted(flags: np.ndarray, offset: int, length: int) -> np.ndarray:
    """`length` flags, the i-th being flags[i + offset] (False beyond `flags`' ends)."""
    seen = np.zeros(length, dtype=bool)
    start, stop = max(0, -offset), min(length, len(flags) - offset)
    if start < stop:
        seen[start:stop] = flags[start + offset : stop + offset]
    return seen


def set_positions(flags: np.ndarray) -> np.ndarray:
    """`np.flatnonzero` of a few flags among many (a frame's runs): the flags are read
    eight to a word, and only the words with one are looked into (a fifth of the cost)."""
    whole = len(flags) - len(flags) % 8
    words = np.flatnonzero(flags[:whole].view(np.uint64))
    candidates = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    positions = candidates[flags[candidates]]
    return np.concatenate([positions, whole + np.flatnonzero(flags[whole:])])


def edged_both_sides(line: np.ndarray, at: np.ndarray, step: int, contrast: float) -> np.ndarray:
    """The positions in `line` (a frame's rows end to end) with a pixel `contrast` or more
    away from their value within STROKE_REACH steps each way (a step of 1 is a column, of
    a row's width a row; past the frame's ends, its first or last pixel stands in)."""
    values = line[at].astype(np.int64)  # gathered: differences cannot overflow
    both = np.ones(len(at), dtype=bool)
    for sign in (1, -1):
        side = np.zeros(len(at), dtype=bool)
        for reach in range(1, STROKE_REACH + 1):
            side |= np.abs(line.take(at + sign * reach * step, mode="clip") - values) >= contrast
        both &= side
    return at[both]


def joined_boxes(rows: np.ndarray, columns: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The boxes (top, bottom, left, right) of the points joined within JOIN, then of the
    boxes that share their rows (`beside`), each of FLAT_STARTS points or more."""
    top, left = int(rows.min()), int(columns.min())
    points = np.zeros((int(rows.max()) - top + 1, int(columns.max()) - left + 1), np.uint8)
    points[rows - top, columns - left] = 1
    joined = cv2.dilate(points, cv2.getStructuringElement(cv2.MORPH_RECT, JOIN))
    count, labels = cv2.connectedComponents(joined, connectivity=8)
    of_point = labels[rows - top, columns - left]
    boxes: list[list[int]] = []
    for label in range(1, count):
        mine = of_point == label
        boxes.append(
            [
                int(rows[mine].min()),
                int(rows[mine].max()) + 1,
                int(columns[mine].min()),
                int(columns[mine].max()) + 1,
                int(np.count_nonzero(mine)),
            ]
        )
    return [(box[0], box[1], box[2], box[3]) for box in beside(boxes) if box[4] >= FLAT_STARTS]


def beside(boxes: list[list[int]]) -> list[list[int]]:
    """Boxes (top, bottom, left, right, points) merged, left to right, with the next one
    whose top and bottom lie within PIECE_SLACK rows of theirs and that starts within
    LINE_GAP of their heights: a date's flat cores are often its 1s alone, a few letters
    apart (the round digits between are anti-aliased through)."""
    merged: list[list[int]] = []
    for box in sorted(boxes, key=lambda box: box[2]):
        for line in merged:
            height = line[1] - line[0]
            if (
                abs(box[0] - line[0]) <= PIECE_SLACK
                and abs(box[1] - line[1]) <= PIECE_SLACK
                and box[2] - line[3] <= LINE_GAP * height
            ):
                line[:4] = [
                    min(line[0], box[0]),
                    max(line[1], box[1]),
                    line[2],
                    max(line[3], box[3]),
                ]
                line[4] += box[4]
                break
        else:
            merged.append(list(box))
    return merged


def aligned_pieces(
    frame: np.ndarray, value: int, top: int, bottom: int, left: int, right: int
) -> int:
    """How many pieces, each about a letter's height, have bottoms within PIECE_SLACK rows
    of each other: pieces nearer `value` than the box's typical pixel, or of `value`
    itself. A line's letters do, a wire is one piece. Text in one grey level over a body
    (150 HU off what it covers, across lung and tissue) stands near the box's typical
    pixel, so the pixels near its value are the body's too and join into pieces taller
    than letters; the letters' own cores of that exact value stay apart (session 42)."""
    crop = frame[max(0, top - 3) : bottom + 3, max(0, left - 3) : right + 3].astype(np.int32)
    half = abs(float(np.median(crop)) - value) / 2
    tallest = bottom - top + 8
    return max(
        most_aligned(np.abs(crop - value) < half, tallest),
        most_aligned(crop == value, tallest),
    )


def most_aligned(pieces: np.ndarray, tallest: int) -> int:
    """The most of the `pieces` (a mask's 8-connected blobs) of 4 to `tallest` rows and
    SMALLEST_PIECE pixels or more whose bottoms lie within 2 * PIECE_SLACK rows."""
    _count, _labels, stats, _centres = cv2.connectedComponentsWithStats(
        pieces.view(np.uint8), connectivity=8
    )
    heights, areas = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    letters = (heights >= 4) & (heights <= tallest) & (areas >= SMALLEST_PIECE)
    bottoms = np.sort((stats[1:, cv2.CC_STAT_TOP] + heights)[letters])
    if not len(bottoms):
        return 0
    ends = np.searchsorted(bottoms, bottoms + 2 * PIECE_SLACK, side="right")
    return int((ends - np.arange(len(bottoms))).max())
