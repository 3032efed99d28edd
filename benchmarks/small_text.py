"""Recall of the text check on small lines (9 to 11 px), where letters merge.

Every installed font at 9, 10 and 11 px, bright and dark, at full and +150 HU
contrast, in a band and in a corner: 1,200 lines on this machine's fonts, each over its
own body-like slice. A line is missed when no region `text_regions` returns touches
the pixels it changed. This was the measure for cutting merged small letters apart
(docs/benchmarks.md, 2026-12-05): 56 missed before, 44 after.

    .venv/bin/python benchmarks/small_text.py [--list]
"""

import collections
import itertools
import random

from text_grid import drawn_box, names_wanted, touched

from anon_pipeline.engine.dicom.pixel_text import text_regions
from anon_pipeline.synthetic.phantoms import stored_values
from anon_pipeline.synthetic.pixel_trials import (
    SliceSource,
    TextTrial,
    burn_in,
    fonts,
    identifying_line,
)


def missed_lines() -> tuple[collections.Counter, collections.Counter, list[str]]:
    """Lines tried and missed by (contrast, polarity), and the missed ones by name."""
    source, rng = SliceSource(4242), random.Random(99)
    tried, missed, names = collections.Counter(), collections.Counter(), []
    sizes, polarities, contrasts = (9, 10, 11), (1, -1), ("full", "+150")
    for font, size, polarity, contrast, where in itertools.product(
        fonts(), sizes, polarities, contrasts, ("band", "corner")
    ):
        under = source.next()
        trial = TextTrial(font, size, where, polarity, contrast, (identifying_line(rng),), 1)
        image = stored_values(burn_in(under, trial, rng))
        kind = (contrast, "bright" if polarity > 0 else "dark")
        tried[kind] += 1
        if not touched(text_regions(image), drawn_box(image, under)):
            missed[kind] += 1
            names.append(f"{font.rsplit('/', 1)[-1]} {size} px, {where}, {contrast} {kind[1]}")
    return tried, missed, names


def main() -> int:
    listed = names_wanted(__doc__)
    tried, missed, names = missed_lines()
    print(f"small lines missed: {sum(missed.values())} of {sum(tried.values())}")
    for kind in sorted(tried):
        print(f"  {kind[0]:>5} {kind[1]:<6} {missed[kind]} of {tried[kind]}")
    if listed:
        print("\n".join(f"  {name}" for name in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
