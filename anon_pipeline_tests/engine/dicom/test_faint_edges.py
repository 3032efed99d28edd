"""A faint letter's own rows: +150 HU letters whose tops move with the noise align by
them, and lines of discs or of three blobs do not."""

import random

import numpy as np
import pytest

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.engine.dicom.faint_edges import (
    FAINT_ALIGNED,
    thin_strokes,
    with_faint_rows,
)
from anon_pipeline.synthetic.phantoms import phantom_slice, stored_values
from anon_pipeline.synthetic.pixel_trials import TextTrial, burn_in, fonts

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FREESANS = "/usr/share/fonts/truetype/freefont/FreeSans.ttf"


def test_a_blob_grows_by_the_faint_row_right_over_its_top_and_under_its_bottom():
    labels = np.zeros((12, 12), dtype=np.uint16)
    labels[3:8, 2:4] = 1  # rows 3 to 7
    labels[3:8, 7:9] = 2
    labels[0:2, 10:12] = 3  # on the crop's first row: nothing over it to read
    boxes = np.array([[3, 8, 2, 4], [3, 8, 7, 9], [0, 2, 10, 12]])
    ids = np.array([1, 2, 3])
    lifted = np.zeros(labels.shape)
    lifted[2, 3] = 40  # right over blob 1's top row: it grows up
    lifted[8, 2] = 40  # right under its last row: it grows down
    lifted[1, 8] = 40  # two rows over blob 2: no glyph's edge row
    lifted[5, 6] = 40  # beside blob 2, not over or under it
    lifted[2, 7] = 20  # right over blob 2, but under the faint threshold
    assert with_faint_rows(labels, boxes, ids, lifted, 30).tolist() == [
        [2, 9, 2, 4],
        [3, 8, 7, 9],
        [0, 2, 10, 12],
    ]
    # Pixels of a blob are no faint row of it, and a blob grows by one row at most; a
    # blob on the crop's edge row does not grow past it.
    lifted[:, :] = 40
    assert with_faint_rows(labels, boxes, ids, lifted, 30).tolist() == [
        [2, 9, 2, 4],
        [2, 9, 7, 9],
        [0, 3, 10, 12],
    ]
    # Only the boxes asked for: blob 2 alone, by its label.
    assert with_faint_rows(labels, boxes[1:2], ids[1:2], lifted, 30).tolist() == [[2, 9, 7, 9]]


def letter_row(count: int, filled: bool, tops: list[int], bottoms: list[int]):
    """`count` 16 px blobs in a row, outlines two pixels wide (letters) or filled
    (vessels' cross-sections), with the given strong tops and bottoms."""
    letters = np.zeros((60, 20 * count + 20), dtype=bool)
    blobs = []
    for index in range(count):
        top, bottom, left = tops[index], bottoms[index], 10 + 16 * index
        letters[top:bottom, left : left + 10] = True
        if not filled:
            letters[top + 2 : bottom - 2, left + 2 : left + 8] = False
        blobs.append((bottom, top, left, left + 10, 1))
    return letters, blobs


@pytest.mark.parametrize(
    "count,filled,found",
    [
        (FAINT_ALIGNED, False, True),  # four letters aligned by their faint rows
        (FAINT_ALIGNED - 1, False, False),  # three: a lung's specks align so by chance
        (FAINT_ALIGNED, True, False),  # four discs: vessels' cross-sections, no letters
    ],
)
def test_lines_aligned_only_by_faint_rows_need_four_letters_of_strokes(count, filled, found):
    tops, bottoms = [20, 22, 19, 21][:count], [37, 38, 36, 39][:count]
    letters, blobs = letter_row(count, filled, tops, bottoms)
    edged = [(38, 19, left, right, n) for _, _, left, right, n in blobs]  # the glyphs' rows
    assert pixel_text.line_candidates(blobs) == []  # their strong rows do not align
    lines = pixel_text.faint_lines([], blobs, edged, letters)
    assert [candidate[5] for candidate in lines] == ([list(range(count))] if found else [])


def test_strokes_are_thin_and_discs_are_not():
    letters, blobs = letter_row(3, False, [20] * 3, [36] * 3)
    assert thin_strokes(letters, blobs)
    discs, blobs = letter_row(3, True, [20] * 3, [36] * 3)
    assert not thin_strokes(discs, blobs)
    assert not thin_strokes(discs, [])


@pytest.mark.skipif(not fonts(), reason="fonts-dejavu is not installed")
@pytest.mark.parametrize(
    "anatomy,font,size,polarity,seed",
    [(5, DEJAVU, 17, -1, 5), (2, DEJAVU, 21, -1, 0), (1, FREESANS, 21, 1, 1)],
)
def test_a_faint_date_over_a_chest_is_found_by_its_letters_faint_rows(
    monkeypatch, anatomy, font, size, polarity, seed
):
    """+150 HU dates over a chest whose letters' tops move with the noise, so that no
    three align by their strong rows: found by their faint rows, missed without (as
    13 of 1,080 such dates were over six chests)."""
    chest = phantom_slice(np.random.default_rng(anatomy), region="chest")
    trial = TextTrial(font, size, "body", polarity, "+150", ("27.09.1971",), 1)
    image = stored_values(burn_in(chest, trial, random.Random(seed)))
    drawn = np.argwhere(np.abs(image.astype(np.int32) - stored_values(chest)) > 40)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)

    def over_date() -> bool:
        return any(
            r.top <= bottom and r.bottom >= top and r.left <= right and r.right >= left
            for r in pixel_text.text_regions(image)
        )

    assert over_date()
    # Some are found another way too: by three letters whose shapes let them stand in
    # busy margins (`letter_shapes`), or by letters set apart from the vessels they
    # touch (`weak_letters`). Without those, their faint rows alone find them.
    monkeypatch.setattr(pixel_text, "letter_shaped", lambda *arguments: False)
    monkeypatch.setattr(pixel_text, "weak_letters", lambda *arguments: None)
    assert over_date()
    monkeypatch.setattr(pixel_text, "faint_lines", lambda *arguments: [])
    assert not over_date()


@pytest.mark.parametrize(
    "heights,like",
    [
        ([12, 12, 13, 12], True),  # a word's letters
        ([12, 12, 13, 12, 19], True),  # and a capital or an accent among them
        ([19, 12, 29, 11, 10, 10], False),  # a partial-volume lung's row of blobs
        ([7, 6, 5, 5, 5], False),  # a soft kernel's grains
    ],
)
def test_lines_aligned_by_faint_rows_are_of_letters_of_a_like_height(heights, like):
    members = [
        (40, 40 - height, 10 * index, 10 * index + 6, 1) for index, height in enumerate(heights)
    ]
    assert pixel_text.like_heights(members) is like
