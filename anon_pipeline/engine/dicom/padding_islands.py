"""Text written into a scanner's padding: islands of other values inside one exact value.

A CT scanner fills the frame outside its field of view with one exact value (-2,000 or
-3,024 HU, stored at or near the lowest value the frame holds). Text drawn darker than
that padding is clipped to the stored floor: 48 HU under padding of -3,024 HU in a frame
of 12 bits, under every look's threshold, though a window at the floor reads it. Text
drawn there at all stands as small islands of other values wholly inside the padding,
where the field of view is one large component. Where the looks found nothing, the
islands are drawn as a mask at full contrast (`padding_mask`) and given to the stroke
look (`pixel_text.text_regions`): 10 of 11 such texts over a phantom drawn in another
style were found, and no clean slice of 2,000 more was held (session 44). OCR reads the
region from the frame itself, where the letters stand 48 HU off, and makes little of
it: such a region is held as unread.

Air that a scanner stores mostly at -1,024 HU is padding to this look, and its noise
stands in it as islands a few HU over it. So an island counts only with a pixel under
the padding's value or `contrast` over it, and only those pixels are drawn (session 45:
with half the frame stored so, 132 of 300 clean slices were held, 81 of them by this
look).

Most frames have no padding at their corner and cost one comparison of a sample; a
frame with padding costs a count of the runs along its rows, and where a row has more
than one (a field of view is a disc), a labelling of its other values."""

from __future__ import annotations

import cv2
import numpy as np

# Of a frame's pixels (every fourth row and column) at its corner's exact value: a
# scanner's padding, not noise, which never repeats one value so often.
PADDING_SHARE = 0.05
ISLAND_LEVEL = 1000  # the mask's islands over its 0: far over any look's threshold


def padding_mask(frame: np.ndarray, tallest: int, contrast: float) -> np.ndarray | None:
    """The islands of a frame's padding as a mask (ISLAND_LEVEL on 0): components of
    values other than the padding's, no taller than `tallest` (not the field of view),
    with a pixel beyond the padding's value from the field of view's (under it, in a
    CT: text the floor clipped) or `contrast` or more off it toward it; None where the
    frame has no padding or no island."""
    if frame.ndim != 2 or frame.size == 0:
        return None
    pad = frame[0, 0]
    sample = frame[::4, ::4]
    if np.count_nonzero(sample == pad) < PADDING_SHARE * sample.size:
        return None
    other = (frame != pad).view(np.uint8)
    # A field of view alone in its padding (a disc) is one run of other values a row;
    # a row through a line of letters beside it or past it has more. Most padded frames
    # end here: labelling a 512-pixel frame costs 2 ms, this count a tenth of that.
    starts = np.count_nonzero(other[:, 1:] > other[:, :-1], axis=1) + other[:, 0]
    if not len(starts) or starts.max() < 2:
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(other, connectivity=8)
    if count < 3:  # the padding and the field of view only
        return None
    keep = stats[:, cv2.CC_STAT_HEIGHT] <= tallest
    keep[0] = False  # the padding
    keep[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))] = False  # the field of view
    # Air stored at -1,024 HU, most of it at that one value, is padding to this look:
    # its noise stands in it as islands, a few HU toward the field of view (81 of 300
    # clean slices were held so). Letters there stand `contrast` off it, or beyond it.
    if np.count_nonzero(sample > pad) >= np.count_nonzero(sample < pad):
        beyond, toward = frame < pad, frame >= pad + contrast
    else:
        beyond, toward = frame > pad, frame <= pad - contrast
    marked = beyond | toward
    told = np.zeros(count, dtype=bool)
    told[labels[marked]] = True
    keep &= told
    if not keep.any():
        return None
    # Those pixels only: a table's shell is an island of the stored air too, and its
    # noise fringe, a few HU over the air, stood as a row of letters on it.
    return np.where(keep[labels] & marked, ISLAND_LEVEL, 0).astype(np.int16)
