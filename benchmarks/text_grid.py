"""What the grids of generated lines share (`small_text.py`, `body_text.py`): where a
line was drawn, whether a region touches it, and the one flag they take."""

import argparse

import numpy as np

from anon_pipeline.engine.dicom.pixel_text import Region
from anon_pipeline.synthetic.phantoms import stored_values

Box = tuple[int, int, int, int]  # top, bottom, left, right (inclusive)


def drawn_box(image: np.ndarray, under: np.ndarray) -> Box:
    """The pixels the line changed (by more than 20), boxed."""
    changed = np.argwhere(
        np.abs(image.astype(np.int32) - stored_values(under).astype(np.int32)) > 20
    )
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    return int(top), int(bottom), int(left), int(right)


def touched(regions: list[Region], box: Box) -> bool:
    """Whether a region touches the box: the line was found."""
    top, bottom, left, right = box
    return any(
        r.top <= bottom and r.bottom >= top and r.left <= right and r.right >= left for r in regions
    )


def names_wanted(description: str) -> bool:
    """The command line: whether every missed line is to be named (`--list`)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--list", action="store_true", help="name every missed line")
    return parser.parse_args().list
