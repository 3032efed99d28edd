"""A faint letter's own rows: where the part-covered top and bottom rows of a +150 HU
letter lie, and whether a line's letters are strokes.

A renderer covers a letter's top row only in part. At full contrast that row stands
far over the threshold, in every letter alike. At +150 HU it stands near it, and with
8 HU of noise it is kept in one letter and lost in the next. So the tops of one
word's letters, as the closer look boxes them (`pixel_text.letter_blobs`), move by two
or three pixels and no three of them align, and a date plain to the eye was released.
Each blob's box grown by the row over its top (and under its bottom) where a pixel
there, right beside one of its own, stands over half the threshold and over the crop's
noise, spans the glyph's real rows more nearly.

Growing moves chance blobs too: lines of a lung's specks and of a soft kernel's grain
align by it. Lines that align only so are taken when more of their letters align
(`FAINT_ALIGNED`), when their letters are strokes, as letters are, and not discs, as
a vessel's cross-section or a grain is (`thin_strokes`), and when they are of a like
height of FAINT_HEIGHT or more (`pixel_text.like_heights`).
"""

from __future__ import annotations

import numpy as np

from anon_pipeline.engine.dicom.letter_shapes import widest_stroke

FAINT_SHARE = 0.5  # of the threshold: a part-covered row of a letter stands over this
# Letters that align by their faint rows only: as many as a line of letters a metal
# streak crossed needs (`pixel_text.STREAKED_ALIGNED`); three such made lines of a lung's
# specks (8 of 1,100 clean slices).
FAINT_ALIGNED = 4
# Pixels: the median height of a line's letters aligned by their faint rows. A soft
# kernel's grains, 5 to 6 px, align so; 9 px text's letters are 7 px and more.
FAINT_HEIGHT = 7
# A letter's widest stroke, of its height: a bold 28 px stem is a fifth; a vessel's
# cross-section or a grain is as wide as it is tall.
THIN_STROKE = 1 / 3

Box = tuple[int, int, int, int, int]  # bottom, top, left, right, characters: pixel_text's Blob


def with_faint_rows(
    labels: np.ndarray, boxes: np.ndarray, ids: np.ndarray, lifted: np.ndarray, faint: float
) -> np.ndarray:
    """`boxes` (top, bottom, left, right, ends exclusive) of the blobs labelled `ids`, each
    grown by a row up where a pixel right over one of its top row's, in no blob, is
    `lifted` over `faint`; and by a row down likewise. One row only: a faint row that
    runs on is the blob's halo or its neighbour's, not its glyph. Only the boxes' edge
    rows are read, not the crop: a lung's crop holds hundreds of blobs."""
    grown = boxes.copy()
    widths = boxes[:, 3] - boxes[:, 2]
    owner = np.repeat(np.arange(len(boxes)), widths)
    # Each box's columns, one after another: its left plus 0, 1, ... up to its width.
    columns = np.arange(owner.size) - np.repeat(np.cumsum(widths) - widths - boxes[:, 2], widths)
    rows_in, row_length = labels.shape
    flat_labels, flat_lifted = labels.ravel(), lifted.ravel()  # one take, not two indices
    owner_ids = ids[owner]
    for edge, step in ((0, -1), (1, 1)):
        own = boxes[:, edge] if step < 0 else boxes[:, edge] - 1  # the blob's edge row
        # Only boxes with a row beside them inside the crop.
        inside = (own + step >= 0) & (own + step < rows_in)
        at = np.repeat(own * row_length, widths) + columns
        reach = np.repeat(inside, widths)
        at, beside = at[reach], at[reach] + step * row_length
        grows = (
            (flat_labels[at] == owner_ids[reach])
            & (flat_labels[beside] == 0)
            & (flat_lifted[beside] > faint)
        )
        grew = np.zeros(len(boxes), dtype=bool)
        grew[owner[reach][grows]] = True
        grown[grew, edge] += step
    return grown


def thin_strokes(letters: np.ndarray, blobs: list[Box]) -> bool:
    """Whether the widest stroke of the blobs' median one is under THIN_STROKE of its
    height: a letter is strokes; a vessel's cross-section or a soft kernel's grain is a
    disc as wide as it is tall."""
    widths = [
        widest_stroke(letters[top:bottom, left:right]) / (bottom - top)
        for bottom, top, left, right, _ in blobs
    ]
    return bool(widths) and float(np.median(widths)) < THIN_STROKE
