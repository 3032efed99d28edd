"""Where a frame's pixels may carry text: a cheap look at every frame, a closer one where
it finds a line of characters.

Burned-in text is thin strokes (1 to 6 pixels wide) with a sharp edge on each side,
and its letters stand on a common baseline: the vertical strokes of a word (stems,
and the sides of round letters) end in the same row. The cheap look
(`candidate_regions`) works on every other row of the frame, in a few vectorised
passes over bits, 64 columns to a word: it marks thin strokes, bright or dark, across
each row, keeps those that run down several rows (stems), and counts the stems that
end in the same row within a window of columns. Lungs, whose vessels make strokes everywhere, have
stems but no baseline; bone, tables and metal streaks have neither. Most frames end
there. Where a window has a baseline, the closer look (`text_regions`) boxes the line
of text over it, for OCR to read (`ocr`).

Contrast is judged in the frame's own units scaled by its rescale slope (the caller
scales it), so a threshold of 60 is 60 HU on a CT whatever its stored values. It is
raised over noise: in a low-dose or sharp-kernel CT, whose noise is 30 HU and more,
chance makes strokes of 60 HU everywhere, and every slice would be held (and cost a
third of a second). Both looks measure the noise where they look (the median step
between neighbours, the median lift of a crop's pixels) and ask strokes to stand out
from it. Where the noise raised the cheap look's threshold, both look again at the
frame averaged down a few rows, which quiets the noise and keeps the stems
(`noisy_text`); text faint against the noise is still missed, as `docs/benchmarks.md`
counts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from anon_pipeline.engine.dicom.blobs import blob_boxes
from anon_pipeline.engine.dicom.faint_edges import (
    FAINT_ALIGNED,
    FAINT_HEIGHT,
    FAINT_SHARE,
    thin_strokes,
    with_faint_rows,
)
from anon_pipeline.engine.dicom.flat_text import flat_lines, large_flat_lines, stored_floors
from anon_pipeline.engine.dicom.grown_letters import GROWN_CROP, grown_letters
from anon_pipeline.engine.dicom.letter_shapes import disc_shaped, letter_shaped
from anon_pipeline.engine.dicom.lone_words import LONE_CROP, lone_windows, lone_words
from anon_pipeline.engine.dicom.noisy_text import (
    ALONG_ROWS,
    FEW_CHARACTERS,
    MORE_NOISY_ROWS,
    averaged_down,
    stands_alone,
    steps_along,
)
from anon_pipeline.engine.dicom.padding_islands import padding_mask
from anon_pipeline.engine.dicom.streak_field import EXPLAINED, streak_field
from anon_pipeline.engine.dicom.streaks import (
    STREAK_RUN,
    STREAKED_SHARE,
    STREAKED_TALLEST,
    Metal,
    beyond_fans,
    metal_in,
    points_at_metal,
    streak_lift,
)
from anon_pipeline.engine.dicom.structure_tips import (
    pieces_of_one,
    pockets_of_ground,
    tips_of_structures,
)
from anon_pipeline.engine.dicom.turned_text import side_lines
from anon_pipeline.engine.dicom.weak_letters import Freed, freed_shaped, weak_letters

cv2.setNumThreads(1)  # the check runs in one process per core already: threads only contend

STROKE_CONTRAST = 60.0  # HU, or grey levels of an 8-bit image
NOISE_STEPS = 3.0  # a stroke's edge is steeper than this many of the frame's median steps
NOISE_LIFT = 3.0  # a letter's pixel stands this many of its crop's median lifts out
MAX_STROKE_WIDTH = 4  # the closer look's openings span 2 * 4 + 1: strokes up to 8 wide
# The cheap look's widest stroke: a bold 28 px letter drawn without anti-aliasing (or
# saturated by a window) has stems 5 to 6 pixels wide, with one hard edge each side.
WIDEST_STEM = 6
ROW_STEP = 2  # the cheap look reads every other row: a 9-pixel letter spans 3 of them
STEM_ROWS = 2  # a stem runs down at least this many of the rows read (3 to 4 pixels)
WINDOW = 32  # columns per baseline window; a window and its right neighbour are counted
BASELINE_STEMS = 3  # stems ending in one row (±1) of a 64-column span: a line of text
BASELINE_GAP = 3  # rows read (6 pixels) above and below a baseline, where stems do not end
QUIET_BELOW = 2  # rows read (4 pixels) under a baseline with no stroke: no lung, whatever ends
MAX_TEXT_HEIGHT = 48
MIN_CHARACTER_HEIGHT = 5
LINE_CHARACTERS = 4  # characters of one height on one baseline that make a line of text
SHORT_LINE = 6  # characters: three letters of fewer must stand in EMPTY_MARGIN
EMPTY_MARGIN = 0.01  # stroke pixels per pixel around such a short line
LINE_BLOBS = 3  # letters of one height and baseline among them (bold ones may touch)
STROKE_SHARE = 0.35  # of the crop's strongest strokes: a letter's pixel, not its halo
FLAT_STROKE_SHARE = 0.1  # the same on ground of exact values (`flat_ground`)
FLAT_GROUND = 0.15  # of a crop's neighbours along its rows, equal: ground with no noise
NOISE_SAMPLE = 0.5  # of a crop's pixels off that ground: enough to measure its noise on
FLOOR_FREE = 0.05  # of a crop's pixels (every other row's) off a clipped floor: the same
QUIET_MARGIN = 0.04  # stroke pixels per pixel above a line of text (accents, noise)
BUSY_MARGIN = 0.1  # around four letters of one height and baseline
# Whether the averaged looks' lines must lie off a metal's streaks (`on_a_streak`).
# Averaged down five rows, a shallow streak across the air is a comb that lines up as
# letters: that look alone held 8 more clean slices of 2,100 at 30 HU, and the 6 looked
# at were such combs; 4 of the 9 texts it seemed to find were held by combs beside
# them, not by their own lines (session 39).
STREAK_COMBS = True
# Whether a line the plain look finds in a frame with metal must have most of its letter
# pixels off the streaks (`off_streaks`), as the lines found apart from them must: under
# 30 HU of noise a dark streak across the air holds a comb of specks that lines up as
# letters, where text a streak crosses keeps most of its letters off it (session 42).
OFF_STREAKS = True
# Whether a line whose elongated blobs mostly point at a metal is refused as pieces of
# its fading streaks (`points_at_metal`): clean slices of the other style held, 45 -> 40
# of 1,000 (seed 45) and 37 -> 36 (seed 46); none of 1,522 text lines near metal
# refused (session 44).
FROM_METAL = True
# Whether the islands of a scanner's padding are looked at where nothing else was found
# (`padding_islands`): dark text under -3,024 HU padding, clipped to 48 HU under it, was
# 25 of 45 misses over the other style on three seeds (session 44).
PADDING_TEXT = True
# Whether a line a metal's streaks alone make is refused (`streak_field`). Without it,
# 40 of 1,000 clean slices of the other style (seed 45) were held, 30 of them with metal
# (session 48).
STREAK_FIELD = True
# Whether, in a frame with metal, a line of a crop merged from several candidates must
# stand in its own crop too: with its margins and the candidates it crosses
# (`in_own_crops`). Clean slices of the other style held: 25 -> 22, 22 -> 19, 28 -> 25
# of 1,000 (seeds 45 to 47), the same texts released (session 49). One candidate's crop
# alone freed more, but a long or large line of text lies across several candidates and
# the gaps between them: three more texts of 400 were released (bench's thin and large).
OWN_CROPS = True
# Whether a short line may be the tips of stronger structures, or pockets of a lung
# between its vessels (`structure_tips`). Without it, 29 of 1,000 clean slices of fresh
# seed 3005 were held, 20 of them of one phantom's edge (session 40).
STRUCTURE_TIPS = True
# Whether lines written up or down the frame are looked for along its sides
# (`turned_text`). Without, the bench's turned row released 123 of 200; with, 44, and
# of the 80 in a corner or a band 1 (seed 42; 1 of 92 and 0 of 79 on seeds 142 and 242,
# never tuned on). No clean slice more held of 9,100 of the bench's (session 50).
TURNED_SIDES = True
# Only the turned look's candidates that stand mostly (GROUND_SHARE of their pixels) on
# air (under TURNED_GROUND HU over the frame's own, `air_level`), on white letters
# (TURNED_WHITE over it or more) or on a label's exact values are looked at closer: the
# body's sides gave most, and looking at them all doubled the check's time (session 50).
GROUND_SHARE = 0.5
TURNED_GROUND = 400.0
TURNED_WHITE = 2500.0
# A turned line shorter than TURNED_ASPECT of its widths, alone, is doubtful (a soft
# kernel's grains beside a table made one); pieces of one line TURNED_GAP widths apart
# or nearer are judged whole (a name broken at its space, upside down).
TURNED_ASPECT = 5.5
TURNED_GAP = 3.0
# Whether a line may be the pieces of one structure (`structure_tips.pieces_of_one`): a
# table's foam core, a bowel's air over a fluid level. Without it, 30 of 400 clean slices
# of a phantom drawn in another style were held, 20 with it (session 43).
ONE_STRUCTURE = True
STANDS_ALONE = 5  # letters of one height and baseline that chance does not make
QUIET_SIDES = 3  # of the four margins of a line (above, below, either end)
# Of `contrast`: the cheap look's strokes where nothing else stands (`lone_windows`).
# FreeMono at 9 and 10 px, +150 HU over a corner's air: 145 of 192 found at 1, 187 at
# 0.8 (2026-12-06, session 38); no clean slice more held on the bench's 3,600.
LONE_SHARE = 0.8
# Typical steps the noise must stand under the lone strokes' threshold: at 18 HU of
# noise (a table's air), NOISE_STEPS let the lower one mark noise round a word.
LONE_NOISE_STEPS = 3.5
HALO = 2  # pixels around a stroke where its anti-aliased halo lies
LETTER_GAP = 1.2  # letter heights between the letters of a line
LIKE_HEIGHT = 1.6  # the most one letter of a line is taller than another
LOST_LETTERS_GAP = 3.0  # where STANDS_ALONE letters align: a letter or two lost to a vessel
BRIDGED_HEIGHT = 10  # pixels: letters a vessel crosses without erasing; lungs' specks are less
# Letters this tall (pixels) bridge lost letters where only STREAKED_ALIGNED of them
# align: a metal streak takes +150 HU letters out whole, and lungs make no such blobs.
TALL_LETTER = 13
STREAKED_ALIGNED = 4
# Of a blob's rows, the share within a line's rows that make it a letter of the line whose
# bottom a vessel or a streak took off the baseline: it carries the line on, not joins it.
CARRIED_SHARE = 0.8
ALIGNED_SLACK = 10  # pixels of a letter's height per pixel its top may move
# Where the bottoms share one row exactly, a pixel of the top per this many of height;
# so aligned, fewer than STANDS_ALONE count (a partial-volume lung put five on one row).
ONE_ROW_SLACK = 6
# Three blobs this tall (pixels) with one top row and one bottom row are a line, however
# few characters they make ("ID 3" of an ID whose digits a lung's air takes).
SAME_ROWS_HEIGHT = 9
# Letters this small (pixels) set a pixel or less apart merge into one blob through the
# anti-aliased grey between them. A blob is cut where a column holds `bridge` pixels or
# fewer, and the pieces are letters if `aligned` of them align: first at one pixel and
# three letters; then at two pixels, which cuts more of a lung's edges too, and four.
MERGED_HEIGHT = 12
MERGED_CUTS = ((1, 3), (2, 4))  # (bridge, aligned)


Blob = tuple[int, int, int, int, int]  # top, bottom, left, right, characters


@dataclass(frozen=True, slots=True)
class Region:
    """A box of a frame where a line of text may stand: rows top..bottom, columns
    left..right (end exclusive), and the stems on its baseline (a candidate of the cheap
    look) or the characters counted in it (a line the closer look confirmed).
    `doubtful`: a line noise makes by chance as often as text (`noisy_text.FEW_CHARACTERS`),
    which holds only where OCR reads it. `turn`: for a line that runs up or down the
    frame (`turned_text`), the quarter turns (`np.rot90`) that set its crop along its
    rows, one way up or the other."""

    top: int
    bottom: int
    left: int
    right: int
    stems: int
    doubtful: bool = False
    turn: int = 0

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def overlaps(self, other: Region) -> bool:
        """Whether the two boxes share a pixel."""
        return (
            self.top < other.bottom
            and self.bottom > other.top
            and self.left < other.right
            and self.right > other.left
        )


def stroke_mask(frame: np.ndarray, contrast: float) -> np.ndarray:
    """Every ROW_STEP-th row: where the row crosses a thin stroke, an edge up then down
    (bright stroke) or down then up (dark stroke) within WIDEST_STEM pixels, each
    edge steeper than `contrast` and than NOISE_STEPS of the frame's typical step (a
    low-dose or sharp-kernel CT's noise makes steps of 60 HU everywhere). Marks the
    stroke's first edge."""
    step = row_steps(frame)
    return thin_stroke_edges(step, step_threshold(step, step_level(step, contrast)))


def stroke_masks(frame: np.ndarray, contrast: float) -> tuple[np.ndarray, np.ndarray]:
    """`stroke_mask` at `contrast`, and the lone strokes' mask from the same differences:
    edges steeper than LONE_SHARE of `contrast` and than LONE_NOISE_STEPS of the typical
    step (never more than the plain threshold). Where the noise leaves one threshold,
    the masks are one array."""
    step = row_steps(frame)
    magnitudes = np.abs(step[::4])  # as `step_level` reads them
    plain = step_threshold(step, over_noise(magnitudes, contrast, NOISE_STEPS))
    lone = over_noise(magnitudes, LONE_SHARE * contrast, LONE_NOISE_STEPS)
    faint = min(plain, step_threshold(step, lone))
    mask = thin_stroke_edges(step, plain)
    return mask, mask if faint == plain else thin_stroke_edges(step, faint)


def row_steps(frame: np.ndarray) -> np.ndarray:
    """The differences along every ROW_STEP-th row (each pixel less the one before it),
    in 16-bit integers where the values allow."""
    rows = frame[::ROW_STEP]
    if rows.dtype == np.int16 or rows.dtype == np.uint8:
        # int16 differences of 12-bit CT values and int16 of 8-bit ones cannot overflow
        rows = rows.astype(np.int16, copy=False)
        limit = np.iinfo(np.int16).max // 2
        if rows.dtype == np.int16 and (rows.max() > limit or rows.min() < -limit):
            rows = rows.astype(np.int32)
    elif rows.dtype.kind in "iu":
        rows = rows.astype(np.int32)
    return rows[:, 1:] - rows[:, :-1]


def thin_stroke_edges(step: np.ndarray, steeper: float | int) -> np.ndarray:
    """The first edge of each stroke `stroke_mask` marks, `step` the rows' differences."""
    up, down = packed(step > steeper), packed(step < -steeper)
    # An edge the other way within WIDEST_STEM columns after.
    down_after, up_after = np.zeros_like(down), np.zeros_like(up)
    for reach in range(1, WIDEST_STEM + 1):
        down_after |= looking_right(down, reach)
        up_after |= looking_right(up, reach)
    # The last column of steps has no column after it: beyond it the words are 0.
    return (up & down_after) | (down & up_after)


def step_level(step: np.ndarray, contrast: float) -> float:
    """How steep an edge must be (`step`: the rows read, each pixel less the one before
    it): `contrast`, or NOISE_STEPS times the noise's median step where that is more.
    Every fourth row read is plenty for the median."""
    return over_noise(np.abs(step[::4]), contrast, NOISE_STEPS)


def noise_raised(frame: np.ndarray, contrast: float) -> bool:
    """Whether the frame's noise raises the cheap look's threshold over `contrast`
    (white noise of about 20 HU and more): measured on the rows `step_level` reads."""
    if frame.ndim != 2 or frame.shape[1] < 2:
        return False
    rows = frame[:: 4 * ROW_STEP]
    rows = rows.astype(np.int32) if rows.dtype.kind in "iu" else rows.astype(np.float32)
    return step_level(rows[:, 1:] - rows[:, :-1], contrast) > contrast


def packed(mask: np.ndarray) -> np.ndarray:
    """A boolean mask's rows as 64-bit words, column c in bit c % 64 of word c // 64
    (zeros past the last column): the cheap look's passes move an eighth of the bytes of
    booleans, and a window's count is one population count."""
    bits = np.packbits(mask, axis=1, bitorder="little")
    spare = -bits.shape[1] % 8
    if spare:
        bits = np.pad(bits, ((0, 0), (0, spare)))
    return bits.view("<u8")


def looking_right(words: np.ndarray, reach: int) -> np.ndarray:
    """Each column's bit taken from `reach` (1 to 63) columns to its right."""
    seen = words >> np.uint64(reach)
    seen[:, :-1] |= words[:, 1:] << np.uint64(64 - reach)
    return seen


def looking_left(words: np.ndarray, reach: int) -> np.ndarray:
    """Each column's bit taken from `reach` (1 to 63) columns to its left (0 at the first)."""
    seen = words << np.uint64(reach)
    seen[:, 1:] |= words[:, :-1] >> np.uint64(64 - reach)
    return seen


def step_threshold(step: np.ndarray, contrast: float) -> float | int:
    """`contrast` as integer differences compare with it: an integer is steeper than
    `contrast` when it is steeper than its floor, and a float threshold would have
    numpy cast every difference to a float first (seven times the cost)."""
    if step.dtype.kind not in "iu" or contrast < 0:
        return contrast
    return min(math.floor(contrast), int(np.iinfo(step.dtype).max))


def over_noise(magnitudes: np.ndarray, contrast: float, times: float) -> float:
    """`contrast`, or `times` the median of `magnitudes` (steps or lifts, all 0 or more)
    where that is more: noise that chance lifts past `contrast`. Flat pixels count: an
    image of text on black has edges only at its letters, whose median must not hide
    them. A count settles most frames, whose noise is far below `contrast`; numpy's
    median is slow on so many equal values, and integers take a histogram's."""
    if 2 * np.count_nonzero(magnitudes > step_threshold(magnitudes, contrast / times)) <= (
        magnitudes.size
    ):
        return contrast
    if magnitudes.dtype.kind == "f":
        return max(contrast, times * float(np.median(magnitudes)))
    middle = np.searchsorted(np.cumsum(np.bincount(magnitudes.ravel())), magnitudes.size / 2)
    return max(contrast, times * float(middle))


def stem_ends(mask: np.ndarray) -> np.ndarray:
    """Where a stroke that runs down STEM_ROWS rows read (leaning by a column at most,
    as italics do) ends: the rows read (`packed`), a bit set at a stem's last row."""
    leaning = mask | looking_left(mask, 1) | looking_right(mask, 1)
    running = mask[STEM_ROWS - 1 :].copy()
    for above in range(1, STEM_ROWS):
        running &= leaning[STEM_ROWS - 1 - above : mask.shape[0] - above]
    ends = np.zeros_like(mask)
    ends[STEM_ROWS - 1 : -1] = running[:-1] & ~leaning[STEM_ROWS:]
    return ends


def baseline_counts(ends: np.ndarray, windows: int) -> np.ndarray:
    """Stems ending in each row read (or the next), per span of two WINDOWs of columns:
    the first `windows` windows' population counts."""
    near = ends.copy()
    near[:-1] |= ends[1:]
    per_window = np.bitwise_count(by_window(near, windows)).astype(np.int16)
    spans = per_window.copy()
    spans[:, :-1] += per_window[:, 1:]
    return spans


def by_window(words: np.ndarray, windows: int) -> np.ndarray:
    """The `packed` rows cut into their first `windows` WINDOWs of columns (rows, windows)."""
    return words.view("<u4")[:, :windows]


def candidate_regions(frame: np.ndarray, contrast: float = STROKE_CONTRAST) -> list[Region]:
    """The cheap look: boxes of `frame` over rows of stems that end on one baseline, in
    reading order; [] for most frames."""
    if frame.ndim != 2 or min(frame.shape) < 2 * WINDOW:
        return []
    mask, faint = stroke_masks(frame, contrast)
    windows = -(-(frame.shape[1] - 2) // WINDOW)  # a stroke's first edge, not the last two
    ends = stem_ends(mask)
    spans = baseline_counts(ends, windows)
    around = np.zeros_like(spans)
    around[BASELINE_GAP:] = spans[:-BASELINE_GAP]
    np.maximum(around[:-BASELINE_GAP], spans[BASELINE_GAP:], out=around[:-BASELINE_GAP])
    stems = spans >= BASELINE_STEMS
    window_busy = by_window(mask, windows) != 0
    # A baseline is a peak: stems end on it, not in the rows a few pixels off (lungs).
    # Or nothing stands under it: a serif date's strokes end at mid-height as often as
    # on its feet, and over a band's quiet air that is no lung either.
    found = np.argwhere(stems & ((spans >= 2 * around) | quiet_below(window_busy)))
    regions = merged_regions(frame.shape, window_busy, found, spans) if len(found) else []
    # Strokes where nothing else stands, on no baseline: a thin word's broken stems.
    # Marked at a lower threshold too (where the noise allows), as a thin face's +150 HU
    # strokes over air stand only part of a pixel wide; but in noisier air (a table's)
    # the lower one marks noise round a word, which then stands alone at the plain one.
    rows, columns = frame.shape
    lone: list[Region] = []
    for strokes in (mask,) if faint is mask else (mask, faint):
        for top, bottom, left, right, cells in lone_windows(
            np.bitwise_count(by_window(strokes, windows)), ROW_STEP, WINDOW
        ):
            window = Region(top, min(bottom, rows), left, min(right, columns), cells)
            if not any(window.overlaps(region) for region in regions + lone):
                lone.append(window)
    if not lone:
        return regions
    return sorted(regions + lone, key=lambda region: (region.top, region.left))


def quiet_below(window_busy: np.ndarray) -> np.ndarray:
    """For each row read and span of two windows: no stroke in the QUIET_BELOW rows read
    under it (False for the rows too near the frame's foot to tell)."""
    span_busy = window_busy.copy()
    span_busy[:, :-1] |= window_busy[:, 1:]
    told = len(span_busy) - QUIET_BELOW  # rows with QUIET_BELOW rows read under them
    quiet = np.zeros_like(span_busy)
    quiet[:told] = ~np.logical_or.reduce(
        [span_busy[down : told + down] for down in range(1, QUIET_BELOW + 1)]
    )
    return quiet


def text_regions(frame: np.ndarray, contrast: float = STROKE_CONTRAST) -> list[Region]:
    """Boxes of `frame` (its own rows and columns) around lines of characters: the cheap
    look's candidates that the closer look (`character_lines`) confirms; in a frame
    whose noise raised the cheap look's threshold, the lines that stand alone in the
    frame averaged down a few rows (`noisy_text`); lines of one exact value; and lines
    written up or down the frame along its sides (`turned_lines`)."""
    found = stroke_lines(frame, contrast)
    noisy = noise_raised(frame, contrast)
    if noisy:
        found += noisy_lines(frame, contrast, found)
    # Text of one exact value whose strokes the closer look lost (dark letters over a
    # lung's air): boxed from its flat cores, where no line found already covers it.
    # Covers, not touches: the closer look may find three digits at the end of a date
    # ("0-07", read as safe) whose other digits only the flat cores saw. And letters
    # too big for either look (a banner's), from the frame halved; and lines that run
    # up or down the frame, which no look along its rows sees.
    for top, bottom, left, right, count in flat_lines(
        frame, contrast, MIN_CHARACTER_HEIGHT, MAX_TEXT_HEIGHT
    ) + large_flat_lines(frame, contrast, MAX_TEXT_HEIGHT):
        if not any(covers(line, (top, bottom, left, right)) for line in found):
            found.append(Region(top, bottom, left, right, count))
    # Text in a scanner's padding, darker than it and clipped to the stored floor, where
    # nothing else was found: its islands, looked at as a mask at full contrast. And
    # lines written up or down the frame along its sides, which only the flat cores of
    # letters 16 px or taller showed (`turned_lines`); not in a frame whose noise raised
    # the cheap look's threshold, where a side's strip is half quiet padding outside the
    # field of view and half noisy air, and the strip's own thresholds let the air's
    # grain stand as lines (3 of 300 clean slices under a standard kernel's 40 HU).
    if not found and PADDING_TEXT:
        mask = padding_mask(frame, MAX_TEXT_HEIGHT, contrast)
        if mask is not None:
            found = stroke_lines(mask, contrast)
    if TURNED_SIDES and not noisy:
        found += turned_lines(frame, contrast)
    return found


def air_level(frame: np.ndarray) -> float:
    """The frame's air: where a scanner clipped it at its floor, that value (over a
    padding stored under it: `stored_floors`); else the 2nd percentile of the values
    (every fourth row and column) in the circle the frame's sides bound. Outside that
    circle a scanner stores its padding, which the bench's phantoms store noisy and
    lower than any air: taken for the air, every candidate over real air was left."""
    sample = frame[::4, ::4]
    sample = sample[inscribed(sample.shape)]
    floors = stored_floors(sample)
    if floors:
        return float(floors[-1])
    return float(np.percentile(sample, 2)) if sample.size else float(frame.min())


@cache
def inscribed(shape: tuple[int, ...]) -> np.ndarray:
    """The pixels of a frame of this shape inside the circle its shorter sides bound."""
    rows, columns = np.indices(shape[:2])
    middle_row, middle_column = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    radius = min(shape[:2]) / 2
    inside = (rows - middle_row) ** 2 + (columns - middle_column) ** 2 <= radius**2
    inside.flags.writeable = False  # one array for every frame of the shape
    return inside


def turned_lines(frame: np.ndarray, contrast: float) -> list[Region]:
    """Lines written up or down the frame along its sides (`turned_text`), found by the
    closer look on each side turned, where they stand on air, white or a label, each
    boxed twice: turned as the look saw it, and the other way up (a line written down
    the frame stands upside down in the view that found it; OCR reads both)."""
    air, per_hounsfield = air_level(frame), contrast / STROKE_CONTRAST
    ground = (air + TURNED_GROUND * per_hounsfield, air + TURNED_WHITE * per_hounsfield)

    def look(view: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        # Without the passes for letters among structures: a side's text stands on air
        # or a label, and those passes cost a third more for one line of 80 (seed 42).
        lines = stroke_lines(view, contrast, among=False, ground=ground)
        return [(line.top, line.bottom, line.left, line.right, line.stems) for line in lines]

    lines = side_lines(frame, look)
    lengths = joined_lengths([line[:4] for line in lines])
    return [
        Region(
            top,
            bottom,
            left,
            right,
            count,
            doubtful=length < TURNED_ASPECT * (right - left),
            turn=way,
        )
        for (top, bottom, left, right, count, turn), length in zip(lines, lengths, strict=True)
        for way in (turn, -turn)
    ]


def joined_lengths(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """For each box of a line running down the frame, the length (rows) of the line it is
    part of: boxes that share half the narrower's columns and lie within TURNED_GAP of
    their widths of each other along the rows, joined through others. A line broken
    into words or pieces is as long as its whole."""
    group = list(range(len(boxes)))

    def root(index: int) -> int:
        while group[index] != index:
            index = group[index]
        return index

    for first, (top, bottom, left, right) in enumerate(boxes):
        for second in range(first + 1, len(boxes)):
            o_top, o_bottom, o_left, o_right = boxes[second]
            narrower = min(right - left, o_right - o_left)
            shared = min(right, o_right) - max(left, o_left)
            gap = max(o_top - bottom, top - o_bottom)
            if shared >= narrower / 2 and gap <= TURNED_GAP * max(right - left, o_right - o_left):
                group[root(second)] = root(first)
    spans: dict[int, tuple[int, int]] = {}
    for index, (top, bottom, _, _) in enumerate(boxes):
        above, below = spans.get(root(index), (top, bottom))
        spans[root(index)] = (min(above, top), max(below, bottom))
    return [spans[root(index)][1] - spans[root(index)][0] for index in range(len(boxes))]


def covers(line: Region, box: tuple[int, int, int, int]) -> bool:
    """Whether a line found covers a flat box (top, bottom, left, right) along the way the
    box runs, to within two of its letters (the flat box is a letter wider each way than
    its line), and shares its rows (its columns, for a box that runs down the frame)."""
    top, bottom, left, right = box
    along = (line.top, line.bottom, line.left, line.right)
    if bottom - top > right - left:  # a line turned a quarter: compared column for row
        top, bottom, left, right = left, right, top, bottom
        along = (line.left, line.right, line.top, line.bottom)
    above, below, start, end = along
    reach = 2 * (bottom - top)
    return top < below and bottom > above and start <= left + reach and end >= right - reach


def stroke_lines(
    frame: np.ndarray,
    contrast: float,
    among: bool = True,
    ground: tuple[float, float] | None = None,
) -> list[Region]:
    """The lines of characters the closer look confirms in the cheap look's candidates;
    `among`: with its passes for letters among structures (apart from the stronger ones
    they touch, and from a metal's streaks); `ground`: only candidates that stand mostly
    under its first value or over its second, or on exact values (`on_the_ground`)."""
    found = []
    # Every candidate: a faint line in a corner may have fewer stems than a lung's
    # chance baselines, and a bound on their number once let such a line go unread.
    candidates = candidate_regions(frame, contrast)
    if ground is not None:
        candidates = [box for box in candidates if on_the_ground(frame, box, ground)]
    crops = merged_crops(candidates)
    metals = metal_in(frame, contrast, STROKE_CONTRAST) if crops and among else []
    rows, columns = frame.shape
    field: np.ndarray | None = None  # the metals' streak field, drawn where first needed
    for (above, below, start, end), members in crops:
        sides = (above == 0, below >= rows, start == 0, end >= columns)
        pixels = frame[above:below, start:end]
        lines = character_lines(
            pixels, contrast, metals=metals, at=(above, start), frame_sides=sides, weak=among
        )
        if lines and metals and STREAK_FIELD:
            if field is None:
                field = streak_field(frame, metals, stored_floors(frame[::2, ::2]))
            lines = off_the_field(pixels, field[above:below, start:end], contrast, lines)
        if lines and metals and OWN_CROPS and len(members) > 1:
            lines = in_own_crops(frame, contrast, metals, (above, start), lines, members)
        found += [
            Region(above + top, above + bottom, start + left, start + right, count)
            for top, bottom, left, right, count in lines
        ]
    return found


Crop = tuple[int, int, int, int]  # top, bottom, left, right of a frame (ends exclusive)


def on_the_ground(frame: np.ndarray, box: Region, ground: tuple[float, float]) -> bool:
    """Whether GROUND_SHARE of a candidate's pixels (every other row's) lie under
    `ground`'s first value or over its second (white letters), or its crop stands on
    exact values (`flat_ground`: a label's box)."""
    pixels = frame[box.top : box.bottom : 2, box.left : box.right]
    if not pixels.size:
        return False
    low, high = ground
    outside = np.count_nonzero(pixels < low) + np.count_nonzero(pixels > high)
    return bool(outside >= GROUND_SHARE * pixels.size) or flat_ground(pixels)


def merged_crops(candidates: list[Region]) -> list[tuple[Crop, list[Crop]]]:
    """The crops the closer look takes: each candidate with its margins (half its height
    above and below, half a WINDOW each side), overlapping ones merged into one crop;
    with each crop, its members' own crops."""
    crops: list[tuple[list[int], list[Crop]]] = []
    for candidate in candidates:
        box = margined(
            (candidate.top, candidate.bottom, candidate.left, candidate.right), candidate.height
        )
        for crop, members in crops:
            if boxes_meet(box, (crop[0], crop[1], crop[2], crop[3])):
                crop[:] = [
                    min(box[0], crop[0]),
                    max(box[1], crop[1]),
                    min(box[2], crop[2]),
                    max(box[3], crop[3]),
                ]
                members.append(box)
                break
        else:
            crops.append((list(box), [box]))
    return [((crop[0], crop[1], crop[2], crop[3]), members) for crop, members in crops]


def in_own_crops(
    frame: np.ndarray,
    contrast: float,
    metals: list[Metal],
    at: tuple[int, int],
    lines: list[Blob],
    members: list[Crop],
) -> list[Blob]:
    """The `lines` of a merged crop (its top left corner `at`) that also stand in their
    own crop: the line with a candidate's margins, and the `members` it crosses
    (`merged_crops`), as a crop merged from those alone would be. In a frame with metal,
    a crop merged from many candidates spans streaks and anatomy far from a line, and its
    thresholds and margins are measured over all of it; a line of text stands in its own
    crop too. A line that crosses every member is its own crop's already."""
    rows, columns = frame.shape
    looked: dict[Crop, list[Crop]] = {}  # the lines of each own crop looked at
    kept = []
    for line in lines:
        box = (at[0] + line[0], at[0] + line[1], at[1] + line[2], at[1] + line[3])
        crossed = [member for member in members if boxes_meet(box, member)]
        if len(crossed) == len(members):
            kept.append(line)
            continue
        own = union([margined(box, box[1] - box[0]), *crossed], rows, columns)
        if own not in looked:
            top, bottom, left, right = own
            sides = (top == 0, bottom >= rows, left == 0, right >= columns)
            crop = frame[top:bottom, left:right]
            looked[own] = [
                (top + found[0], top + found[1], left + found[2], left + found[3])
                for found in character_lines(crop, contrast, metals, (top, left), frame_sides=sides)
            ]
        if any(boxes_meet(box, found) for found in looked[own]):
            kept.append(line)
    return kept


def margined(box: Crop, height: int) -> Crop:
    """A box with the closer look's margins: half `height` above and below, half a
    WINDOW each side (clipped at the frame's top and left only)."""
    top, bottom, left, right = box
    return (
        max(0, top - height // 2),
        bottom + height // 2,
        max(0, left - WINDOW // 2),
        right + WINDOW // 2,
    )


def union(boxes: list[Crop], rows: int, columns: int) -> Crop:
    """The smallest box round all `boxes`, within a frame of `rows` and `columns`."""
    return (
        min(box[0] for box in boxes),
        min(rows, max(box[1] for box in boxes)),
        min(box[2] for box in boxes),
        min(columns, max(box[3] for box in boxes)),
    )


def boxes_meet(one: Crop, other: Crop) -> bool:
    """Whether two boxes (top, bottom, left, right; ends exclusive) share a pixel."""
    return one[0] < other[1] and one[1] > other[0] and one[2] < other[3] and one[3] > other[2]


def off_the_field(
    crop: np.ndarray, field: np.ndarray, contrast: float, lines: list[Blob]
) -> list[Blob]:
    """The `lines` of `crop` that are not its metal's streaks' (`streak_field`): of the
    letter pixels in a line's box (of the polarity with more of them there), EXPLAINED or
    more still stand over their threshold once the streaks' `field` is taken away."""
    polarities = character_pixels(crop, contrast)
    relieved = lifts(crop.astype(np.float32) - field)[:2]
    kept = []
    for line in lines:
        top, bottom, left, right, _ = line
        letters, lift, threshold = max(
            (
                (
                    strokes.letters[top:bottom, left:right],
                    lifted[top:bottom, left:right],
                    strokes.contrast,
                )
                for strokes, lifted in zip(polarities, relieved, strict=True)
            ),
            key=lambda polarity: int(np.count_nonzero(polarity[0])),
        )
        if not letters.any() or np.mean(lift[letters] > threshold) >= EXPLAINED:
            kept.append(line)
    return kept


def noisy_lines(frame: np.ndarray, contrast: float, found: list[Region]) -> list[Region]:
    """Lines of characters in `frame` averaged down a few rows (`noisy_text`), apart
    from those `found` already, that stand alone: a noisy CT's +150 HU letters stand
    whole there, and a lung's edges line up as letters. Averaged down NOISY_ROWS, and
    where that finds no line alone, MORE_NOISY_ROWS; a short line there with no more
    steps along its rows than beside them is doubtful (`noisy_text.steps_along`)."""
    metals = metal_in(frame, contrast, STROKE_CONTRAST)
    streaked = (frame, metals) if metals and STREAK_COMBS else None
    alone = averaged_lines(averaged_down(frame), contrast, found, streaked)
    if alone or not MORE_NOISY_ROWS:
        return alone
    averaged = averaged_down(frame, MORE_NOISY_ROWS)
    return [
        replace(line, doubtful=True)
        if line.stems <= FEW_CHARACTERS
        and steps_along(averaged, (line.top, line.bottom, line.left, line.right)) <= ALONG_ROWS
        else line
        for line in averaged_lines(averaged, contrast, found, streaked)
    ]


def averaged_lines(
    averaged: np.ndarray,
    contrast: float,
    found: list[Region],
    streaked: tuple[np.ndarray, list[Metal]] | None = None,
) -> list[Region]:
    """The lines of `averaged` (a frame averaged down its columns) apart from those
    `found` already, that stand alone (`noisy_text.stands_alone`), and, where the frame
    has metal (`streaked`: the frame as it is, and its metals), off its streaks."""
    # Letters apart from the structures they touch stand among structures, whose ring
    # is refused: without those passes the same 81 of 1,200 texts at 30 HU were
    # released, and the look cost 4/5 as much.
    lines = [
        line
        for line in stroke_lines(averaged, contrast, among=False)
        if not any(line.overlaps(other) for other in found)
    ]
    alone = []
    for index, line in enumerate(lines):
        # The ring is judged in a crop a line's height wider each way (clipped).
        top, left = max(0, line.top - line.height), max(0, line.left - line.height)
        crop = averaged[top : line.bottom + line.height, left : line.right + line.height]
        bright, dark = character_pixels(crop, contrast)
        boxes = [
            (other.top - top, other.bottom - top, other.left - left, other.right - left)
            for other in lines
        ]
        beside = boxes[:index] + boxes[index + 1 :]
        letters = bright.letters | dark.letters
        if stands_alone(letters, boxes[index], beside) and not (
            streaked
            and on_a_streak(
                *streaked, line, letters[line.top - top :, line.left - left :], contrast
            )
        ):
            alone.append(line)
    return alone


def on_a_streak(
    frame: np.ndarray, metals: list[Metal], line: Region, letters: np.ndarray, contrast: float
) -> bool:
    """Whether over STREAKED_SHARE of a line's letter pixels (`letters`, from the line's
    top left corner on) lie on a metal's streak, as the frame shows it (not averaged):
    averaged down, a shallow streak across the air breaks into a comb of short stems
    that lines up as letters, where a streak across a line of text leaves most of its
    letters off it. The streaks are followed in a crop STREAK_RUN wider each way (a
    streak is a run that long), and taken as reaching the rows the averaging smears."""
    top, left = max(0, line.top - STREAK_RUN), max(0, line.left - STREAK_RUN)
    crop = frame[top : line.bottom + STREAK_RUN, left : line.right + STREAK_RUN]
    polarities = character_pixels(crop, contrast)
    lifts = streak_lift(
        tuple(strokes.lifted for strokes in polarities),
        tuple(strokes.contrast for strokes in polarities),
        metals,
        top,
        left,
    )
    on = np.zeros(crop.shape, bool)
    for lift in lifts:
        if lift is not None:
            on |= lift > 0
    if not on.any():
        return False
    smear = np.ones((2 * (MORE_NOISY_ROWS // 2) + 1, 1), np.uint8)
    on = cv2.dilate(on.view(np.uint8), smear).view(bool)
    box = letters[: line.height, : line.right - line.left]
    near = on[line.top - top : line.bottom - top, line.left - left : line.right - left]
    return bool(np.count_nonzero(box & near) > STREAKED_SHARE * np.count_nonzero(box))


@dataclass(frozen=True, slots=True)
class Strokes:
    """Thin strokes of one polarity in a crop: how far each pixel stands from its
    surround (`lifted`), the pixels a letter is made of (`letters`, over `contrast`),
    and how far a letter's part-covered edge row stands (`faint`: `faint_edges`).
    `labelled`: the letters' blobs (labels and boxes, `blob_boxes`) where they are
    labelled already, as `weak_letters` does."""

    lifted: np.ndarray
    letters: np.ndarray
    contrast: float
    faint: float = math.inf
    labelled: tuple[np.ndarray, np.ndarray] | None = None
    values: np.ndarray | None = None  # the crop's, as the filters saw them
    sign: int = 1  # -1 for dark strokes: how `values` turn to stand above their ground
    # Whether the crop's top and bottom rows cut through the frame (not its own edges):
    # blobs a cut row crosses all end on it, as a line's letters do on their baseline.
    cut_rows: tuple[bool, bool] = (False, False)

    def of_structures(self) -> np.ndarray:
        """Stroke pixels as parts of whole structures: farther than STROKE_SHARE of the
        strongest of the blob they make. A vessel's faint tail belongs to the vessel, so
        the margins of a line are judged on these: a faint line over a lung stands out
        from the vessels, not from their tails."""
        inside = self.lifted > self.contrast
        count, found = cv2.connectedComponents(inside.view(np.uint8), connectivity=4)
        if count < 2:
            return inside
        labels = np.asarray(found, dtype=np.int32)
        strongest = np.zeros(count, dtype=np.float32)
        np.maximum.at(strongest, labels[inside], self.lifted[inside])  # blob pixels: few
        return self.lifted > np.maximum(self.contrast, STROKE_SHARE * strongest[labels])


def character_pixels(crop: np.ndarray, contrast: float) -> tuple[Strokes, Strokes]:
    """Thin bright strokes and thin dark ones: pixels farther than `contrast` from what
    an opening (or closing) wider than a stroke leaves, across or along the row."""
    values = compact_values(crop)
    above, below, lowest = lifts(values)
    # Over noise, a pixel stands farther from its surround by chance: as far as the
    # crop's median NOISE_LIFT times over. Not counting a scanner's padding, where no
    # pixel is lifted: half a crop of it hid 19 HU of noise in the air beside it.
    noisy = noisy_pixels(values)
    if noisy is not None:
        above_noise, below_noise = above[noisy], below[noisy]
    else:
        above_noise, below_noise = above, below
    bright, dark = (
        over_noise(lifted, contrast, NOISE_LIFT) for lifted in (above_noise, below_noise)
    )
    # A letter's faint edge row stands over half `contrast`, and over the noise as its
    # letters do: in a noisy crop, where chance lifts pixels past half the threshold
    # everywhere, no blob grows (a grown row would be noise, and chance lines align).
    # The noise of every other row and column: a median of a quarter of the pixels
    # moves by a step or less (1 HU, times NOISE_LIFT), at a quarter of the cost.
    faint = [
        over_noise(
            lifted[::4] if noisy is not None else lifted[::2, ::2],
            FAINT_SHARE * contrast,
            NOISE_LIFT,
        )
        for lifted in (above_noise, below_noise)
    ]
    # Or of the pixels off air a scanner clipped at its floor, where more: clipping hides
    # noise, and never makes it (`off_the_floor`).
    unclipped = off_the_floor(values, lowest)
    if unclipped is not None:
        faint = [
            max(level, over_noise(lifted[unclipped], FAINT_SHARE * contrast, NOISE_LIFT))
            for level, lifted in zip(faint, (above, below), strict=True)
        ]
    return (
        Strokes(above, letter_parts(above, bright), bright, faint[0], None, values, 1),
        Strokes(below, letter_parts(below, dark), dark, faint[1], None, values, -1),
    )


def lifts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far each pixel stands over what an opening wider than a stroke leaves, across
    or along the row (`above`), and under what a closing leaves (`below`); and the lower
    opening, the ground bright strokes stand on."""
    opened = [running(running(values, axis, np.minimum), axis, np.maximum) for axis in (1, 0)]
    closed = [running(running(values, axis, np.maximum), axis, np.minimum) for axis in (1, 0)]
    # An opening never exceeds the values, nor a closing falls below them: the farthest
    # lift over the two directions is from the lower opening (the higher closing).
    lowest = np.minimum(*opened)
    return values - lowest, np.maximum(*closed) - values, lowest


def noisy_pixels(values: np.ndarray) -> np.ndarray | None:
    """Where a crop on ground of exact values (`flat_ground`) is not: the pixels unequal to
    either neighbour along their row, if they are NOISE_SAMPLE of the crop or more; None
    for a crop whose noise is measured on every pixel (most, and a label's, whose letters
    would be most of what is left)."""
    if not flat_ground(values):
        return None
    exact = np.zeros(values.shape, bool)
    exact[:, 1:-1] = (values[:, 1:-1] == values[:, :-2]) & (values[:, 1:-1] == values[:, 2:])
    noisy = ~exact
    return noisy if np.count_nonzero(noisy) >= NOISE_SAMPLE * noisy.size else None


def off_the_floor(values: np.ndarray, opened: np.ndarray) -> np.ndarray | None:
    """Every other row's pixels, of a crop with air stored at one value at its bottom
    (clipped there: `stored_floors`), whose surround (`opened`: the lower opening) stays
    over that value: None for other crops, or where too few are left.
    Clipping cuts short the noise of the air just over the floor, and measured with it
    the faint threshold of a crop over tissue and such air fell from about 57 HU to
    30: grains of the tissue's noise then grew into letters (session 46, six of 300
    clean slices with half their air at -1,024 HU). The letters of a label on a
    screen's black never count: their opening is the black."""
    floors = stored_floors(values[::4])
    if not floors:
        return None
    floor = floors[-1]  # the air's, where padding is stored under it
    unclipped = np.zeros(values.shape, bool)
    unclipped[::2] = opened[::2] > floor
    return unclipped if np.count_nonzero(unclipped) >= FLOOR_FREE * values.size else None


def flat_ground(values: np.ndarray) -> bool:
    """Whether a crop stands mostly on ground of exact values (a renderer's label box,
    a screen's black, a scanner's padding), where no noise is: FLAT_GROUND or more of
    the neighbours along every fourth row are equal (a CT's noise of 8 HU makes about
    4 %; at most 0.036 on the bench's clean crops). There a thin letter's anti-aliased
    edge is the letter, not a halo."""
    rows = values[::4]
    return bool(np.count_nonzero(rows[:, 1:] == rows[:, :-1]) >= FLAT_GROUND * rows[:, 1:].size)


def compact_values(crop: np.ndarray) -> np.ndarray:
    """The crop as 16-bit integers where its values span less than their range (a CT's
    do), so each pass of the filters moves half the bytes of float32; float32 else. A
    shift by the crop's minimum changes no difference between its pixels."""
    if crop.dtype.kind in "iu" and crop.size:
        low, high = int(crop.min()), int(crop.max())
        limit = np.iinfo(np.int16).max
        if high - low <= limit:
            if crop.dtype.itemsize <= 2 and low >= -limit - 1 and high <= limit:
                return crop.astype(np.int16, copy=False)
            return (crop - low).astype(np.int16)
    return crop.astype(np.float32)


def running(
    values: np.ndarray, axis: int, extreme: np.ufunc, reach: int = MAX_STROKE_WIDTH
) -> np.ndarray:
    """The minimum (or maximum) of each window of 2 * `reach` + 1 pixels along `axis`,
    centred, mirrored at the edges as scipy's is: a grey erosion (or dilation) by a
    line. OpenCV's, several times faster than scipy's or than numpy passes over the
    crop, on the 16-bit integers and floats `compact_values` gives."""
    kernel = np.ones((1, 2 * reach + 1) if axis == 1 else (2 * reach + 1, 1), np.uint8)
    filtered = cv2.erode if extreme is np.minimum else cv2.dilate
    return filtered(values, kernel, borderType=cv2.BORDER_REFLECT)


def letter_parts(lifted: np.ndarray, contrast: float, share: float = STROKE_SHARE) -> np.ndarray:
    """Pixels farther than `contrast` from their surround, and farther than `share`
    (STROKE_SHARE; FLAT_STROKE_SHARE on ground of exact values) of the strongest within
    HALO pixels: anti-aliased letters of full contrast have halos steeper than
    `contrast`, which would join them. The strongest is looked for nearby, not over a
    whole blob: a faint letter that touches a vessel four times as strong keeps all but
    its pixels beside the vessel."""
    square = np.ones((2 * HALO + 1, 2 * HALO + 1), np.uint8)  # OpenCV runs it row, column
    nearby = cv2.dilate(lifted, square, borderType=cv2.BORDER_REFLECT)
    return lifted > np.maximum(contrast, share * nearby.astype(np.float32))


def character_lines(
    crop: np.ndarray,
    contrast: float,
    metals: list[Metal] | None = None,
    at: tuple[int, int] = (0, 0),
    frame_sides: tuple[bool, bool, bool, bool] = (True, True, True, True),
    weak: bool = True,
) -> list[tuple[int, int, int, int, int]]:
    """Lines of character-shaped blobs in `crop`, bright or dark: at least LINE_CHARACTERS
    of them of one height, standing on one baseline (±2 pixels), each within a
    character's gap of the next. Returns (top, bottom, left, right, characters) per line.
    Letters weaker than the structures they touch are looked at apart too (`weak_letters`;
    not where `weak` is False), and letters apart from the streaks of `metals` in the
    frame, the crop standing at row and column `at` of it (`streaks`); and words of
    broken letters where nothing else stands (`lone_words`; `frame_sides`: which of the
    crop's top, bottom, left and right are the frame's edges)."""
    lines = []
    cut_rows = (not frame_sides[0], not frame_sides[1])
    bright, dark = character_pixels(crop, contrast)
    polarities = (replace(bright, cut_rows=cut_rows), replace(dark, cut_rows=cut_rows))
    streaks: list[np.ndarray | None] = [None] * len(polarities)
    if metals:
        streaks = streak_lift(
            tuple(strokes.lifted for strokes in polarities),
            tuple(strokes.contrast for strokes in polarities),
            metals,
            *at,
        )
    flat = flat_ground(crop)
    for strokes, streak, other in zip(polarities, streaks, polarities[::-1], strict=True):
        found = lines_of_blobs(strokes)
        if flat:
            # On ground of exact values a thin letter's anti-aliased edge is the letter:
            # looked at again with a lower halo share. Not instead: a bold letter's
            # halo there joins its neighbours (3 of 300 labels' texts lost so).
            thin = letter_parts(strokes.lifted, strokes.contrast, FLAT_STROKE_SHARE)
            found += [
                line
                for line in lines_of_blobs(replace(strokes, letters=thin, labelled=None))
                if line not in found
            ]
        freed = weak_letters(strokes.letters, strokes.lifted, strokes.contrast) if weak else None
        if freed is not None and frees_a_letter(freed):
            apart = lines_of_blobs(
                replace(strokes, letters=freed.letters, labelled=(freed.labels, freed.boxes)),
                apart=True,
            )
            found += [line for line in apart if line not in found]
        if streak is not None and OFF_STREAKS:  # no comb along a streak
            found = [line for line in found if off_streaks(strokes.letters, streak, line)]
        if streak is not None:
            # The streaks' lift taken away, from the margins too: a streak beside a line
            # is no letter of it, and a letter crossing one keeps its own lift.
            lifted = np.maximum(strokes.lifted - streak, 0)
            unstreaked = replace(
                strokes, lifted=lifted, letters=letter_parts(lifted, strokes.contrast)
            )
            found += [
                line
                for line in lines_of_blobs(unstreaked, apart=True)
                if line not in found
                and line[1] - line[0] <= STREAKED_TALLEST
                and beyond_fans(line, metals or [], *at)
                and off_streaks(unstreaked.letters, streak, line)
            ]
        if crop.size <= LONE_CROP:
            found += [
                line
                for line in lone_words(strokes.letters, frame_sides, other.letters)
                if line not in found
            ]
        if metals and FROM_METAL:
            # Either polarity's blobs: a fan's bright and dark streaks alternate, and a
            # line of the bright pieces between dark ones is the dark ones' too.
            found = [
                line
                for line in found
                if not any(
                    points_at_metal(
                        polarity.letters[line[0] : line[1], line[2] : line[3]],
                        metals,
                        at[0] + line[0],
                        at[1] + line[2],
                    )
                    for polarity in polarities
                )
            ]
        lines += found
    if weak and crop.size <= GROWN_CROP:
        lines += grown_lines(polarities, lines)
    return lines


def grown_lines(polarities: tuple[Strokes, Strokes], found: list[Blob]) -> list[Blob]:
    """Lines that only the letters grown through their faint pixels make (`grown_letters`)
    and that stand alone (`noisy_text.stands_alone`), beside those `found`: a thin face's
    +150 HU strokes broken into specks over a corner's air."""
    grown: list[Blob] = []
    for strokes in polarities:
        if not math.isfinite(strokes.faint):
            continue
        faint = max(FAINT_SHARE * strokes.contrast, strokes.faint)
        letters = grown_letters(strokes.letters, letter_parts(strokes.lifted, faint))
        if letters is None:
            continue
        grown += [
            line
            for line in lines_of_blobs(replace(strokes, letters=letters, labelled=None))
            if line not in found and line not in grown
        ]
    if not grown:
        return []
    structures = polarities[0].letters | polarities[1].letters
    boxes = [line[:4] for line in found + grown]
    alone = []
    for index, line in enumerate(grown):
        top, bottom, left, right, _ = line
        # The ring is a line's height wide each way, clipped to the crop.
        height = bottom - top
        above, before = max(0, top - height), max(0, left - height)
        ring = structures[above : bottom + height, before : right + height]
        shifted = [
            (box_top - above, box_bottom - above, box_left - before, box_right - before)
            for box_top, box_bottom, box_left, box_right in boxes
        ]
        own = len(found) + index
        if stands_alone(ring, shifted[own], shifted[:own] + shifted[own + 1 :]):
            alone.append(line)
    return alone


def off_streaks(letters: np.ndarray, streak: np.ndarray, line: Blob) -> bool:
    """Whether most of a line's letter pixels lie off the streaks: a letter a streak
    crosses keeps a few pixels on it, where the comb a wide streak's edges leave when its
    lift is taken away lies on it whole (session 33: a clean lung's chance line)."""
    top, bottom, left, right, _ = line
    box = letters[top:bottom, left:right]
    on = box & (streak[top:bottom, left:right] > 0)
    return bool(on.sum() <= STREAKED_SHARE * box.sum())


def frees_a_letter(freed: Freed) -> bool:
    """Whether letters looked at apart can make a line the first look did not: a blob
    freed from a stronger structure is of a letter's size. Most of a lung's crops free
    only specks and tails (`weak_letters`), and are spared the second look."""
    sized = letter_sized(freed.heights, freed.widths) & (freed.heights >= MIN_CHARACTER_HEIGHT)
    return bool(sized.any())


def aligned_letters(blobs: list[Blob]) -> int:
    """The most blobs that share their bottom (±1 pixel) and their top: within a pixel,
    or a pixel per ALIGNED_SLACK of the letters' height. A vessel across the top of a
    24 px letter moves it by two, and such lines were released; a slack at the bottom
    too made lines of a lung's large vessels (two clean chests of 300 held). Blobs whose
    bottoms share one row exactly may differ by a pixel per ONE_ROW_SLACK at the top."""
    most = 0
    for bottom, top, *_ in blobs:
        slack = max(1, (bottom - top) // ALIGNED_SLACK)
        alike = sum(abs(bottom - b) <= 1 and abs(top - t) <= slack for b, t, *_ in blobs)
        # A renderer sets every foot on one row; a +150 HU letter's faint top row falls
        # under the threshold or not, so its top moves by two or three.
        one_row_slack = max(1, (bottom - top) // ONE_ROW_SLACK)
        on_one_row = sum(bottom == b and abs(top - t) <= one_row_slack for b, t, *_ in blobs)
        most = max(most, alike, min(on_one_row, STANDS_ALONE - 1))
    return most


def same_rows(blobs: list[Blob]) -> bool:
    """Whether LINE_BLOBS of the blobs, SAME_ROWS_HEIGHT or taller, share both their top
    and their bottom row exactly: letters of one font do, and chance almost never does
    (no clean slice of 1,400 compared had such a line)."""
    rows = Counter((bottom, top) for bottom, top, *_ in blobs if bottom - top >= SAME_ROWS_HEIGHT)
    return bool(rows) and max(rows.values()) >= LINE_BLOBS


def quiet_around(
    strokes: np.ndarray, top: int, bottom: int, left: int, right: int, share: float
) -> bool:
    """Whether the margins of a line (above it, below its descenders, and beyond either
    end) are nearly free of character-sized strokes (at most `share` of their pixels),
    as around text and not in lungs: above and below, or on QUIET_SIDES of the four."""
    height = bottom - top
    margins = (
        strokes[max(0, top - max(2, height // 2)) : top, left:right],
        strokes[bottom + height // 3 : bottom + height, left:right],
        strokes[top:bottom, max(0, left - height) : max(0, left - 2)],
        strokes[top:bottom, right + 2 : right + height],
    )
    quiet = [not margin.size or margin.mean() <= share for margin in margins]
    # Above and below is where a line differs from texture; a line may run into
    # anatomy at either end.
    return (quiet[0] and quiet[1]) or sum(quiet) >= QUIET_SIDES


def shaped_blobs(
    strokes: np.ndarray, labelled: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The blobs of `strokes` (or those `labelled` already), their boxes, and which are
    no larger than a letter: a table's edge or a long streak is no letter."""
    labels, boxes = labelled if labelled is not None else blob_boxes(strokes)
    return labels, boxes, letter_sized(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2])


def letter_sized(heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Which blobs (of these heights and widths) are no larger than a letter."""
    return (heights <= MAX_TEXT_HEIGHT) & (widths <= 6 * heights)


def letter_blobs(
    strokes: np.ndarray,
    lifted: np.ndarray | None = None,
    faint: float = math.inf,
    labelled: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[Blob], list[Blob]]:
    """The blobs of a letter's size, left to right (a word of small letters merged into
    one blob, as its letters: `merged_letters`); and the same blobs with their faint top
    and bottom rows (`faint_edges`): pixels `lifted` over `faint` (none given: the same
    boxes)."""
    labels, boxes, shaped = shaped_blobs(strokes, labelled)
    heights, widths = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    letters = shaped & (heights >= MIN_CHARACTER_HEIGHT)
    edged = boxes
    if lifted is not None and math.isfinite(faint) and letters.any():
        edged = boxes.copy()
        ids = np.flatnonzero(letters)
        edged[ids] = with_faint_rows(labels, boxes[ids], ids + 1, lifted, faint)
    found = []
    # A blob half again as wide as tall may be two letters or more.
    for index in np.flatnonzero(letters & (heights <= MERGED_HEIGHT) & (2 * widths >= 3 * heights)):
        top, bottom, left, right = boxes[index].tolist()
        pieces = merged_letters(labels[top:bottom, left:right] == index + 1)
        if len(pieces):
            letters[index] = False
            found.append(pieces + np.array([top, top, left, left]))
    boxes, edged = (np.concatenate([kept[letters], *found]) for kept in (boxes, edged))
    order = np.lexsort((boxes[:, 3], boxes[:, 1], boxes[:, 0], boxes[:, 2]))
    boxes, edged = boxes[order], edged[order]
    heights, widths = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    characters = np.maximum(1, np.round(widths / (0.75 * heights))).astype(np.intp).tolist()
    return as_blobs(boxes, characters), as_blobs(edged, characters)


def as_blobs(boxes: np.ndarray, characters: list[int]) -> list[Blob]:
    """Boxes (top, bottom, left, right) with their characters, as blobs."""
    return [
        (bottom, top, left, right, count)
        for (top, bottom, left, right), count in zip(boxes.tolist(), characters, strict=True)
    ]


def merged_letters(blob: np.ndarray) -> np.ndarray:
    """The letters of one blob (its pixels in its box) as boxes (top, bottom, left,
    right, in the blob's box), by the first of MERGED_CUTS whose pieces align; else
    none. Small letters a pixel apart join through the grey between them, and a line of
    9 px digits on a label was released as one blob. Two of a lung's rings touching cut
    into two, which is no word."""
    columns = np.count_nonzero(blob, axis=0)
    for bridge, aligned in MERGED_CUTS:
        pieces = cut_letters(blob, columns, bridge, aligned)
        if len(pieces):
            return pieces
    return np.empty((0, 4), dtype=np.intp)


def cut_letters(blob: np.ndarray, columns: np.ndarray, bridge: int, aligned: int) -> np.ndarray:
    """The pieces of `blob` (`columns`: its pixels per column) between its columns of
    `bridge` pixels or fewer, if `aligned` of them are letters in a line; else none."""
    solid = np.zeros(len(columns) + 2, dtype=bool)
    solid[1:-1] = columns > bridge
    edges = np.flatnonzero(solid[1:] != solid[:-1])
    if len(edges) < 2 * aligned:  # most of a lung's blobs: one or two pieces
        return np.empty((0, 4), dtype=np.intp)
    pieces = []
    for left, right in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        rows = np.flatnonzero(blob[:, left:right].any(axis=1))
        if rows[-1] + 1 - rows[0] >= MIN_CHARACTER_HEIGHT:
            pieces.append((int(rows[0]), int(rows[-1]) + 1, left, right))
    letters = [(bottom, top, left, right, 1) for top, bottom, left, right in pieces]
    if len(pieces) < aligned or aligned_letters(letters) < aligned:
        return np.empty((0, 4), dtype=np.intp)
    return np.array(pieces, dtype=np.intp)


def blob_heights(strokes: np.ndarray) -> np.ndarray:
    """For each stroke pixel the height of its blob if that is no larger than a letter,
    else 0: the margins are judged on those, as a table's edge or a long streak above a
    line is not what lungs' vessels are."""
    labels, boxes, shaped = shaped_blobs(strokes)
    heights = np.zeros(len(boxes) + 1, dtype=np.int16)  # 0 for the background
    heights[1:][shaped] = (boxes[:, 1] - boxes[:, 0])[shaped]
    return heights[labels]


def line_from(
    blobs: list[Blob], first: int, partners: list[int], gap: float = LETTER_GAP
) -> list[int]:
    """The blobs that stand on the first one's baseline (±2 pixels), of its height (its
    `partners`, left to right), each within `gap` letter heights of the line so far, or
    of a letter between that a vessel or a streak took off the baseline (`carried_to`)."""
    bottom, top, _, reach, _ = blobs[first]
    height, line = bottom - top, [first]
    for other in partners:
        if blobs[other][2] > reach + gap * height:
            reach = carried_to(blobs, first, other, reach, gap)
            if blobs[other][2] > reach + gap * height:
                break  # blobs run left to right: no later one is nearer
        line.append(other)
        reach = max(reach, blobs[other][3])
    return line


def carried_to(blobs: list[Blob], first: int, before: int, reach: int, gap: float) -> int:
    """How far right the line from `first` reaches through the blobs before `before` that
    are letters across its rows (CARRIED_SHARE of a blob's rows in the line's, of the
    line's height or near it) but no partners: their bottom moved off the baseline where a
    vessel or a streak crossed it. A line of +150 HU digits broke at each such letter."""
    bottom, top = blobs[first][0], blobs[first][1]
    height = bottom - top
    shortest, tallest = CARRIED_SHARE * height, LIKE_HEIGHT * height
    for index in range(first + 1, before):
        other_bottom, other_top, left, right, _ = blobs[index]
        if left > reach + gap * height:
            break
        if right <= reach:
            continue
        size = other_bottom - other_top
        if shortest <= size <= tallest and (
            min(other_bottom, bottom) - max(other_top, top) >= CARRIED_SHARE * size
        ):
            reach = right
    return reach


def baseline_partners(blobs: list[Blob], fewest: int) -> dict[int, list[int]]:
    """For each blob with `fewest` or more, the later ones (to its right) that stand on
    its baseline (±2 pixels) at a like height (within LIKE_HEIGHT times): the only blobs a line
    from it can take. Only pairs whose bottoms lie within 2 rows are compared (a crop's
    blobs sorted by bottom): a lung's hundreds of specks made every pair cost, and mostly
    have too few."""
    bottoms = np.array([blob[0] for blob in blobs])
    heights = bottoms - np.array([blob[1] for blob in blobs])
    by_bottom = np.argsort(bottoms, kind="stable")
    sorted_bottoms = bottoms[by_bottom]
    starts = np.searchsorted(sorted_bottoms, bottoms - 2, side="left")
    counts = np.searchsorted(sorted_bottoms, bottoms + 2, side="right") - starts
    firsts = np.repeat(np.arange(len(blobs)), counts)
    offsets = np.arange(len(firsts)) - np.repeat(np.cumsum(counts) - counts, counts)
    others = by_bottom[np.repeat(starts, counts) + offsets]
    first_heights, other_heights = heights[firsts], heights[others]
    taller = np.maximum(first_heights, other_heights)
    like = (others > firsts) & (taller <= LIKE_HEIGHT * np.minimum(first_heights, other_heights))
    firsts, others = firsts[like], others[like]
    order = np.lexsort((others, firsts))
    firsts, others = firsts[order], others[order]
    per_first = np.bincount(firsts, minlength=len(blobs))
    ends = np.cumsum(per_first)
    return {
        int(first): others[ends[first] - per_first[first] : ends[first]].tolist()
        for first in np.flatnonzero(per_first >= fewest)
    }


def lines_tried(blobs: list[Blob], first: int, partners: list[int]) -> list[list[int]]:
    """The line from the first blob, and the longer one that bridges a lost letter or two
    where STANDS_ALONE letters of it align: a +150 HU letter crossed by a vessel breaks
    into pieces no letter's size, and the line once broke in two with it. Only letters of
    BRIDGED_HEIGHT or more bridge: a row of a lung's small specks a gap apart is chance.
    Letters of TALL_LETTER or more bridge where STREAKED_ALIGNED align: a metal streak
    takes whole letters out of a date, and dates with four letters left were released."""
    line = line_from(blobs, first, partners)
    height = blobs[first][0] - blobs[first][1]
    if height < BRIDGED_HEIGHT:
        return [line]
    bridged = line_from(blobs, first, partners, LOST_LETTERS_GAP)
    needed = STREAKED_ALIGNED if height >= TALL_LETTER else STANDS_ALONE
    if len(bridged) > len(line) and aligned_letters([blobs[i] for i in bridged]) >= needed:
        return [line, bridged]
    return [line]


def margin_share(aligned: int, characters: int) -> float:
    """How busy a line's margins may be (stroke pixels per pixel), by how many of its
    letters share both a baseline and a height: the more, the less it can be chance.
    Three letters of few characters (three rings in a lung stand like "ooo") need margins
    nearly empty; five or more stand as text whatever is around them, as a line over a
    lung's vessels does."""
    if aligned >= STANDS_ALONE:
        return 1.0
    if aligned > LINE_BLOBS:
        return BUSY_MARGIN
    return EMPTY_MARGIN if characters < SHORT_LINE else QUIET_MARGIN


Candidate = tuple[int, int, int, int, int, list[int], float]


def line_candidates(blobs: list[Blob], fewest: int = LINE_BLOBS) -> list[Candidate]:
    """Lines of LINE_CHARACTERS or more, of which LINE_BLOBS letters share a baseline and a
    cap or x-height (blobs of chance do not): top, bottom, left, right, characters, the
    blobs, and how busy its margins may be. Only lines of `fewest` blobs or more are
    looked for (a faint line needs more: `faint_lines`)."""
    candidates: list[Candidate] = []
    if len(blobs) < fewest:
        return candidates
    # No line of `fewest` can start from a blob with fewer partners.
    for first, partners in baseline_partners(blobs, fewest - 1).items():
        for line in lines_tried(blobs, first, partners):
            members = [blobs[index] for index in line]
            total = sum(blob[4] for blob in members)
            if len(members) < LINE_BLOBS or (total < LINE_CHARACTERS and not same_rows(members)):
                continue
            aligned = aligned_letters(members)
            if aligned < LINE_BLOBS:
                continue
            top, bottom = min(blob[1] for blob in members), max(blob[0] for blob in members)
            left, right = members[0][2], max(blob[3] for blob in members)
            share = margin_share(aligned, total)
            candidates.append((top, bottom, left, right, total, line, share))
    return candidates


def faint_lines(
    found: list[Candidate], blobs: list[Blob], edged: list[Blob], letters: np.ndarray
) -> list[Candidate]:
    """Lines whose letters align only by their faint rows (`edged`: the blobs grown by
    them), beyond those `found` without: of FAINT_ALIGNED letters or more, and of
    strokes, not discs (`faint_edges`). However many align so, their margins are
    judged: five grains of a soft kernel aligned by their grown rows."""
    if edged == blobs:
        return []
    tried = {tuple(candidate[5]) for candidate in found}
    lines = []
    for top, bottom, left, right, total, line, share in line_candidates(edged, FAINT_ALIGNED):
        if (
            tuple(line) not in tried
            and aligned_letters([edged[index] for index in line]) >= FAINT_ALIGNED
            and thin_strokes(letters, [blobs[index] for index in line])
            and like_heights([edged[index] for index in line])
        ):
            share = min(share, margin_share(STANDS_ALONE - 1, total))
            lines.append((top, bottom, left, right, total, line, share))
    return lines


def like_heights(members: list[Blob]) -> bool:
    """Whether a line's letters are of a like height, FAINT_HEIGHT or more (their
    median), none taller than LIKE_HEIGHT times it: a lung's blobs in a row need not
    be, and a soft kernel's grains are smaller."""
    heights = sorted(bottom - top for bottom, top, *_ in members)
    middle = heights[len(heights) // 2]
    return middle >= FAINT_HEIGHT and heights[-1] <= LIKE_HEIGHT * middle


def lines_of_blobs(strokes: Strokes, apart: bool = False) -> list[tuple[int, int, int, int, int]]:
    """Lines of letters with quiet margins. A line's neighbour in a block of text (the
    line above or below, of a like height) does not count against its margins.
    `apart`: the strokes are letters freed from stronger structures (`weak_letters`),
    whose lines must be of letter-shaped blobs (`freed_shaped`)."""
    blobs, edged = letter_blobs(strokes.letters, strokes.lifted, strokes.faint, strokes.labelled)
    candidates = line_candidates(blobs)
    candidates += faint_lines(candidates, blobs, edged, strokes.letters)
    if not candidates:
        return []
    lifted, letters = strokes.lifted, strokes.letters
    sizes = blob_heights(strokes.of_structures())  # labelled only where a line may be
    lines = []
    used: set[int] = set()
    for top, bottom, left, right, total, line, share in candidates:
        if line[0] in used or ends_on_a_cut(strokes, [blobs[index] for index in line]):
            continue
        # Margins count strokes about as strong as the line's letters (half to twice
        # their median), of blobs not much taller than they: a line of full contrast
        # over a lung stands out from its vessels, a faint one from the lung's air, and
        # a label's edge or the image's is no letter.
        strength = float(np.median(lifted[top:bottom, left:right][letters[top:bottom, left:right]]))
        height = bottom - top
        near = (
            slice(max(0, top - height), bottom + height),
            slice(max(0, left - height), right + height),
        )
        size, value = sizes[near], lifted[near]
        around = (size > 0) & (size <= 2 * height)
        around &= (value >= strength / 2) & (value <= 2 * strength)
        for o_top, o_bottom, o_left, o_right, *_ in candidates:
            o_height = o_bottom - o_top
            if (o_bottom <= top or o_top >= bottom) and max(o_height, height) <= LIKE_HEIGHT * min(
                o_height, height
            ):  # a line above or below
                around[
                    max(0, o_top - near[0].start) : max(0, o_bottom - near[0].start),
                    max(0, o_left - near[1].start) : max(0, o_right - near[1].start),
                ] = False
        rows, columns = near[0].start, near[1].start  # the margins' own coordinates
        margins = (around, top - rows, bottom - rows, left - columns, right - columns)
        # A short line of letters, not of a lung's discs in a row, may stand in margins as
        # busy as a longer line's (`letter_shapes`). Asked only where the empty ones fail.
        members = [blobs[index] for index in line]
        if not (
            quiet_around(*margins, share)
            or (
                share < QUIET_MARGIN
                and quiet_around(*margins, QUIET_MARGIN)
                and letter_shaped(letters, members)
            )
        ):
            continue
        if shaped_as_structures(strokes, members, share, apart):
            continue
        lines.append((top, bottom, left, right, total))
        used.update(line)
    return lines


def ends_on_a_cut(strokes: Strokes, members: list[Blob]) -> bool:
    """Whether fewer than LINE_BLOBS of a line's blobs stand clear of the rows the crop cut
    through (`Strokes.cut_rows`): a blob a cut crosses ends on it, whatever its own height,
    and blobs that all end there stand as letters on a baseline. Grown through a noisy
    air's faint pixels, specks so stood as a line (clean slices drawn in another style,
    session 43)."""
    top_cut, bottom_cut = strokes.cut_rows
    rows = strokes.letters.shape[0]
    clear = sum(
        not ((top_cut and top == 0) or (bottom_cut and bottom == rows))
        for bottom, top, *_ in members
    )
    return clear < LINE_BLOBS


def shaped_as_structures(strokes: Strokes, members: list[Blob], share: float, apart: bool) -> bool:
    """Whether a line's blobs (`members`) are anatomy's, not letters: a row of a lung's
    vessels (discs), the tips a ragged edge is cut into or a row of a lung's pockets
    (`structure_tips`), both only where the line needs its margins (`share` under 1);
    freed letters (`apart`) not shaped as letters; or pieces of one structure, which a
    line of any length may be (a table's foam core)."""
    lifted, letters = strokes.lifted, strokes.letters
    if share < 1.0 and disc_shaped(letters, members):
        return True
    if strokes.values is None:
        return apart and not freed_shaped(letters, members)
    values, sign = strokes.values, strokes.sign
    # Freed letters are joined to stronger structures: that is why they were freed.
    if (
        share < 1.0
        and STRUCTURE_TIPS
        and not apart
        and (
            tips_of_structures(values, sign, lifted, letters, members)
            or pockets_of_ground(values, sign, lifted, letters, members)
        )
    ):
        return True
    if apart and not freed_shaped(letters, members):
        return True
    return ONE_STRUCTURE and pieces_of_one(values, sign, lifted, letters, members, strokes.contrast)


def merged_regions(
    shape: tuple[int, ...], window_busy: np.ndarray, found: np.ndarray, spans: np.ndarray
) -> list[Region]:
    """One box per run of baseline spans: from the tallest stem's top over the baseline to a
    descender's depth below it, across the spans and a window either side."""
    rows, windows = found[:, 0], found[:, 1]
    heights = stem_heights(window_busy, found)
    baselines = (rows + 1) * ROW_STEP
    lefts = np.maximum(0, (windows - 1) * WINDOW)
    rights = np.minimum(shape[1], (windows + 3) * WINDOW)
    tops = np.maximum(0, baselines - (heights + 2) * ROW_STEP)
    bottoms = np.minimum(shape[0], baselines + np.maximum(4, heights))
    boxes: list[list[int]] = []
    recent: list[list[int]] = []  # boxes whose baseline a later one may still share
    last = -1
    # `found` runs down the rows: a box more than two rows read above is done with.
    for top, bottom, left, right, stems, baseline in zip(
        tops.tolist(),
        bottoms.tolist(),
        lefts.tolist(),
        rights.tolist(),
        spans[rows, windows].tolist(),
        baselines.tolist(),
        strict=True,
    ):
        if baseline != last:
            recent = [box for box in recent if baseline - box[5] <= 2 * ROW_STEP]
            last = baseline
        for box in recent:  # the same baseline (±2 rows read), overlapping columns: one line
            if left <= box[3] and right >= box[2]:
                box[0], box[1] = min(box[0], top), max(box[1], bottom)
                box[2], box[3] = min(box[2], left), max(box[3], right)
                box[4] = max(box[4], stems)
                break
        else:
            boxes.append([top, bottom, left, right, stems, baseline])
            recent.append(boxes[-1])
    return sorted(
        (Region(top, bottom, left, right, stems) for top, bottom, left, right, stems, _ in boxes),
        key=lambda region: (region.top, region.left),
    )


def stem_heights(window_busy: np.ndarray, found: np.ndarray) -> np.ndarray:
    """For each baseline (row read, window): how many rows read, from it upwards, have a
    stroke (`window_busy`) from the window before to two after, until one has none (or
    MAX_TEXT_HEIGHT is reached): the height of the letters standing on it. Rows above
    the frame count as having strokes."""
    span_busy = window_busy.copy()  # windows w - 1 to w + 2
    span_busy[:, 1:] |= window_busy[:, :-1]
    span_busy[:, :-1] |= window_busy[:, 1:]
    span_busy[:, :-2] |= window_busy[:, 2:]
    reach = MAX_TEXT_HEIGHT // ROW_STEP
    above = found[:, :1] - np.arange(reach + 1)
    busy = np.where(above >= 0, span_busy[np.maximum(above, 0), found[:, 1:]], True)
    return np.where(busy.all(axis=1), reach, np.argmin(busy, axis=1))
