"""Visual QC: one thumbnail per series (its middle slice, windowed) on one PNG, so a
reviewer can spot burned-in text that attribute rules cannot remove.

This is the only place pixel data is decoded. The sheet may show burned-in PHI (that
is what it is for), so it stays in the secure zone: Dagster gets its path, not the image.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont, ImageOps
from pydicom import dcmread
from pydicom.tag import Tag

from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom
from anon_pipeline.engine.dicom.rawparse import Unsupported, leading_value
from anon_pipeline.engine.disk.atomic import write_bytes_atomically
from anon_pipeline.engine.disk.layout import BatchPaths

TILE = 160
COLUMNS = 6
CAPTION = 24  # pixels under each tile for its caption
FONT_SIZE = 15  # Pillow's own scalable font: readable, and no system font needed
HEADER_BYTES = 16_384  # a CT slice's elements before InstanceNumber take about 1 KB
INSTANCE_NUMBER_TAG = int(Tag("InstanceNumber"))


@dataclass
class ContactSheetReport:
    series: int
    decoded: int
    not_decodable: int


def middle_slice(files: list[Path]) -> Path:
    """The file in the middle of the series by InstanceNumber (headers only)."""
    ordered = sorted(files, key=lambda path: (instance_number(path), path.name))
    return ordered[len(ordered) // 2]


def instance_number(path: Path) -> int:
    """A file's InstanceNumber, from its first bytes when the raw parser reaches it there
    (a series of 1,000 slices: 1,000 small reads instead of 1,000 pydicom parses); 0 when
    it has none or a bad one (the file then keeps its place by name)."""
    try:
        with path.open("rb") as handle:
            value = leading_value(handle.read(HEADER_BYTES), INSTANCE_NUMBER_TAG)
        return int(value.decode("ascii").strip("\0 ")) if value else 0
    except (Unsupported, OSError, ValueError):
        pass
    try:
        dataset = dcmread(path, stop_before_pixels=True, specific_tags=["InstanceNumber"])
        return int(dataset.InstanceNumber)
    except Exception:  # no or bad InstanceNumber
        return 0


def windowed(path: Path) -> np.ndarray:
    """8-bit grey (or RGB) image of the slice, with its window or its full range."""
    dataset = dcmread(path)
    pixels = dataset.pixel_array
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[len(pixels) // 2]
    if pixels.ndim == 3:  # colour: show as is
        return np.clip(pixels, 0, 255).astype(np.uint8)
    values = pixels.astype(np.float64) * float(dataset.get("RescaleSlope", 1) or 1)
    values += float(dataset.get("RescaleIntercept", 0) or 0)
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is not None and width is not None:
        center = float(
            center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center
        )
        width = float(
            width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width
        )
        low, high = center - width / 2, center + width / 2
    else:
        low, high = float(values.min()), float(values.max())
    scaled = np.clip((values - low) / max(high - low, 1e-6), 0, 1) * 255
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        scaled = 255 - scaled
    return scaled.astype(np.uint8)


def write_contact_sheet(paths: BatchPaths, output: Path) -> ContactSheetReport:
    """Write the batch's contact sheet PNG to `output` (secure zone), atomically."""
    by_series: dict[str, list[Path]] = defaultdict(list)
    manifest = pq.read_table(paths.manifest, columns=["outcome", "output_name"]).to_pydict()
    for outcome, output_name in zip(manifest["outcome"], manifest["output_name"], strict=True):
        if outcome == "anonymized":
            by_series[output_name.rsplit("/", 1)[0]].append(paths.release_files / output_name)
    series = sorted(by_series)
    rows = max(1, -(-len(series) // COLUMNS))
    sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + CAPTION)), "black")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=FONT_SIZE)
    if not series:  # a black sheet would look like a failure
        draw.multiline_text(
            (16, 40),
            "No file of this batch is released:\nnothing new (other batches hold its\n"
            "instances) or everything held. Nothing to look at here.",
            fill="white",
            font=font,
            spacing=6,
        )
    decoded = 0
    with quiet_pydicom():
        for index, key in enumerate(series):
            x, y = (index % COLUMNS) * TILE, (index // COLUMNS) * (TILE + CAPTION)
            label = f"series {index + 1}: {len(by_series[key])} files"
            try:
                tile = ImageOps.contain(
                    Image.fromarray(windowed(middle_slice(by_series[key]))), (TILE, TILE)
                )
                sheet.paste(tile.convert("RGB"), (x, y))
                decoded += 1
            except Exception:  # compressed without a decoder, damaged pixels...
                draw.rectangle([x, y, x + TILE - 1, y + TILE - 1], outline="red")
                draw.multiline_text(
                    (x + 8, y + TILE // 2 - 16),
                    "not decodable:\nlook at it by hand",
                    fill="red",
                    font=font,
                )
            draw.text((x + 4, y + TILE + 3), label, fill="white", font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    write_bytes_atomically(output, buffer.getvalue())
    return ContactSheetReport(len(series), decoded, len(series) - decoded)
