"""A thin letter's strokes grown back through its part-covered pixels.

A renderer covers a 1-pixel stroke only in part wherever it does not fall on a pixel's
column or row. At +150 HU those pixels stand 40 to 100 HU over the ground, so many
fall under the letter threshold (60 HU) while their neighbours stand over it. A thin
face such as FreeMono at 9 to 10 px then breaks into specks shorter than a letter, and
no line is left to find. Of 78 texts released on 15 seeds (session 37), 7 were
FreeMono or FreeMonoOblique at 9 to 10 px, plain to the eye.

The letter pixels are grown through the pixels over the crop's faint threshold
(`pixel_text.Strokes.faint`: half the threshold, or the noise over it) that touch
them: hysteresis, as an edge detector joins an edge's weak stretches to its strong
ones. A lung's vessels grow through their halos too, and their blobs then line up as
letters (lines on 9 of 700 clean slices of two sets). So a line only the grown letters
make must stand alone, as the averaged look's lines must (`noisy_text.stands_alone`):
none of those 9 did.

Only small crops are grown (GROWN_CROP). A word that stands alone makes a crop of its
own, as the cheap look's candidates merge only where they overlap; a lung's candidates
merge into crops of 100,000 pixels and more, where the second search for lines would
cost a third of the check and a line must stand alone anyway.
"""

from __future__ import annotations

import cv2
import numpy as np

# Pixels of a crop, at most, whose letters are grown. The texts found so lay in crops
# of 2,560 to 24,960; a band across a 512-wide frame's top makes about 15,000. On the
# cost CD's clean slices, crops this small hold 9 % of the crops' pixels.
GROWN_CROP = 40_000


def grown_letters(letters: np.ndarray, grown_from: np.ndarray) -> np.ndarray | None:
    """The blobs of `grown_from` (pixels over the faint threshold) with `letters`, that
    hold a pixel of `letters`; None where they add none to `letters`."""
    candidates = grown_from | letters
    count, labels = cv2.connectedComponents(candidates.view(np.uint8), connectivity=8)
    kept = np.zeros(count, dtype=bool)
    kept[labels[letters]] = True
    kept[0] = False
    grown = kept[labels]
    if np.count_nonzero(grown) == np.count_nonzero(letters):
        return None
    return grown
