"""What a batch did not release, for the review page: counts by disposition (reason,
SOP class, device signature) and a picture of each file held for text in its pixels,
so that one decision per device can be taken with the frames in view. Secure zone
only: the pictures show what the pixels show.
"""

from __future__ import annotations

import base64
import io
from collections import Counter

import numpy as np
from PIL import Image

from anon_pipeline.engine.dicom.frames import frames_of
from anon_pipeline.engine.disk.layout import BatchPaths
from anon_pipeline.engine.disk.tables import read_rows

TEXT_HOLDS = ("held: text in pixels", "held: text in pixels, unread")
NOT_SHOWN = ("anonymized", "skipped: copy-complete marker", "skipped: dicomdir")
PICTURES_PER_BATCH = 12
PICTURE_SIZE = 384


def withheld_counts(paths: BatchPaths) -> dict[str, int]:
    """Each disposition other than released (and markers, DICOMDIRs), with its files."""
    if not paths.manifest.exists():
        return {}
    counts = Counter(
        str(row["disposition"])
        for row in read_rows(paths.manifest)
        if row.get("disposition") and not str(row["disposition"]).startswith(NOT_SHOWN)
    )
    return dict(counts.most_common())


def held_pictures(paths: BatchPaths) -> list[tuple[str, str, str]]:
    """(disposition, device, PNG data URI) of the first frame of each file held for text
    in its pixels, read from the batch's input, at most PICTURES_PER_BATCH. The device is
    what its signature hashes (manufacturer, model, size, ImageType), in words, so that a
    person sees which scanner a decision covers."""
    if not paths.manifest.exists():
        return []
    pictures: list[tuple[str, str, str]] = []
    for row in read_rows(paths.manifest):
        disposition = str(row.get("disposition") or "")
        if not disposition.startswith(TEXT_HOLDS) or len(pictures) >= PICTURES_PER_BATCH:
            continue
        try:
            frames = frames_of((paths.batch_dir / row["relative_path"]).read_bytes())
            frame = next(iter(frames)) if frames is not None else None
        except Exception:
            frames = frame = None
        if frames is not None and frame is not None:
            device = ", ".join(part or "(none)" for part in frames.signature)
            pictures.append((disposition, device, data_uri(frame)))
    return pictures


def data_uri(frame: np.ndarray) -> str:
    """The frame windowed to its own 1st to 99.5th percentile, as a PNG data URI."""
    values = frame.astype(np.float32)
    low, high = np.percentile(values, (1, 99.5))
    scaled = np.clip((values - low) / max(float(high - low), 1.0) * 255, 0, 255)
    image = Image.fromarray(scaled.astype(np.uint8))
    image.thumbnail((PICTURE_SIZE, PICTURE_SIZE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
