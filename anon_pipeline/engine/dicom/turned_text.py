"""Lines of text written up or down a frame, along its sides.

A renderer writes such a line where it hides no anatomy: along the left or right edge of
the image, over the air beside the body or a label's box. The looks along the rows never
see it (193 of 200 such lines released in session 41; 123 with the flat cores turned,
which only letters of one exact value and 16 px or more give). Each side's strip is
turned a quarter and given to the same look along its rows; the lines it
finds come back as boxes of the frame, with the turn that sets their text upright for
OCR. Only the strips: the whole frame turned would cost as much again as the check,
and a body's own vertical edges are its side's lines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Columns from each side where a line running up or down is looked for: a line of 28
# px letters set a dozen pixels in, and more. 64 (and 32 more beyond) found no more of
# the bench's turned lines and cost half as much again (session 50).
SIDE_STRIP = 48
# Columns more looked at beyond the strip, so that no line is cut by its inner edge: a
# line that reaches the overlap's edge is left (a body's side cut through, not text).
STRIP_OVERLAP = 24
# The quarter turn each strip is looked at in: one way only. A line written down the
# frame then stands upside down, and the look finds most such lines so too (their
# letters' tops align as their feet do). Both ways found a few more (5 of 171 corner
# and band lines of seeds 142 and 242, before the gate read the air inside the field of
# view) and cost as much again (session 50).
TURN = 1
EDGE_SLACK = 2  # pixels from the overlap's edge where a line counts as cut

Box = tuple[int, int, int, int, int]  # top, bottom, left, right (ends exclusive), count
Look = Callable[[np.ndarray], list[Box]]


def side_lines(frame: np.ndarray, look: Look) -> list[tuple[int, int, int, int, int, int]]:
    """Lines running up or down `frame` in its side strips, found by `look` (boxes of a
    view's rows) on each strip turned a quarter: (top, bottom, left, right, count, turn)
    of the frame, `turn` the quarter turns (`np.rot90`) that set the line's crop as the
    look saw it. A line that reaches the overlap's inner edge, or lies in the overlap
    alone, is left: the strip's cut crosses it. [] for a frame too narrow to have sides
    apart from its middle."""
    width = SIDE_STRIP + STRIP_OVERLAP
    if frame.ndim != 2 or frame.shape[1] < 2 * width:
        return []
    rows, columns = frame.shape
    found = []
    for start in (0, columns - width):
        strip = frame[:, start : start + width]
        inner_left = start == 0  # the strip's inner edge is its right one
        for top, bottom, left, right, count in look(np.ascontiguousarray(np.rot90(strip, TURN))):
            above, below, first, last = turned_back((top, bottom, left, right), TURN, rows, width)
            if inner_left and (last >= width - EDGE_SLACK or first >= SIDE_STRIP):
                continue
            if not inner_left and (first <= EDGE_SLACK or last <= STRIP_OVERLAP):
                continue
            found.append((above, below, start + first, start + last, count, TURN))
    return found


def turned_back(
    box: tuple[int, int, int, int], turn: int, rows: int, width: int
) -> tuple[int, int, int, int]:
    """A box (top, bottom, left, right) of a strip `rows` by `width` turned by `turn`, as
    a box of the strip itself. np.rot90 by 1 takes the strip's pixel (r, c) to (width - 1
    - c, r) of the view; by -1, to (c, rows - 1 - r)."""
    top, bottom, left, right = box
    if turn == 1:
        return left, right, width - bottom, width - top
    return rows - right, rows - left, top, bottom
