"""Recall of the text check on text at full contrast over the body, with and without
the flat cores (`engine/dicom/flat_text.py`), on the same lines in one run.

Every installed font at every size from 9 to 28 px, bright and dark, over the body of
its own body-like slice (chest, abdomen or head): 2,000 lines on this machine's fonts.
Dark letters crossing a lung's air merge with it, which is where the stroke look alone
released most. A line is missed when no region `text_regions` returns touches the
pixels it changed. Clean slices are measured by `make bench-pixels`.

    .venv/bin/python benchmarks/body_text.py [--list]
"""

import collections
import itertools
import random

from text_grid import drawn_box, names_wanted, touched

from anon_pipeline.engine.dicom import pixel_text
from anon_pipeline.synthetic.phantoms import stored_values
from anon_pipeline.synthetic.pixel_trials import (
    SliceSource,
    TextTrial,
    burn_in,
    fonts,
    identifying_line,
)

SIZES = range(9, 29)


def missed_lines() -> tuple[collections.Counter, dict[str, collections.Counter], list[str]]:
    """Lines tried, and missed with and without the flat cores, by (sizes, polarity)."""
    source, rng = SliceSource(5151), random.Random(77)
    with_flat = pixel_text.flat_lines
    tried: collections.Counter = collections.Counter()
    missed: dict[str, collections.Counter] = {
        "with": collections.Counter(),
        "without": collections.Counter(),
    }
    names = []
    for font, size, polarity in itertools.product(fonts(), SIZES, (1, -1)):
        under = source.next()
        trial = TextTrial(font, size, "body", polarity, "full", (identifying_line(rng),), 1)
        image = stored_values(burn_in(under, trial, rng))
        box = drawn_box(image, under)
        kind = ("9-13 px" if size <= 13 else "14-28 px", "bright" if polarity > 0 else "dark")
        tried[kind] += 1
        for name, flat in (("with", with_flat), ("without", lambda *arguments: [])):
            pixel_text.flat_lines = flat  # the stroke look alone, on the same image
            try:
                found = touched(pixel_text.text_regions(image), box)
            finally:
                pixel_text.flat_lines = with_flat
            if not found:
                missed[name][kind] += 1
                if name == "with":
                    names.append(f"{font.rsplit('/', 1)[-1]} {size} px, {kind[1]}")
    return tried, missed, names


def main() -> int:
    listed = names_wanted(__doc__)
    tried, missed, names = missed_lines()
    total = sum(tried.values())
    print(
        f"full-contrast lines over the body missed: {sum(missed['with'].values())} of {total}"
        f" with the flat cores, {sum(missed['without'].values())} without"
    )
    for kind in sorted(tried):
        print(
            f"  {kind[0]:>8} {kind[1]:<6} {missed['with'][kind]:>3} and"
            f" {missed['without'][kind]:>3} of {tried[kind]}"
        )
    if listed:
        print("\n".join(f"  {name}" for name in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
