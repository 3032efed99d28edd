"""Every kept value of its attribute's form, before it is released.

A whitelist keeps an attribute because of what it means: PatientSex is M, F or O, a
time is a time. Whatever else sits in such an element (a name typed into the wrong
field, a marker, a damaged value) would be released with it. So each value a whitelist
keeps is checked against its VR's form (pydicom's own validators: DA, TM, DT, AS, DS and
IS syntax, UI and CS characters, every VR's length) and, where the rule file lists them
(`value_terms:`), the attribute's defined terms. A value that fails is removed and
queued for review with a reason that names the attribute, never the value. Both walks
(pydicom's and the streaming one) ask `refusal` with the element's text, so they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydicom.charset import decode_bytes
from pydicom.multival import MultiValue
from pydicom.valuerep import VALIDATORS

# VRs whose characters are the default repertoire: their bytes are their text.
ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
FORM_VRS = ASCII_VRS | TEXT_VRS
SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT", "UR"})  # a backslash is text there
# Read to decode the file's text: a wrong one fails the file, it is never kept unread.
NOT_CHECKED = frozenset({"SpecificCharacterSet"})
BACKSLASH = 0x5C


@dataclass(frozen=True)
class Terms:
    """An attribute's defined terms: for every value, or by value position (1-based)."""

    every: frozenset[str] | None = None
    by_position: tuple[tuple[int, frozenset[str]], ...] = ()

    def canonical(self) -> object:
        """What the rule-set version hashes."""
        every = sorted(self.every) if self.every is not None else None
        return [every, [[at, sorted(terms)] for at, terms in self.by_position]]

    def allows(self, position: int, value: str) -> bool:
        if self.every is not None and value not in self.every:
            return False
        return all(value in terms for at, terms in self.by_position if at == position)


def element_text(value: object, vr: str, encodings: str | Sequence[str]) -> str:
    """An element's value as text, the same from raw bytes (the streaming walk, or an
    element pydicom has not converted) and from a converted element's value."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        if vr in ASCII_VRS:
            return value.decode("latin-1")
        names = [encodings] if isinstance(encodings, str) else list(encodings)
        return decode_bytes(value, names, {BACKSLASH})
    values = value if isinstance(value, MultiValue | list) else [value]
    return "\\".join("" if item is None else str(item) for item in values)


def refusal(name: str, vr: str, text: str, terms: Terms | None) -> str | None:
    """Why a kept value of attribute `name` may not be released as is, or None. The
    reason names the attribute and the rule it failed, never the value."""
    if vr not in FORM_VRS or name in NOT_CHECKED:
        return None
    return cached_refusal(name, vr, text, terms)


@lru_cache(maxsize=65536)
def cached_refusal(name: str, vr: str, text: str, terms: Terms | None) -> str | None:
    body = text.rstrip("\0 ") if vr in ("LT", "ST", "UT") else text
    values = [body] if vr in SINGLE_VALUED_VRS else body.split("\\")
    validator = VALIDATORS.get(vr)
    for position, raw in enumerate(values, start=1):
        value = raw.rstrip() if vr in SINGLE_VALUED_VRS else raw.strip("\0 ")
        if not value:
            continue
        if validator is not None and not validator(vr, value)[0]:
            return f"not of the form of its VR ({vr}) in {name}"
        if terms is not None and not terms.allows(position, value):
            return f"not a value of {name}"
    return None
