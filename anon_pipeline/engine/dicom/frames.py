"""A file's frames as arrays, for the pixel check: the released pixels are never changed,
only looked at.

Native little-endian pixels (most CT) are viewed in place from the file's bytes, with
no copy and no parse beyond the element offsets. Anything else (JPEG, JPEG 2000,
JPEG-LS, RLE, big-endian, colour in any arrangement) is decoded by pydicom's pixel
handlers and the pylibjpeg plugins; a frame that cannot be decoded is an error the
caller turns into a hold, never a pass. Server only: numpy and the decoders are
not on a hospital's computer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from anon_pipeline.engine.dicom.rawparse import (
    PIXEL_DATA_TAG,
    ElementLayout,
    Part10,
    parse_part10,
    tag_of,
)

NATIVE_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
IMAGE_TAGS = {
    keyword: tag_of(keyword)
    for keyword in (
        "Rows",
        "Columns",
        "BitsAllocated",
        "PixelRepresentation",
        "SamplesPerPixel",
        "NumberOfFrames",
        "RescaleSlope",
        "PhotometricInterpretation",
        "ImageType",
        "Manufacturer",
        "ManufacturerModelName",
    )
}
US_TAGS = ("Rows", "Columns", "BitsAllocated", "PixelRepresentation", "SamplesPerPixel")
# The layout of the file parsed last: a CD's slices share theirs, and a parse that
# takes stretches of it costs half of one that does not.
_last_layout: list[ElementLayout] = []


class UndecodableFrames(Exception):
    """The pixels could not be decoded; the message names the cause, never a value."""


@dataclass(frozen=True)
class Frames:
    """What the pixel check needs of a file: its frames (2-D arrays, colour as luminance),
    the rescale slope that turns a stored step into HU, and how it was made."""

    count: int
    slope: float
    colour: bool
    image_type: tuple[str, ...]
    signature: tuple[str, ...]  # manufacturer, model, rows x columns, image type
    array: np.ndarray  # frames first: (frames, rows, columns[, samples])

    def __iter__(self) -> Iterator[np.ndarray]:
        """Each frame as a 2-D array (colour as luminance)."""
        for frame in self.array:
            yield luminance(frame) if self.colour else frame


def luminance(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3:
        return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return frame


def text_value(part: Part10, data: bytes, keyword: str) -> str:
    span = part.by_tag.get(IMAGE_TAGS[keyword])
    return part.value(data, span).decode("latin-1").strip(" \0") if span else ""


def us_value(part: Part10, data: bytes, keyword: str) -> int | None:
    span = part.by_tag.get(IMAGE_TAGS[keyword])
    value = part.value(data, span) if span else b""
    return int.from_bytes(value[:2], "little") if len(value) >= 2 else None


def frames_of(data: bytes) -> Frames | None:
    """The file's frames, or None when it has no pixel data; raises UndecodableFrames."""
    try:
        part = parse_part10(data, lazy=True, template=_last_layout[0] if _last_layout else None)
        _last_layout[:] = [part.layout]
    except Exception:
        part = None
    if part is not None and PIXEL_DATA_TAG not in part.by_tag:
        return None
    if part is not None and part.transfer_syntax in NATIVE_SYNTAXES:
        native = native_frames(part, data)
        if native is not None:
            return native
    return decoded_frames(data)


def native_frames(part: Part10, data: bytes) -> Frames | None:
    """The frames viewed in place, for one-sample 8- and 16-bit pixels; None otherwise."""
    rows, columns, bits, signed, samples = (us_value(part, data, k) for k in US_TAGS)
    if not rows or not columns or bits not in (8, 16) or (samples or 1) != 1:
        return None
    count = int(text_value(part, data, "NumberOfFrames") or 1)
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits // 8}").newbyteorder("<")
    span = part.by_tag[PIXEL_DATA_TAG]
    needed = rows * columns * count * dtype.itemsize
    pixels = part.view(data, span)
    if len(pixels) < needed:
        raise UndecodableFrames("pixel data shorter than its frames")
    array = np.frombuffer(pixels, dtype=dtype, count=rows * columns * count)
    image_type = tuple(text_value(part, data, "ImageType").upper().split("\\"))
    signature = (
        text_value(part, data, "Manufacturer"),
        text_value(part, data, "ManufacturerModelName"),
        f"{rows}x{columns}",
        "\\".join(image_type),
    )
    slope = float(text_value(part, data, "RescaleSlope") or 1) or 1.0
    return Frames(count, slope, False, image_type, signature, array.reshape(count, rows, columns))


def decoded_frames(data: bytes) -> Frames:
    """Any other syntax, by pydicom and its plugins."""
    try:
        dataset = dcmread(BytesIO(data), force=True)
        array = dataset.pixel_array
    except Exception as error:  # a decoder's message may quote the file: type only
        raise UndecodableFrames(f"cannot be decoded ({type(error).__name__})") from error
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    image_type = tuple(str(item).upper() for item in (dataset.get("ImageType") or []))
    signature = (
        str(dataset.get("Manufacturer", "") or ""),
        str(dataset.get("ManufacturerModelName", "") or ""),
        f"{dataset.get('Rows', 0)}x{dataset.get('Columns', 0)}",
        "\\".join(image_type),
    )
    if count == 1:
        array = array[None]
    slope = float(dataset.get("RescaleSlope", 1) or 1) or 1.0
    return Frames(len(array), slope, samples > 1, image_type, signature, array)
