"""Keyed pseudonyms and per-patient date shifts: deterministic, not invertible."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

PSEUDONYM_LENGTH = 16  # fits SH (16 chars), LO (64) and PN components (64)
MAX_SHIFT_WEEKS = 520


def keyed_digest(key: bytes, purpose: str, value: str) -> bytes:
    """HMAC-SHA256 of `value`, separated by purpose so no two transforms share outputs."""
    message = purpose.encode("ascii") + b"\0" + value.encode("utf-8", "surrogateescape")
    return hmac.new(key, message, hashlib.sha256).digest()


def pseudonymize(value: str, key: bytes) -> str:
    """A stable 16-character pseudonym for an identifier: equal inputs, equal outputs."""
    if not value.strip():
        return value
    return keyed_digest(key, "pseudonym", value.strip()).hex()[:PSEUDONYM_LENGTH].upper()


def date_offset_days(patient_reference: str, key: bytes) -> int:
    """The patient's shift, a whole number of weeks back (1..520), so weekdays survive.

    One offset per patient keeps every interval inside the patient's record exact.
    """
    digest = keyed_digest(key, "date-shift", patient_reference.strip())
    return -7 * (1 + int.from_bytes(digest[:8], "big") % MAX_SHIFT_WEEKS)


def shift_da(value: str, days: int) -> str | None:
    """Shift one DA value (YYYYMMDD); None when it is not a full date and must go."""
    text = value.strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        date = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
    try:
        return (date + dt.timedelta(days=days)).strftime("%Y%m%d")
    except OverflowError:
        return None


def shift_dt(value: str, days: int) -> str | None:
    """Shift the date part of a DT value, keeping time and offset; None if no full date."""
    text = value.strip()
    shifted = shift_da(text[:8], days)
    if shifted is None:
        return None
    return shifted + text[8:]
