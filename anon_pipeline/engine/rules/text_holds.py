"""What text read from a frame's pixels means for the release: nothing, or a hold.

A scanner writes safe annotations into some images: sides (R, L), technique (kV, mAs),
window (W/L), scale marks, numbers with units. Anything else that is read with
confidence and is one of the file's own identifiers, a date, or a word that could be a
name holds the file ("text in pixels"); so does a region shaped like text that OCR
cannot read with confidence ("text in pixels, unread"): nothing is guessed. The
reason never quotes what was read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from anon_pipeline.engine.dicom.identifiers import fold

READ_CONFIDENCE = 60.0  # tesseract's word confidence below which a word is unread
READ_SHARE = 0.5  # of a region's characters that a confident reading must account for
# Annotation words a CT or its workstation writes that identify no one (folded).
SAFE_WORDS = frozenset(
    [
        "r",
        "l",
        "a",
        "p",
        "h",
        "f",
        "s",
        "i",
        "ap",
        "pa",
        "lat",
        "rao",
        "lao",
        "sup",
        "inf",
        "ant",
        "post",
        "left",
        "right",
        "prone",
        "supine",
        "kv",
        "kvp",
        "ma",
        "mas",
        "mgy",
        "ctdi",
        "ctdivol",
        "dlp",
        "ms",
        "s",
        "sec",
        "mm",
        "cm",
        "m",
        "hu",
        "ww",
        "wl",
        "w",
        "c",
        "wc",
        "window",
        "level",
        "width",
        "center",
        "centre",
        "zoom",
        "scale",
        "slice",
        "thk",
        "thickness",
        "pos",
        "loc",
        "tilt",
        "fov",
        "se",
        "im",
        "ser",
        "img",
        "kernel",
        "b",
        "f",
        "axial",
        "coronal",
        "sagittal",
        "mpr",
        "mip",
        "minip",
        "vr",
    ]
)
DATE = re.compile(
    r"\b(\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|"
    r"(19|20)\d{2}(0[1-9]|1[0-2])([0-2]\d|3[01]))\b"
)
MEASUREMENT = re.compile(r"^[+-]?\d+([.,]\d+)?(mm|cm|m|kv|kvp|ma|mas|s|ms|hu|%|x)?$")
YEAR = re.compile(r"(19|20)\d{2}")  # a year alone is what is left of a date read in part
# A day and a month (or a month and a day), two digits each, as "1947-01-06" read as
# "01-06": what is left of a date when its year is lost. Not with "/": image counters
# ("05/12") are written so.
DAY_AND_MONTH = re.compile(
    r"(0[1-9]|[12]\d|3[01])[-.](0[1-9]|1[0-2])|(0[1-9]|1[0-2])[-.](0[1-9]|[12]\d|3[01])"
)
# A day or a month between two like marks, a digit beside them: "973-06-24" and "8/11/"
# are dates whose first or last digits OCR lost. A counter ("05/12") or a range of
# measurements ("1.25/2.5") has no two-digit day or month between two like marks.
MARKED_DAY_OR_MONTH = re.compile(
    r"\d([-./])(0[1-9]|[12]\d|3[01])\1|([-./])(0[1-9]|[12]\d|3[01])\3\d"
)
ID_LIKE = re.compile(r"[a-z]{0,3}\d{5,}")  # whole numbers of five digits or more: IDs, PESEL
IDENTITY_LABELS = frozenset({"id", "pid", "pesel", "dob", "mrn", "acc", "name", "pat", "nazwisko"})
PUNCTUATION = re.compile(r"[^\w./-]+")  # what parts a word: not a date's or number's marks
DATE_MARKS = re.compile(r"[./-]")  # what parts a date: "8.1932" is a date read in part
MARKS = ".,:;()[]{}'\"|!?*_-/\\^~`"
NAME_LIKE = re.compile(r"[^\W\d_]{3,}")  # three letters or more, any alphabet


class TextVerdict(StrEnum):
    CLEAN = "clean"
    IDENTIFYING = "text in pixels"
    UNREAD = "text in pixels, unread"


def judge_words(
    words: Iterable[tuple[str, float]], identifiers: Iterable[str] = (), characters: int = 0
) -> TextVerdict:
    """The verdict on what OCR read in one region shaped like text: identifying when a
    confident word is one of the file's identifiers, a date, a year, or a word that may
    be a name; unread when OCR made out nothing with confidence, or when what it made out
    with confidence accounts for less than READ_SHARE of the `characters` the region was
    seen to hold (a date read as its year alone, a name as one letter: nothing is
    guessed); clean when everything confident was safe annotation."""
    words = list(words)
    folded_identifiers = {fold(value) for value in identifiers if len(value) >= 3}
    confident = [fold(text) for text, confidence in words if confidence >= READ_CONFIDENCE]
    if not confident:
        return TextVerdict.UNREAD
    line = " ".join(confident)
    if DATE.search(line) or MARKED_DAY_OR_MONTH.search(line):
        return TextVerdict.IDENTIFYING
    if any(value in line for value in folded_identifiers):
        return TextVerdict.IDENTIFYING
    if any(identifying_word(token) for token in tokens(confident)):
        return TextVerdict.IDENTIFYING
    if sum(character.isalnum() for character in line) < READ_SHARE * characters:
        return TextVerdict.UNREAD
    return TextVerdict.CLEAN


def safe_annotation(words: Iterable[tuple[str, float]]) -> bool:
    """Whether what OCR read with confidence is safe annotation through and through: every
    part an annotation word or a measurement, and one at least a word of two letters or
    more or a unit ("250 mAs", "5 cm"), or a window's "W" and "L" ("W:1500 L:-600").
    Stricter than a clean verdict, which any confident reading that names no one gets: a
    date read in part ("989-0", "13 s") is clean, and no annotation."""
    parts = [
        part.strip(MARKS)
        for text, confidence in words
        if confidence >= READ_CONFIDENCE
        for part in PUNCTUATION.split(fold(text))
        if part.strip(MARKS)
    ]
    if not parts or not all(part in SAFE_WORDS or MEASUREMENT.match(part) for part in parts):
        return False
    worded = any(len(part) > 1 and any(c.isalpha() for c in part) for part in parts)
    return worded or {"w", "l"} <= set(parts)


def tokens(words: Iterable[str]) -> list[str]:
    """Each word, its parts between marks OCR adds or joins ("59010665969|",
    "KOWALSKA^EWA") and those between a date's marks ("8.1932", a date read in part),
    without the marks at their ends."""
    parts = {part.strip(MARKS) for word in words for part in (word, *PUNCTUATION.split(word))}
    parts |= {piece for part in parts for piece in DATE_MARKS.split(part)}
    return [part for part in parts if part]


def identifying_word(token: str) -> bool:
    """An ID-like number or the label of one, a year or a day and a month (a date read in
    part), or a word that may be a name."""
    if ID_LIKE.fullmatch(token) or token in IDENTITY_LABELS or YEAR.fullmatch(token):
        return True
    if DAY_AND_MONTH.fullmatch(token):
        return True
    if not token or token in SAFE_WORDS or MEASUREMENT.match(token):
        return False
    return bool(NAME_LIKE.search(token))
