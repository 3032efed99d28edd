"""Files that must not be released automatically, whatever their attributes say.

Burned-in text cannot be removed by attribute rules (pixel data is never decoded),
so images likely to carry it, and objects that are not images at all (reports,
RT plans, presentation states), are held for a person to decide. Each hold can be
switched off per rule set (`hold:` in the rule file).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydicom.dataset import Dataset
from pydicom.uid import UID

HOLDS = (
    "burned_in_annotation",
    "overlay_in_pixel_data",
    "secondary_capture",
    "non_image_objects",
    "text_in_pixels",  # the whitelisting stage reads the pixels (files/pixel_check.py)
)
SECONDARY_CAPTURE_ROOT = "1.2.840.10008.5.1.4.1.1.7"  # PS3.4 B.5: the Secondary Capture SOP classes
SCREEN_IMAGE_TYPES = frozenset({"SECONDARY", "SCREEN SAVE"})
OVERLAY_GROUPS = range(0x6000, 0x6020, 2)  # the 16 repeating overlay groups (PS3.3 C.9.2)
OVERLAY_BITS_ALLOCATED, OVERLAY_BIT_POSITION = 0x0100, 0x0102
# What the holds read of an overlay plane: the streaming path hands them to `hold_reason`.
OVERLAY_FACT_TAGS = frozenset(
    group << 16 | element
    for group in OVERLAY_GROUPS
    for element in (OVERLAY_BITS_ALLOCATED, OVERLAY_BIT_POSITION)
)


class HoldKind(StrEnum):
    BURNED_IN_ANNOTATION = "burned-in annotation"
    OVERLAY_IN_PIXEL_DATA = "overlay in pixel data"
    SECONDARY_CAPTURE = "secondary capture or screen save"
    NON_IMAGE_OBJECT = "non-image object"
    TEXT_IN_PIXELS = "text in pixels"
    TEXT_UNREAD = "text in pixels, unread"
    UNDECODABLE_PIXELS = "pixels not decodable"


@dataclass(frozen=True)
class Held:
    """Why a file is held: the kind of hold and its detail, PHI-free (`str()` is the words
    the manifest shows after 'held: ')."""

    kind: HoldKind
    detail: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} ({self.detail})" if self.detail else str(self.kind)


def values_of(dataset: Dataset, keyword: str) -> list[str]:
    value = dataset.get(keyword)
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, str | bytes) else list(value)
    return [str(item).strip().upper() for item in items]


def overlay_in_pixel_data(dataset: Dataset) -> bool:
    """Whether an overlay plane says it is drawn into the pixel data: older equipment
    stored overlays in unused high bits of the pixels (OverlayBitsAllocated equal to
    BitsAllocated, OverlayBitPosition the bit) instead of in OverlayData (1 bit, bit 0).
    Removing the overlay's attributes would leave its bits, a name perhaps, in the image."""
    for group in OVERLAY_GROUPS:
        for element, plain in ((OVERLAY_BITS_ALLOCATED, 1), (OVERLAY_BIT_POSITION, 0)):
            found = dataset.get(group << 16 | element)
            value = found.value if found is not None else None
            if value is None or value == "":
                continue
            values = [value] if isinstance(value, int | str | bytes) else list(value)
            if any(item != plain for item in values):
                return True
    return False


def hold_reason(dataset: Dataset, kind: str, holds: frozenset[str]) -> Held | None:
    """Why this file is held out of the release, or None. Reasons are PHI-free."""
    if "burned_in_annotation" in holds and values_of(dataset, "BurnedInAnnotation") == ["YES"]:
        return Held(HoldKind.BURNED_IN_ANNOTATION)
    if "overlay_in_pixel_data" in holds and overlay_in_pixel_data(dataset):
        return Held(HoldKind.OVERLAY_IN_PIXEL_DATA)
    if "secondary_capture" in holds:
        sop_class = str(dataset.get("SOPClassUID", ""))
        if sop_class.startswith(SECONDARY_CAPTURE_ROOT) or SCREEN_IMAGE_TYPES & set(
            values_of(dataset, "ImageType")
        ):
            return Held(HoldKind.SECONDARY_CAPTURE, "burned-in text risk")
    if "non_image_objects" in holds and kind != "image":
        sop_class = UID(str(dataset.get("SOPClassUID", "")))
        # Named only from pydicom's UID dictionary: `UID.name` of an unknown (private)
        # class is the value itself, which a reason must never quote.
        name = sop_class.name if sop_class.keyword else "unknown SOP class"
        return Held(HoldKind.NON_IMAGE_OBJECT, name)
    return None
