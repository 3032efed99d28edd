"""Reading a region of a frame with tesseract, kept loaded once per worker process.

tesserocr drives libtesseract in-process (no process per image); its language data
comes from Debian's tesseract-ocr-pol and tesseract-ocr-eng packages and is never
downloaded. Small text (9 to 11 pixels) is read from an upscaled crop of its region,
never from the whole frame. What is read stays in the worker: only its verdict leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# Where Debian (and tesseract's own installs) keep the language data.
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
LANGUAGES = "pol+eng"
TARGET_HEIGHT = 48  # pixels of a line of text as tesseract reads it best
MAX_UPSCALE = 5


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    confidence: float  # tesseract's, 0 to 100


class OcrUnavailable(Exception):
    """tesseract or its Polish and English data are not installed."""


_engine: Any = None


def engine() -> Any:
    """This process's tesseract, loaded once; raises OcrUnavailable with what to install."""
    global _engine
    if _engine is None:
        try:
            import tesserocr
        except ImportError as error:
            raise OcrUnavailable("tesserocr is not installed (pip install tesserocr)") from error
        for folder in TESSDATA_DIRS:
            if all((Path(folder) / f"{lang}.traineddata").exists() for lang in ("pol", "eng")):
                _engine = tesserocr.PyTessBaseAPI(
                    path=folder, lang=LANGUAGES, psm=tesserocr.PSM.SINGLE_BLOCK
                )
                break
        else:
            raise OcrUnavailable(
                "no tesseract language data for pol and eng (apt-get install "
                "tesseract-ocr-pol tesseract-ocr-eng)"
            )
    return _engine


def as_page(crop: np.ndarray, bright_text: bool) -> Image.Image:
    """An 8-bit image of dark text on a light page, its lines TARGET_HEIGHT high."""
    values = crop.astype(np.float32)
    low, high = np.percentile(values, (1, 99.5))
    scaled = np.clip((values - low) / max(high - low, 1.0) * 255, 0, 255).astype(np.uint8)
    if bright_text:
        scaled = 255 - scaled
    page = Image.fromarray(scaled)
    factor = min(MAX_UPSCALE, max(1.0, TARGET_HEIGHT / max(crop.shape[0], 1)))
    if factor > 1:
        size = (round(page.width * factor), round(page.height * factor))
        page = page.resize(size, Image.Resampling.LANCZOS)
    padded = Image.new("L", (page.width + 40, page.height + 40), 255)
    padded.paste(page, (20, 20))
    return padded


def read_words(crop: np.ndarray, bright_text: bool) -> list[Word]:
    """The words tesseract reads in a crop, with their confidence."""
    api = engine()
    api.SetImage(as_page(crop, bright_text))
    text = api.GetUTF8Text()
    confidences = api.AllWordConfidences()
    words = text.split()
    return [Word(word, float(conf)) for word, conf in zip(words, confidences, strict=False)]
