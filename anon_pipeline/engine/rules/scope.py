"""Which SOP classes a release is for.

A whitelist is written for the objects a project studies; any other object would come
out with its IOD's required attributes removed and its pixels unexamined (an ultrasound
image carries the institution's name and the date in its pixels). So a rule set may
name its release scope by SOP class keyword, from pydicom's UID dictionary, and any
other object is skipped with its own disposition naming its class by keyword.
"""

from __future__ import annotations

from pydicom.uid import UID, UID_dictionary

# What a lung-CT dataset needs: the three CT image storage classes.
DEFAULT_SCOPE = (
    "CTImageStorage",
    "EnhancedCTImageStorage",
    "LegacyConvertedEnhancedCTImageStorage",
)
UNKNOWN_CLASS = "unknown SOP class"
SOP_CLASS_BY_KEYWORD = {
    entry[4]: uid for uid, entry in UID_dictionary.items() if entry[1] == "SOP Class" and entry[4]
}


def scope_uids(keywords: tuple[str, ...]) -> frozenset[str]:
    """The SOP class UIDs of these keywords; KeyError names an unknown keyword."""
    return frozenset(SOP_CLASS_BY_KEYWORD[keyword] for keyword in keywords)


def class_name(sop_class_uid: str) -> str:
    """The class's keyword from the dictionary; never the value of an unknown UID, which
    may be private and is not the release's to quote."""
    keyword = UID(sop_class_uid).keyword if sop_class_uid else ""
    return keyword or UNKNOWN_CLASS


def outside_scope(sop_class_uid: str, scope: frozenset[str] | None) -> str | None:
    """The class's keyword when a scope is set and the class is not in it, else None."""
    if scope is None or sop_class_uid.strip() in scope:
        return None
    return class_name(sop_class_uid.strip())
