"""Attribute values of an output dataset, flattened for the attribute-value inventory."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from anon_pipeline.engine.dicom.dicomfile import PIXEL_KEYWORDS
from anon_pipeline.engine.rules.rule_set import cached_keyword
from anon_pipeline.engine.rules.transform import TEXT_VRS, format_tag

NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
MAX_VALUE_LENGTH = 1024


def attribute_values(
    dataset: Dataset, tag_prefix: str = "", keyword_prefix: str = ""
) -> Iterator[tuple[str, str, str, str | None]]:
    """(tag path, keyword path, VR, value as text) for every element at every depth.

    Binary values (pixel data, OB/OW/UN) appear with value None: they are counted,
    not listed, since the QC of unique values is about readable content.
    """
    for element in dataset:
        tag = format_tag(element.tag)
        keyword = cached_keyword(element.tag) or tag
        tag_path, keyword_path = tag_prefix + tag, keyword_prefix + keyword
        if element.VR == "SQ":
            yield tag_path, keyword_path, "SQ", None
            for item in element.value:
                yield from attribute_values(item, tag_path + ">", keyword_path + ">")
        else:
            yield tag_path, keyword_path, element.VR, value_text(element)


def value_text(element: DataElement) -> str | None:
    """An element's value as inventory text; None for pixel data and binary VRs."""
    if cached_keyword(element.tag) in PIXEL_KEYWORDS or (
        element.VR not in TEXT_VRS and element.VR not in NUMBER_VRS
    ):
        return None
    value = element.value
    if value is None:
        return ""
    # Multi-valued elements are joined the DICOM way. A single PersonName iterates over
    # its characters, so only pydicom's multi-value containers count as several values;
    # every item is then the text it was read from (numbers as written).
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)[:MAX_VALUE_LENGTH]
    return str(value)[:MAX_VALUE_LENGTH]
