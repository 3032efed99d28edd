"""Keyed, deterministic replacement of UIDs that keeps every relationship."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Any

from pydicom.uid import UID

# PS3.5 §B.2: a UID built from a 128-bit integer under the root 2.25 needs no
# registered org root and is at most 5 + 39 = 44 characters (limit 64).
UUID_DERIVED_ROOT = "2.25."
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
DICOM_ROOT = "1.2.840.10008."  # PS3.6 Annex A: every registered UID lives under it


def is_registered_uid(uid: str) -> bool:
    """True for UIDs in DICOM's registry (SOP classes, transfer syntaxes, coding schemes...).

    These name standard things, not patients, and hashing them would break the files.
    """
    # Checking the root first also keeps pydicom from warning (with the value) on bad UIDs,
    # and keeps the cache to the registry's few UIDs instead of every instance UID met.
    return uid.startswith(DICOM_ROOT) and is_in_registry(uid)


@lru_cache(maxsize=1024)
def is_in_registry(uid: str) -> bool:
    """pydicom's UID registry names the UID (only asked for UIDs under the DICOM root)."""
    return bool(UID(uid).type)


# A slice's UID comes back in its neighbours' references, and its study and series UIDs
# in every slice; a few thousand entries hold them (and fill within one CD, so a
# worker's memory does not creep up with the batch).
@lru_cache(maxsize=4096)
def hash_uid(uid: str, key: bytes) -> str:
    """Map a UID to `2.25.<128-bit keyed hash>`; registered UIDs pass unchanged."""
    uid = uid.strip().rstrip("\0")
    if not uid or is_registered_uid(uid):
        return uid
    digest = hmac.new(key, b"uid\0" + uid.encode("ascii", "replace"), hashlib.sha256).digest()
    return UUID_DERIVED_ROOT + str(int.from_bytes(digest[:16], "big"))


def output_name_for(dataset: Any, key: bytes) -> str:
    """<study>/<series>/<instance>.dcm from keyed hashes of the input's UIDs: equal to
    the whitelisted UIDs, and never derived from input paths or values."""
    study, series, instance = (str(dataset[keyword].value) for keyword in REQUIRED_UIDS[:3])
    return output_name_from(study, series, instance, key)


def output_name_from(study: str, series: str, instance: str, key: bytes) -> str:
    """`output_name_for`, from the three UIDs' texts."""
    return f"{hash_uid(study, key)}/{hash_uid(series, key)}/{hash_uid(instance, key)}.dcm"
